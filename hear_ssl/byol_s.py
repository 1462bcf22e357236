"""HEAR module: BYOL-S (serab-byols, AudioNTT2020 d=2048, per-input normalisation).

    model = hear_ssl.byol_s.load_model("default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth")
    embeddings = hear_ssl.byol_s.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

`load_model()` with no path uses the bundled default weights.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings

MODEL_NAMES = ("byol-s",)
DEFAULT_MODEL = "byol-s"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_model`; `model_name` is one of MODEL_NAMES (inferred from the file if omitted)."""
    return hear.load_model(model_file_path, model_name, candidates=MODEL_NAMES, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
