"""HEAR module: BYOL-S (serab-byols, AudioNTT2020 d=2048, win 400, per-input normalisation).

    model = hear_ssl.byol_s.load_model("default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth")
    embeddings = hear_ssl.byol_s.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

Its default weights are `byol-s.serab`, which users download from the serab-byols repository; no BYOL-S
weights are bundled, so `load_model()` with no path says where to get the file.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .registry import available_models

FAMILY = "byol_s"
MODEL_NAMES = tuple(available_models(FAMILY))  # the registry architectures whose family is this module
DEFAULT_MODEL = "byol-s"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_family_model`; `model_name` is one of MODEL_NAMES, optionally `.tag`ged."""
    return hear.load_family_model(model_file_path, model_name, family=FAMILY, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
