"""HEAR module: hybrid BYOL-S/CvT (serab-byols CvT, BYOL + handcrafted-feature loss).

    model = hear_ssl.hybrid.load_model("cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-...-rs42.pth")
    embeddings = hear_ssl.hybrid.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

This module ships no bundled default (hear-ssl's hybrid weights failed the shipping rule of
docs/pretraining-defaults.md): `load_model()` with no path says how to pass a checkpoint; the serab-byols
checkpoint is `byol-s-cvt.serab`.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .registry import available_models

FAMILY = "hybrid"
MODEL_NAMES = tuple(available_models(FAMILY))  # the registry architectures whose family is this module
DEFAULT_MODEL = "byol-s-cvt"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_family_model`; `model_name` is one of MODEL_NAMES, optionally `.tag`ged."""
    return hear.load_family_model(model_file_path, model_name, family=FAMILY, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
