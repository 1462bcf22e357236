"""HEAR module: DeLoRes-S and DeLoRes-M (LAPE, Ghosh et al.), AudioNTT2020 encoders with 2048-d embeddings.

    model = hear_ssl.delores.load_model("delores_s_upstream.ckpt")  # variant read from the checkpoint
    scene = hear_ssl.delores.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

LAPE publishes no weights: pass a checkpoint you trained, a LAPE upstream Lightning `.ckpt` (`state_dict` with
`encoder.encoder.*` for DeLoRes-S, `encoder_q.encoder.*` for DeLoRes-M) or a bare encoder state dict. Framing,
pooling and normalisation: `hear_ssl.embedders.delores`.
"""

from __future__ import annotations

import os

from .embedders.checkpoint import read_training_checkpoint, resolve_user_weights
from .embedders.delores import DeLoResEmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .models.delores import detect_variant
from .registry import available_models, get_architecture, get_weights

MODEL_NAMES = tuple(available_models("delores"))  # ("delores-s", "delores-m")
DEFAULT_MODEL = "delores-s"


def load_model(
    model_file_path: str | os.PathLike = "", model_name: str | None = None, serab_compat: bool = False, **options
) -> DeLoResEmbedder:
    """A DeLoRes HEAR model holding the checkpoint's encoder.

    Parameters
    ----------
    model_file_path : a LAPE checkpoint (local path or `hf://owner/repo/file[@revision]`); required.
    model_name : "delores-s" or "delores-m" (optionally with its only tag, ".user"); read from the checkpoint's
        keys when omitted.
    **options : `precision` ("fp32", "bf16", "fp16"), `chunk_seconds`, `batch_seconds`.
    """
    if serab_compat:
        raise ValueError("serab_compat applies to the per-input-normalised BYOL-S models, not to DeLoRes")
    if model_name is not None and get_architecture(model_name).family != "delores":
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.delores; choose one of {MODEL_NAMES}")
    entry = get_weights(model_name or DEFAULT_MODEL)
    state = read_training_checkpoint(resolve_user_weights(model_file_path, entry))
    model = DeLoResEmbedder(entry.architecture if model_name else detect_variant(state), **options)
    return model.load_lape_state_dict(state).eval()


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
