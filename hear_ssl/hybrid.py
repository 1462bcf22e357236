"""HEAR module: hybrid BYOL-S/CvT (serab-byols CvT, BYOL + handcrafted-feature loss).

    model = hear_ssl.hybrid.load_model("cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-...-rs42.pth")
    embeddings = hear_ssl.hybrid.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

`load_model()` with no path uses the bundled default weights.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings

MODEL_NAMES = ("byol-s-cvt",)
DEFAULT_MODEL = "byol-s-cvt"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_model`; `model_name` is one of MODEL_NAMES (inferred from the file if omitted)."""
    return hear.load_model(model_file_path, model_name, candidates=MODEL_NAMES, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
