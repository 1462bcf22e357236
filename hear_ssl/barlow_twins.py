"""HEAR module: Audio Barlow Twins (AudioNTT2022 d=3072).

    model = hear_ssl.barlow_twins.load_model("hf://owner/repo/audio-barlow-twins.safetensors")
    embeddings = hear_ssl.barlow_twins.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

`load_model()` with no path uses the bundled default weights.
"""

from . import hear
from .hear import get_scene_embeddings, get_timestamp_embeddings

MODEL_NAMES = ("audio-barlow-twins",)
DEFAULT_MODEL = "audio-barlow-twins"


def load_model(model_file_path="", model_name=None, **options):
    """See `hear_ssl.hear.load_model`; `model_name` is one of MODEL_NAMES (inferred from the file if omitted)."""
    return hear.load_model(model_file_path, model_name, candidates=MODEL_NAMES, default=DEFAULT_MODEL, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
