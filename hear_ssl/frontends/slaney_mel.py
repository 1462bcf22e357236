"""DeLoRes (LAPE) front-end: librosa-style log-mel with the Slaney mel scale and Slaney area normalisation.

LAPE (`src/utils/utils.py`, librosa 0.8.1, numpy 1.20) computes `librosa.stft(n_fft=1024, hop_length=160)`
(periodic Hann 1024, centred, reflect padding), `|X|^2 + eps`, `librosa.filters.mel(16000, 1024, 64, 60, 7800)`
(Slaney scale, Slaney norm) and `log(mel + float32 eps)`. The STFT and log are the ones of
`hear_ssl.audio.LogMelSpectrogram`; only the filterbank differs. The `+ float64 eps` (2.2e-16) LAPE adds to the
power before the mel matrix lies far below the float32 eps (1.2e-7) added after it, so it is left out.

Normalisation is not part of the front-end. LAPE trains with running dataset statistics (`RunningNorm`,
`src/augmentations`), which its checkpoints do not store; hear-ssl standardises each clip by its own mean and
(unbiased) std, as the reference fixture does (`per_clip_standardise`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..audio import LogMelSpectrogram
from ..config import FrontEndConfig

DELORES_FRONTEND = FrontEndConfig(sample_rate=16000, n_fft=1024, win_length=1024, hop_length=160, n_mels=64)

# Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_slaney_mel(freq) -> np.ndarray:
    freq = np.asarray(freq, dtype=np.float64)
    linear = freq / _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_MEL + np.log(np.maximum(freq, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(freq >= _BREAK_HZ, logarithmic, linear)


def slaney_mel_to_hz(mel) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_HZ * np.exp(_LOG_STEP * (mel - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, logarithmic, linear)


@lru_cache(maxsize=8)
def slaney_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Slaney-scale triangles, each scaled to unit area (`norm="slaney"`), shape (n_fft // 2 + 1, n_mels).

    Built in float64 and rounded once to float32, as librosa returns it.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = slaney_mel_to_hz(np.linspace(hz_to_slaney_mel(f_min), hz_to_slaney_mel(f_max), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_freqs[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(bank.T.astype(np.float32))


class SlaneyLogMel(LogMelSpectrogram):
    """(B, N) 16-kHz waveforms -> (B, 64, N // 160 + 1) natural-log Slaney mel power, LAPE's features."""

    def __init__(self, config: FrontEndConfig = DELORES_FRONTEND):
        super().__init__(config)
        bank = slaney_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max)
        self.filterbank = bank.clone()


def per_clip_standardise(logmel: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
    """(B, M, T) -> (B, 1, M, T) standardised by each clip's own mean and unbiased std (or the ones given)."""
    if mean is None:
        mean = logmel.mean(dim=(1, 2), keepdim=True)
    if std is None:
        std = logmel.std(dim=(1, 2), keepdim=True)
    return ((logmel - mean) / std.clamp_min(1e-8)).unsqueeze(1)
