"""The equivariant tempo TCN's front-end: 44.1-kHz magnitude spectrogram -> 81 HTK mel bands -> log(x + 1e-7).

Facts from Quint-e/equivariant-self-supervision-tempo (`sst/models/frontend.py:107-141` FrontEndNoAug with the
pretrained config `TCN-pretrained-..._config.yaml:44-51`): torchaudio `Spectrogram(n_fft=2048, hop_length=441,
hann, power=None)` (centred, reflect), `.abs()`, `MelScale(44100, n_stft=1025, f_min=30, f_max=17000,
n_mels=81)` (HTK, norm None), `log(x + 10e-8)`. No other normalisation: the network starts with a BatchNorm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .mel import MelFrames

SAMPLE_RATE = 44100
N_FFT = 2048
HOP_LENGTH = 441
N_MELS = 81
F_MIN, F_MAX = 30.0, 17000.0
LOG_EPS = 10e-8  # = 1e-7, written as in the official code
SILENCE = math.log(LOG_EPS)  # the log mel of digital silence


class TempoLogMel(nn.Module):
    """(B, N) 44.1-kHz waveforms -> (B, 1, 81, N // 441 + 1) log mel; `pad` + `frames` give any frame range."""

    def __init__(self):
        super().__init__()
        self.mel = MelFrames(SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, F_MIN, F_MAX, power=1.0)

    def num_frames(self, num_samples: int) -> int:
        return self.mel.num_frames(num_samples)

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        return self.mel.pad(audio)

    def frames(self, padded: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Log-mel frames first..stop-1 of a `pad`-ed batch: (B, 1, 81, stop - first)."""
        return torch.log(self.mel.frames(padded, first, stop) + LOG_EPS).unsqueeze(1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() != 2:
            raise ValueError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
        return self.frames(self.pad(audio), 0, self.num_frames(audio.shape[-1]))


@dataclass(frozen=True)
class TempoLogMelCacheConfig:
    """The TCN's log mel as a shard-cache front-end (`hear_ssl.data.cache.build_logmel_cache`).

    The cache decodes the corpus at 44.1 kHz and stores exactly what `TempoLogMel` gives the TCN at inference,
    (81, frames) per file, so training crops are the TCN's input as they are. The settings are this module's
    constants; the fields are what the cache manifest records (`silence` pads clips shorter than a crop).
    """

    kind: str = "tempo_logmel"
    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX
    silence: float = SILENCE

    def to_dict(self) -> dict:
        return asdict(self)


TEMPO_LOGMEL_CACHE = TempoLogMelCacheConfig()
