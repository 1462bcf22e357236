"""Audio loading and the log-mel front-end, in pure torch.

Every model in hear-ssl sees audio through this one module, in training and at inference: 16 kHz mono
float32 waveforms become HTK-mel power spectrograms with `log(x + eps)` compression, numerically matching
the torchaudio `MelSpectrogram` used by the official BYOL-A / BYOL-S implementations (without needing
torchaudio, whose wheels often do not import beside current torch).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import FrontEndConfig

SAMPLE_RATE = 16000
# The floor inside the log; the official implementations use float32 machine epsilon.
LOG_EPS = float(torch.finfo(torch.float32).eps)


def hz_to_mel(freq):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular HTK mel filters without area normalisation, shape (n_fft // 2 + 1, n_mels).

    Filters are built in float64 and rounded once to float32, so the same bank results on every machine.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (fft_freqs[:, None] - lower) / (centre - lower)
    falling = (upper - fft_freqs[:, None]) / (upper - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    return torch.from_numpy(bank.astype(np.float32))


def min_samples(config: FrontEndConfig) -> int:
    """Shortest waveform the centred reflect-padded STFT accepts."""
    return config.n_fft // 2 + 1


class LogMelSpectrogram(nn.Module):
    """The front-end as a module: window and filterbank are buffers, so `.to(device)` moves them."""

    def __init__(self, config: FrontEndConfig = FrontEndConfig()):
        super().__init__()
        if config.win_length > config.n_fft:
            raise ValueError(f"win_length ({config.win_length}) must not exceed n_fft ({config.n_fft})")
        self.config = config
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        bank = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max)
        self.register_buffer("filterbank", bank.clone(), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return max(num_samples, min_samples(self.config)) // self.config.hop_length + 1

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, max(N, min) + n_fft): the centred-STFT padding (reflect), done once per clip."""
        short = min_samples(self.config) - audio.shape[-1]
        if short > 0:
            audio = nn.functional.pad(audio, (0, short))
        half = self.config.n_fft // 2
        return nn.functional.pad(audio.unsqueeze(1), (half, half), mode="reflect").squeeze(1)

    def frames(self, padded: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Log-mel frames first..stop-1 of a `pad`-ed batch: (B, n_mels, stop - first).

        Lets long clips be processed in pieces that are exactly equal to slices of the whole spectrogram.
        """
        hop = self.config.hop_length
        piece = padded[:, first * hop : (stop - 1) * hop + self.config.n_fft]
        spec = torch.stft(
            piece,
            n_fft=self.config.n_fft,
            hop_length=hop,
            win_length=self.config.win_length,
            window=self.window,
            center=False,
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (B, n_fft // 2 + 1, T)
        mel = torch.matmul(power.transpose(1, 2), self.filterbank).transpose(1, 2)
        return torch.log(mel + LOG_EPS)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        squeeze = audio.dim() == 1
        if squeeze:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
        logmel = self.frames(self.pad(audio.float()), 0, self.num_frames(audio.shape[-1]))
        return logmel.squeeze(0) if squeeze else logmel


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels; accepts (N,), (N, C) as soundfile reads, or (C, N) with few channels."""
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be 1-D or 2-D (samples x channels), got shape {audio.shape}")
    channel_axis = 1 if audio.shape[1] <= audio.shape[0] else 0
    return audio.mean(axis=channel_axis)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float waveform: soxr at very high quality when installed, else scipy's polyphase filter.

    The one resampler of hear-ssl: `load_audio` and the harness's task resampling both call it.

    Parameters
    ----------
    audio : numpy.ndarray
        `(N,)` float samples.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    numpy.ndarray
        `(round(N * target_sr / orig_sr),)` float32; exactly that length (the two back-ends differ by a sample
        at the end), so a HEAR clip keeps `sample_duration * rate` samples.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr} Hz")
    audio = audio.astype(np.float32, copy=False)
    if orig_sr == target_sr:
        return audio
    try:
        import soxr
    except ImportError:
        from scipy.signal import resample_poly

        g = math.gcd(int(orig_sr), int(target_sr))
        out = resample_poly(audio, target_sr // g, orig_sr // g)
    else:
        out = soxr.resample(audio, orig_sr, target_sr, quality="VHQ")
    n = round(len(audio) * target_sr / orig_sr)
    out = out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))
    return out.astype(np.float32, copy=False)


def as_float32(audio: np.ndarray) -> np.ndarray:
    """Integer PCM is scaled to [-1, 1); floats are cast."""
    if np.issubdtype(audio.dtype, np.integer):
        return (audio / float(np.iinfo(audio.dtype).max + 1)).astype(np.float32)
    return audio.astype(np.float32, copy=False)


def load_audio(source, sample_rate: int | None = None, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read a file (or take an array) and return a mono float32 waveform at ``target_sr``.

    Parameters
    ----------
    source : str, Path or ndarray
        A sound file soundfile can read, or samples (N,) / (N, C) / (C, N).
    sample_rate : int, optional
        Rate of ``source`` when it is an array (required then); ignored for files, which carry their own.
    """
    if isinstance(source, (str, Path)):
        import soundfile

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
        try:
            audio, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except Exception as err:  # soundfile raises its own LibsndfileError / RuntimeError
            raise ValueError(f"cannot decode audio file {path}: {err}") from err
        audio = audio.mean(axis=1)  # soundfile always gives (frames, channels)
    else:
        if sample_rate is None:
            raise ValueError("sample_rate is required when passing an array to load_audio")
        audio = as_float32(np.asarray(source))
    audio = to_mono(audio)
    if audio.size == 0:
        raise ValueError(f"audio is empty: {source if isinstance(source, (str, Path)) else 'array'}")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or Inf samples; clean or clip them before embedding")
    audio = resample(audio, int(sample_rate), target_sr)
    if audio.size == 0:
        raise ValueError(f"audio is too short to resample from {sample_rate} Hz to {target_sr} Hz")
    return audio
