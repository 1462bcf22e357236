"""Centred STFT -> HTK mel filterbank (no compression), computable piece by piece for long clips.

The zoo front-ends (ATST's dB mel, the tempo TCN's log mel) differ only in sample rate, sizes, the
spectrogram power and what follows the filterbank, so they share this piece. It reuses the filterbank of
`hear_ssl.audio` (HTK, no area normalisation, the torchaudio `melscale_fbanks` defaults) and, like that
module's `LogMelSpectrogram`, pads each clip once (reflect) so that any range of frames is exactly the
corresponding slice of the whole-clip spectrogram.
"""

from __future__ import annotations

import torch
from torch import nn

from ..audio import mel_filterbank


class MelFrames(nn.Module):
    """torchaudio `Spectrogram(center=True, pad_mode="reflect", periodic Hann)` + `MelScale(norm=None, htk)`.

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels, f_min, f_max
        As in torchaudio; the window length is `n_fft`.
    power : 1.0 (magnitude) or 2.0 (power) spectrogram.
    """

    def __init__(
        self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, f_min: float, f_max: float, power: float
    ):
        super().__init__()
        if power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 (magnitude) or 2.0 (power), got {power}")
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels, self.power = (
            sample_rate,
            n_fft,
            hop_length,
            n_mels,
            power,
        )
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer(
            "filterbank", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).clone(), persistent=False
        )

    @property
    def min_samples(self) -> int:
        """Shortest clip reflect padding accepts; shorter clips are zero-padded to it."""
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        return max(num_samples, self.min_samples) // self.hop_length + 1

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, max(N, min_samples) + n_fft): zero-pad very short clips, then the centring reflect pad."""
        short = self.min_samples - audio.shape[-1]
        if short > 0:
            audio = nn.functional.pad(audio, (0, short))
        half = self.n_fft // 2
        return nn.functional.pad(audio.float().unsqueeze(1), (half, half), mode="reflect").squeeze(1)

    def frames(self, padded: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Mel frames first..stop-1 of a `pad`-ed batch, shape (B, n_mels, stop - first), float32."""
        hop = self.hop_length
        piece = padded[:, first * hop : (stop - 1) * hop + self.n_fft]
        spec = torch.stft(
            piece, n_fft=self.n_fft, hop_length=hop, window=self.window, center=False, return_complex=True
        ).abs()
        if self.power == 2.0:
            spec = spec.square()
        return torch.matmul(spec.transpose(1, 2), self.filterbank).transpose(1, 2)
