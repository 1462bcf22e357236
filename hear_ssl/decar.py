"""HEAR module: DECAR (Ghosh et al., DeepCluster on EfficientNet-B0), 1280-d embeddings.

    model = hear_ssl.decar.load_model("best_loss.pth.tar")
    scene = hear_ssl.decar.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

DECAR publishes no weights: pass a checkpoint of its upstream training (`{'epoch', 'state_dict', 'optimizer'}`
with `model_efficient.module.*` keys), or a state dict with `model_efficient.*` or bare EfficientNet keys.
Framing, pooling and chunking: `hear_ssl.embedders.decar`.
"""

from __future__ import annotations

import os

from .embedders.checkpoint import read_training_checkpoint, resolve_user_weights
from .embedders.decar import DECAREmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .registry import available_models, get_architecture, get_weights

MODEL_NAMES = tuple(available_models("decar"))  # ("decar",)
DEFAULT_MODEL = "decar"


def load_model(
    model_file_path: str | os.PathLike = "", model_name: str | None = None, serab_compat: bool = False, **options
) -> DECAREmbedder:
    """A DECAR HEAR model holding the checkpoint's backbone.

    Parameters
    ----------
    model_file_path : a DECAR checkpoint (local path or `hf://owner/repo/file[@revision]`); required.
    model_name : "decar" (or "decar.user", its only weights tag) or None.
    **options : `precision` ("fp32", "bf16", "fp16"), `chunk_seconds`, `batch_seconds`.
    """
    if serab_compat:
        raise ValueError("serab_compat applies to the per-input-normalised BYOL-S models, not to DECAR")
    if model_name is not None and get_architecture(model_name).family != "decar":
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.decar; choose one of {MODEL_NAMES}")
    entry = get_weights(model_name or DEFAULT_MODEL)
    state = read_training_checkpoint(resolve_user_weights(model_file_path, entry))
    return DECAREmbedder(**options).load_decar_state_dict(state).eval()


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
