"""Weights files for tests, written the way users get them: through the export path (`write_weights`)."""

import torch

from hear_ssl.config import EncoderConfig
from hear_ssl.models import build_encoder
from hear_ssl.pretrain.export import write_weights


def write_random_weights(path, encoder: EncoderConfig, seed: int = 0, dtype: str = "float32", **configs):
    """A randomly initialised `encoder` saved as hear-ssl safetensors at `path`; returns the encoder.

    `configs` are further embedded config parts (frontend=, norm=, framing= dataclasses, name= string).
    """
    torch.manual_seed(seed)
    model = build_encoder(encoder)
    parts = {key: value if isinstance(value, str) else value.to_dict() for key, value in configs.items()}
    write_weights(path, model.state_dict(), {"encoder": encoder.to_dict(), **parts}, dtype=dtype)
    return model
