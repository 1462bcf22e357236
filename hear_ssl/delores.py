"""HEAR module: DeLoRes-S and DeLoRes-M (LAPE, Ghosh et al.), AudioNTT2020 encoders with 2048-d embeddings.

    model = hear_ssl.delores.load_model("delores_s_upstream.ckpt")  # variant read from the checkpoint
    scene = hear_ssl.delores.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

LAPE publishes no weights: pass a checkpoint you trained, a LAPE upstream Lightning `.ckpt` (`state_dict` with
`encoder.encoder.*` for DeLoRes-S, `encoder_q.encoder.*` for DeLoRes-M) or a bare encoder state dict. Framing,
pooling and normalisation: `hear_ssl.embedders.delores`.
"""

from __future__ import annotations

import os

from .delores_config import ENCODER_PREFIXES
from .embedders.checkpoint import read_training_checkpoint, resolve_model_file
from .embedders.delores import DeLoResEmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .models.delores import detect_variant

MODEL_NAMES = tuple(ENCODER_PREFIXES)  # ("delores-s", "delores-m")
EXPECTED_FORMAT = (
    "a LAPE upstream Lightning checkpoint (state_dict with encoder.encoder.* or encoder_q.encoder.*) or a bare "
    "AudioNTT2020Task6 state dict (features_1..3.*, fc.*)"
)


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options) -> DeLoResEmbedder:
    """A DeLoRes HEAR model holding the checkpoint's encoder.

    Parameters
    ----------
    model_file_path : a LAPE checkpoint (local path or `hf://owner/repo/file[@revision]`); required.
    model_name : "delores-s" or "delores-m"; read from the checkpoint's keys when omitted.
    **options : `precision` ("fp32", "bf16", "fp16"), `chunk_seconds`, `batch_seconds`.
    """
    if model_name is not None and model_name not in MODEL_NAMES:
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.delores; choose one of {MODEL_NAMES}")
    state = read_training_checkpoint(resolve_model_file(model_file_path, "DeLoRes (LAPE)", EXPECTED_FORMAT))
    model = DeLoResEmbedder(model_name or detect_variant(state), **options)
    return model.load_lape_state_dict(state).eval()


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES"]
