"""HEAR module: BYOL-A (v1 AudioNTT2020 d=512/1024/2048, v2 AudioNTT2022 d=2048).

    model = hear_ssl.byol_a.load_model("AudioNTT2020-BYOLA-64x96d512.pth")  # byol-a-512 inferred from the file
    embeddings = hear_ssl.byol_a.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

`load_model()` with no path loads `byol-a-2048.vibcreg` (bundled): the only candidate of the equal-budget
comparison that beat its random-init twin and the log-mel baseline on every shared task (docs/pretraining-
defaults.md); the earlier BYOL default failed that rule and was removed. The official NTT weights
(`byol-a-*.official`) cannot be redistributed: download them and pass the file.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .registry import available_models

FAMILY = "byol_a"
MODEL_NAMES = tuple(available_models(FAMILY))  # the registry architectures whose family is this module
DEFAULT_MODEL = "byol-a-2048"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_family_model`; `model_name` is one of MODEL_NAMES, optionally `.tag`ged."""
    return hear.load_family_model(model_file_path, model_name, family=FAMILY, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
