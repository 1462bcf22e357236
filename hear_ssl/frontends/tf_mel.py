"""DECAR front-end: the TensorFlow log-mel DECAR's upstream model was trained on, in pure torch.

`data_prep/data_prep.py` (DECAR @ a71bbfd) computes, per clip:
`tf.math.l2_normalize(wave, epsilon=1e-9)` -> `tf.signal.stft(frame_length=400, frame_step=160,
fft_length=1024)` (periodic Hann of 400 samples, frames start at sample 0, no centring or end padding) ->
magnitude -> `tf.signal.linear_to_mel_weight_matrix(64, 513, 16000, 60, 7800)` -> clip to [1e-5, 1e8] -> ln.
The layout is time-first, (B, 1, T, 64), with T = 1 + (N - 400) // 160. DECAR's `upstream/utils.py` and
downstream copies of this function omit the L2 normalisation; the training features have it, so we apply it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
FRAME_LENGTH = 400
FRAME_STEP = 160
FFT_LENGTH = 1024
N_MELS = 64
F_MIN, F_MAX = 60.0, 7800.0
L2_EPS = 1e-9
MEL_CLIP = (1e-5, 1e8)

# TensorFlow's mel scale (HTK constants with the natural log).
_MEL_Q, _MEL_BREAK_HZ = 1127.0, 700.0


def tf_hz_to_mel(freq) -> np.ndarray:
    return _MEL_Q * np.log1p(np.asarray(freq, dtype=np.float64) / _MEL_BREAK_HZ)


@lru_cache(maxsize=8)
def tf_mel_weight_matrix(
    num_mel_bins: int, num_spectrogram_bins: int, sample_rate: int, lower_hz: float, upper_hz: float
) -> torch.Tensor:
    """`tf.signal.linear_to_mel_weight_matrix`: (num_spectrogram_bins, num_mel_bins).

    Triangles are evaluated in the mel domain (not in Hz, unlike librosa/torchaudio), without area
    normalisation, and the DC bin gets zero weight.
    """
    bin_mels = tf_hz_to_mel(np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:])[:, None]
    edges = np.linspace(tf_hz_to_mel(lower_hz), tf_hz_to_mel(upper_hz), num_mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mels - lower) / (centre - lower)
    falling = (upper - bin_mels) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights = np.concatenate([np.zeros((1, num_mel_bins)), weights])
    return torch.from_numpy(weights.astype(np.float32))


def num_frames(num_samples: int) -> int:
    """STFT frames of a clip of `num_samples` (at least FRAME_LENGTH samples, see `TFLogMel.pad`)."""
    return 1 + (max(num_samples, FRAME_LENGTH) - FRAME_LENGTH) // FRAME_STEP


class TFLogMel(nn.Module):
    """(B, N) 16-kHz waveforms -> (B, 1, T, 64) DECAR log-mel, T = 1 + (N - 400) // 160.

    Clips shorter than one 400-sample frame are zero-padded to one frame (TF would return no frame).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(FRAME_LENGTH, periodic=True), persistent=False)
        bank = tf_mel_weight_matrix(N_MELS, FFT_LENGTH // 2 + 1, SAMPLE_RATE, F_MIN, F_MAX)
        self.register_buffer("filterbank", bank.clone(), persistent=False)

    @staticmethod
    def l2_normalise(audio: torch.Tensor) -> torch.Tensor:
        """Each clip divided by its L2 norm (`tf.math.l2_normalize`, epsilon on the squared norm)."""
        return audio * torch.rsqrt(audio.square().sum(dim=-1, keepdim=True).clamp_min(L2_EPS))

    @staticmethod
    def pad(audio: torch.Tensor) -> torch.Tensor:
        short = FRAME_LENGTH - audio.shape[-1]
        return nn.functional.pad(audio, (0, short)) if short > 0 else audio

    def frames(self, normalised: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Log-mel frames first..stop-1 of an L2-normalised, `pad`-ed batch: (B, 1, stop - first, 64)."""
        piece = normalised[:, first * FRAME_STEP : (stop - 1) * FRAME_STEP + FRAME_LENGTH]
        windowed = piece.unfold(-1, FRAME_LENGTH, FRAME_STEP) * self.window
        magnitude = torch.fft.rfft(windowed, n=FFT_LENGTH).abs()  # (B, T, 513)
        mel = torch.matmul(magnitude, self.filterbank)
        return torch.log(mel.clamp(*MEL_CLIP)).unsqueeze(1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() != 2:
            raise ValueError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
        normalised = self.pad(self.l2_normalise(audio.float()))
        return self.frames(normalised, 0, num_frames(audio.shape[-1]))
