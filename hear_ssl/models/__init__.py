"""Encoders: one class per architecture, variants come from `EncoderConfig`."""

from ..config import EncoderConfig
from .audiontt2020 import AudioNTT2020
from .audiontt2022 import AudioNTT2022
from .cvt import CvT
from .pooling import mean_max_pool

ARCHITECTURES = {"audiontt2020": AudioNTT2020, "audiontt2022": AudioNTT2022, "cvt": CvT}


def build_encoder(config: EncoderConfig):
    """A randomly initialised encoder for `config` (load weights with `hear_ssl.weights`)."""
    return ARCHITECTURES[config.arch](config)


__all__ = ["ARCHITECTURES", "AudioNTT2020", "AudioNTT2022", "CvT", "build_encoder", "mean_max_pool"]
