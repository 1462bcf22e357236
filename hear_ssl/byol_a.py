"""HEAR module: BYOL-A (v1 AudioNTT2020 d=512/1024/2048, v2 AudioNTT2022 d=2048).

    model = hear_ssl.byol_a.load_model("AudioNTT2020-BYOLA-64x96d512.pth")  # d=512 inferred from the file
    embeddings = hear_ssl.byol_a.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

`load_model()` with no path uses the bundled default weights.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings

MODEL_NAMES = ("byol-a-2048", "byol-a-1024", "byol-a-512", "byol-a2-2048")
DEFAULT_MODEL = "byol-a-2048"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_model`; `model_name` is one of MODEL_NAMES (inferred from the file if omitted)."""
    return hear.load_model(model_file_path, model_name, candidates=MODEL_NAMES, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
