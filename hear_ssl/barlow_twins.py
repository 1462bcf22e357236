"""HEAR module: Audio Barlow Twins (AudioNTT2022; the paper's d=3072 and hear-ssl's d=2048).

    model = hear_ssl.barlow_twins.load_model("hf://owner/repo/audio-barlow-twins.safetensors")
    embeddings = hear_ssl.barlow_twins.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

This module ships no bundled default (hear-ssl's Barlow Twins weights failed the shipping rule of
docs/pretraining-defaults.md): `load_model()` with no path says how to pass a checkpoint. The
authors' d=3072 model is `audio-barlow-twins`.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .registry import available_models

FAMILY = "barlow_twins"
MODEL_NAMES = tuple(available_models(FAMILY))  # the registry architectures whose family is this module
DEFAULT_MODEL = "audio-barlow-twins-2048"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_family_model`; `model_name` is one of MODEL_NAMES, optionally `.tag`ged."""
    return hear.load_family_model(model_file_path, model_name, family=FAMILY, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
