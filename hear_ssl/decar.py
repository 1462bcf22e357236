"""HEAR module: DECAR (Ghosh et al., DeepCluster on EfficientNet-B0), 1280-d embeddings.

    model = hear_ssl.decar.load_model("best_loss.pth.tar")
    scene = hear_ssl.decar.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

DECAR publishes no weights: pass a checkpoint of its upstream training (`{'epoch', 'state_dict', 'optimizer'}`
with `model_efficient.module.*` keys), or a state dict with `model_efficient.*` or bare EfficientNet keys.
Framing, pooling and chunking: `hear_ssl.embedders.decar`.
"""

from __future__ import annotations

import os

from .embedders.checkpoint import read_training_checkpoint, resolve_model_file
from .embedders.decar import DECAREmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings

MODEL_NAMES = ("decar",)
EXPECTED_FORMAT = (
    "a DECAR upstream checkpoint ({'epoch', 'state_dict', 'optimizer'}, keys model_efficient.module.*) or an "
    "EfficientNet-B0 (1 input channel) state dict"
)


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options) -> DECAREmbedder:
    """A DECAR HEAR model holding the checkpoint's backbone.

    Parameters
    ----------
    model_file_path : a DECAR checkpoint (local path or `hf://owner/repo/file[@revision]`); required.
    model_name : "decar" (the only model here) or None.
    **options : `precision` ("fp32", "bf16", "fp16"), `chunk_seconds`, `batch_seconds`.
    """
    if model_name is not None and model_name not in MODEL_NAMES:
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.decar; choose one of {MODEL_NAMES}")
    state = read_training_checkpoint(resolve_model_file(model_file_path, "DECAR", EXPECTED_FORMAT))
    return DECAREmbedder(**options).load_decar_state_dict(state).eval()


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES"]
