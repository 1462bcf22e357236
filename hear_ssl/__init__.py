"""hear-ssl: self-supervised audio embeddings behind the HEAR API.

import hear_ssl.byol_a as byol_a
model = byol_a.load_model("AudioNTT2020-BYOLA-64x96d512.pth")
scene = byol_a.get_scene_embeddings(audio, model)            # (n_sounds, 512)
frames, timestamps = byol_a.get_timestamp_embeddings(audio, model)
"""

from .hear import get_scene_embeddings, get_timestamp_embeddings, load_model
from .registry import available_models, available_weights, get_architecture, get_spec, get_weights
from .version import __version__

__all__ = [
    "__version__",
    "available_models",
    "available_weights",
    "get_architecture",
    "get_scene_embeddings",
    "get_spec",
    "get_timestamp_embeddings",
    "get_weights",
    "load_model",
]
