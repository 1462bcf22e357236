"""HEAR model for the equivariant tempo TCN (44.1 kHz).

Timestamp embeddings are the TCN's 16-channel output frames, one per 10-ms mel frame, centred at the mel
frame they sit on (the two valid 3x3 convolutions drop two frames at each end, so frame j is at 10 (j + 2)
ms). The scene embedding is the 16-d output of `tempo_block.dense` (before its ELU) applied to the time
average of those frames: the features the authors extract (`finetune.py:260`). `tempo_estimates` gives the
regression head's output, proportional to tempo (trained with a ratio loss; it is not calibrated BPM).

Long clips: the TCN's dilated convolutions see about 41 s either side, far more than the 600,000-sample
(13.6 s, 1361-frame) excerpts it was trained on. Clips are therefore encoded in excerpts of at most 1361
mel frames, overlapping by the 4 frames the convolutions drop, so the output frames tile the clip exactly
with no gap or duplicate, and memory stays bounded. A clip up to 13.6 s is one excerpt, i.e. the official
whole-input forward. Because `dense` is linear, the scene embedding equals the frame-weighted mean of the
excerpts' dense outputs. Clips shorter than 5 mel frames (1764 samples) are zero-padded to that length.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from torch.nn import functional as F

from ..frontends.tempo_logmel import HOP_LENGTH, SAMPLE_RATE, TempoLogMel
from ..models.tempo_tcn import TempoTCN, TempoTCNConfig

EXCERPT_FRAMES = 600_000 // HOP_LENGTH + 1  # the official training excerpt, 1361 frames


class TempoEmbedder(nn.Module):
    """A HEAR model over `TempoTCN`.

    Parameters
    ----------
    precision : "fp32" or "bf16" (autocast for the network; the front-end stays fp32).
    excerpt_frames : int
        Mel frames per excerpt for long clips.
    """

    def __init__(
        self,
        config: TempoTCNConfig | None = None,
        name: str = "tempo-tcn",
        precision: str = "fp32",
        excerpt_frames: int = EXCERPT_FRAMES,
    ):
        super().__init__()
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.encoder = TempoTCN(config or TempoTCNConfig())
        if excerpt_frames <= self.encoder.config.frames_lost:
            lost = self.encoder.config.frames_lost
            raise ValueError(f"excerpt_frames must exceed {lost} (frames the convolutions drop), got {excerpt_frames}")
        self.name, self.precision, self.excerpt_frames = name, precision, excerpt_frames
        self.frontend = TempoLogMel()
        self.sample_rate = SAMPLE_RATE
        self.scene_embedding_size = self.encoder.config.dense_units
        self.timestamp_embedding_size = self.encoder.config.num_filters
        self.eval()

    @property
    def min_samples(self) -> int:
        return self.encoder.config.frames_lost * HOP_LENGTH

    @torch.no_grad()
    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, T - 4, 16) float32 TCN frames, T = max(N, 1764) // 441 + 1."""
        if audio.shape[1] < self.min_samples:
            audio = F.pad(audio, (0, self.min_samples - audio.shape[1]))
        padded = self.frontend.pad(audio)
        total = self.frontend.num_frames(audio.shape[1])
        lost = self.encoder.config.frames_lost
        step = self.excerpt_frames - lost
        pieces = []
        for first in range(0, total - lost, step):  # output frames first .. first + step - 1 (+ lost/2 offset)
            stop = min(first + self.excerpt_frames, total)
            logmel = self.frontend.frames(padded, first, stop)
            with self._autocast(audio.device):
                pieces.append(self.encoder.frames(logmel).float())
        return torch.cat(pieces, dim=-1).transpose(1, 2)

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, 16): `tempo_block.dense` of the mean TCN frame."""
        return self._dense(self.frames(audio))

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> TCN frames (B, T', 16) and their centres in ms (B, T')."""
        frames = self.frames(audio)
        offset = self.encoder.config.frames_lost // 2
        frame_ms = 1000.0 * HOP_LENGTH / SAMPLE_RATE
        centres = (torch.arange(frames.shape[1], device=audio.device) + offset) * frame_ms
        return frames, centres.float().expand(len(audio), -1).contiguous()

    @torch.no_grad()
    def tempo_estimates(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B,): the regression head's output (proportional to tempo; not calibrated BPM)."""
        return self.encoder.tempo(self._dense(self.frames(audio)))[:, 0]

    def _dense(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder.dense(frames.transpose(1, 2)).float()

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
