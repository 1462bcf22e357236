"""Kaldi-compatible log mel filterbank in pure torch, batched, plus BEATs' normalisation of it.

Reproduces `torchaudio.compliance.kaldi.fbank` with the settings BEATs calls it with (`beats/BEATs.py:118-131`):
16 kHz audio scaled by 2^15 (int16 range), 25-ms frames every 10 ms with snip edges (no padding: a frame
exists only where all 400 samples do), no dither, per-frame DC removal, pre-emphasis 0.97, a povey window
(Hann^0.85), a 512-point FFT, the power spectrum, 128 triangular bins on Kaldi's mel scale from 20 Hz to
Nyquist, and the natural log floored at float32 epsilon.

Every frame depends only on its own 400 samples, so a clip can be cut into frame-aligned pieces
(`frame_sample_span`) and each piece gives exactly the matching rows of the whole-clip fbank.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..beats_config import BEATS_FBANK, BEATsFbank

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
N_FFT = 512  # next power of two above FRAME_LENGTH
NUM_MEL_BINS = 128
LOW_FREQ_HZ = 20.0
PREEMPHASIS = 0.97
POVEY_EXPONENT = 0.85
WAVEFORM_SCALE = 2.0**15  # BEATs feeds float audio in [-1, 1] scaled to the int16 range Kaldi expects


def num_frames(num_samples: int) -> int:
    """Frames Kaldi's snip-edges framing gives for `num_samples` samples (0 when shorter than one frame)."""
    return 0 if num_samples < FRAME_LENGTH else 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def frame_sample_span(first_frame: int, end_frame: int) -> tuple[int, int]:
    """Sample range [start, stop) that frames first_frame .. end_frame - 1 read."""
    return first_frame * FRAME_SHIFT, (end_frame - 1) * FRAME_SHIFT + FRAME_LENGTH


def kaldi_mel_scale(freq_hz: torch.Tensor | float):
    if isinstance(freq_hz, torch.Tensor):
        return 1127.0 * torch.log(1.0 + freq_hz / 700.0)
    return 1127.0 * math.log(1.0 + freq_hz / 700.0)


def kaldi_mel_banks(
    num_bins: int = NUM_MEL_BINS,
    n_fft: int = N_FFT,
    sample_rate: int = SAMPLE_RATE,
    low_freq_hz: float = LOW_FREQ_HZ,
    high_freq_hz: float | None = None,
) -> torch.Tensor:
    """Kaldi's triangular mel filters (no VTLN warping), shape (num_bins, n_fft // 2 + 1), float32.

    The filters are triangles in mel (not Hz) between equally spaced mel points; the Nyquist column is zero,
    as in Kaldi.
    """
    high_freq_hz = sample_rate / 2 if high_freq_hz is None else high_freq_hz
    num_fft_bins = n_fft // 2
    mel_low, mel_high = kaldi_mel_scale(low_freq_hz), kaldi_mel_scale(high_freq_hz)
    mel_step = (mel_high - mel_low) / (num_bins + 1)
    index = torch.arange(num_bins).unsqueeze(1)
    left = mel_low + index * mel_step
    centre = mel_low + (index + 1.0) * mel_step
    right = mel_low + (index + 2.0) * mel_step
    bin_mel = kaldi_mel_scale((sample_rate / n_fft) * torch.arange(num_fft_bins)).unsqueeze(0)
    rising = (bin_mel - left) / (centre - left)
    falling = (right - bin_mel) / (right - centre)
    banks = torch.clamp_min(torch.minimum(rising, falling), 0.0)
    return nn.functional.pad(banks, (0, 1))


def povey_window(length: int = FRAME_LENGTH) -> torch.Tensor:
    """Kaldi's default window: a symmetric Hann window raised to 0.85, shape (length,).

    Computed in float32 as torchaudio does: a few low-energy bins (log of a near-cancelled power) are so
    ill-conditioned that a float64 window moves them by ~1e-3 away from the reference fbank.
    """
    return torch.hann_window(length, periodic=False, dtype=torch.float32).pow(POVEY_EXPONENT)


class KaldiFbank(nn.Module):
    """Waveform (B, N) in [-1, 1] at 16 kHz -> log mel fbank (B, num_frames(N), 128), Kaldi-compatible.

    Window and filters are buffers, so `.to(device)` moves them. Always computed in float32 (also under
    autocast): the log of a power spectrum needs the range.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("window", povey_window(), persistent=False)
        self.register_buffer("mel_banks", kaldi_mel_banks(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
        if waveform.shape[1] < FRAME_LENGTH:
            raise ValueError(
                f"{waveform.shape[1]} samples give no Kaldi frame; at least {FRAME_LENGTH} (25 ms) are needed"
            )
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            frames = (waveform.float() * WAVEFORM_SCALE).unfold(1, FRAME_LENGTH, FRAME_SHIFT)  # (B, T, 400)
            frames = frames - frames.mean(dim=-1, keepdim=True)
            # Pre-emphasis inside each frame; the first sample is its own predecessor (Kaldi's convention).
            previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = (frames - PREEMPHASIS * previous) * self.window
            spectrum = torch.fft.rfft(frames, n=N_FFT).abs().pow(2.0)  # zero-padded to 512 points
            energies = spectrum @ self.mel_banks.T
            return torch.log(torch.clamp_min(energies, torch.finfo(torch.float32).eps))


def normalise_beats_fbank(fbank: torch.Tensor, processing: BEATsFbank = BEATS_FBANK) -> torch.Tensor:
    """BEATs' input scaling of the Kaldi fbank: (fbank - mean) / (2 * std), its dataset statistics.

    The factor 2 on the std is BEATs' own (`BEATs.preprocess`).
    """
    return (fbank - processing.mean) / (2 * processing.std)
