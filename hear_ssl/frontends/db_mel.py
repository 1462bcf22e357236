"""ATST's front-end (ATST-Clip and ATST-Frame): 64-band power mel in dB, clipped 80 dB below each clip's peak,
min-max scaled.

Facts from audiossl (`methods/atstframe/embedding.py:12-15`, `methods/atst/downstream/transform.py:11-14`,
`transforms/common.py:97-110`): torchaudio `MelSpectrogram(16000, f_min=60, f_max=7800, hop_length=160,
win_length=1024, n_fft=1024, n_mels=64)` with its defaults (periodic Hann, centred, reflect, power 2, HTK,
norm None), then `AmplitudeToDB(stype="power", top_db=80)` with the peak taken per clip, then
`MinMax(-79.6482, 50.6842)` to about [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from .mel import MelFrames

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 160
N_MELS = 64
F_MIN, F_MAX = 60.0, 7800.0
TOP_DB = 80.0
AMIN = 1e-10
# The dataset-level dB range the authors scale with.
DB_MIN, DB_MAX = -79.6482, 50.6842


class DbMelSpectrogram(nn.Module):
    """(B, N) 16-kHz waveforms -> (B, 1, 64, N // 160 + 1) scaled dB mel, each clip on its own.

    Parameters
    ----------
    chunk_frames : int
        The STFT runs at most this many frames at a time, so memory stays bounded for long clips; the result
        does not depend on it.
    """

    def __init__(self, chunk_frames: int = 6000):
        super().__init__()
        self.mel = MelFrames(SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, F_MIN, F_MAX, power=2.0)
        self.chunk_frames = chunk_frames

    def num_frames(self, num_samples: int) -> int:
        return self.mel.num_frames(num_samples)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() != 2:
            raise ValueError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
        padded = self.mel.pad(audio)
        total = self.num_frames(audio.shape[-1])
        pieces = [
            self.mel.frames(padded, first, min(first + self.chunk_frames, total)).clamp_min(AMIN).log10()
            for first in range(0, total, self.chunk_frames)
        ]
        db = 10.0 * torch.cat(pieces, dim=-1)
        # top_db: the floor follows each clip's own peak, never the batch's.
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - TOP_DB)
        return ((db - DB_MIN) / (DB_MAX - DB_MIN) * 2.0 - 1.0).unsqueeze(1)
