"""The equivariant self-supervised tempo TCN (Quinton 2022, Quint-e/equivariant-self-supervision-tempo).

A small network over 81-band log-mel (44.1 kHz, 10-ms hop): three convolutions collapse the mel axis
(valid in time, so T frames give T - 4), ten dilated residual 1-D blocks (kernel 5, dilation 1 ... 512,
"same" padding), then a time average -> `tempo_block.dense` (16) -> ELU -> `output_reg`, a scalar trained
with a ratio loss under time stretching: it is proportional to tempo, not calibrated BPM.

State-dict keys are the official ones (`sst/models/tcn.py`, `TCN(num_filters=16, mode="regression",
num_dilations=10, add_proj_head=False)`), 77 in all, including the unused classification layer
`tempo_block.output`, so the published weights load key for key.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..tempo_config import TempoTCNConfig


class ResidualBlock(nn.Module):
    """Dilated conv -> ELU -> 1x1 conv; the output adds a 1x1-projected input (official `ResidualBlock`)."""

    def __init__(self, channels_in: int, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        same = (kernel_size - 1) * dilation // 2
        self.conv = nn.Conv1d(channels_in, channels, kernel_size, dilation=dilation, padding=same)
        self.conv1x1 = nn.Conv1d(channels, channels, 1)
        self.conv1x1_res = nn.Conv1d(channels_in, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1_res(x) + self.conv1x1(F.elu(self.conv(x)))


class TCNBlock(nn.Module):
    def __init__(self, config: TempoTCNConfig):
        super().__init__()
        self.model = nn.ModuleDict(
            {
                f"TCNBlock{i}": ResidualBlock(config.num_filters, config.num_filters, config.kernel_size, 2**i)
                for i in range(config.num_dilations)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.model.values():
            x = block(x)
        return F.elu(x)


class TempoBlock(nn.Module):
    def __init__(self, config: TempoTCNConfig):
        super().__init__()
        self.dense = nn.Linear(config.num_filters, config.dense_units)
        self.output = nn.Linear(config.dense_units, config.tempo_classes)
        self.output_reg = nn.Linear(config.dense_units, 1)


class TempoTCN(nn.Module):
    """Input (B, 1, 81, T) log mel (`hear_ssl.frontends.tempo_logmel`), T >= 5."""

    def __init__(self, config: TempoTCNConfig | None = None):
        super().__init__()
        self.config = config = config or TempoTCNConfig()
        filters = config.num_filters
        self.bn_input = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, filters, (3, 3))
        self.conv2 = nn.Conv2d(filters, filters, (3, 3))
        # Two (3, 1) max-pools shrink 81 -> 79 -> 26 -> 24 -> 8 mel rows; this conv spans the rest.
        self.conv3 = nn.Conv2d(filters, filters, (((config.n_mels - 2) // 3 - 2) // 3, 1))
        self.tcn_block = TCNBlock(config)
        self.tempo_block = TempoBlock(config)

    def conv3_features(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 81, T) -> (B, 16, 1, T - 4): the front convolutions, before conv3's ELU."""
        if logmel.dim() != 4 or logmel.shape[1] != 1 or logmel.shape[2] != self.config.n_mels:
            expected = f"(batch, 1, {self.config.n_mels}, frames)"
            raise ValueError(f"expected log mel of shape {expected}, got {tuple(logmel.shape)}")
        if logmel.shape[3] <= self.config.frames_lost:
            raise ValueError(f"the TCN needs at least {self.config.frames_lost + 1} frames, got {logmel.shape[3]}")
        x = self.bn_input(logmel)
        x = F.max_pool2d(F.elu(self.conv1(x)), (3, 1))
        x = F.max_pool2d(F.elu(self.conv2(x)), (3, 1))
        return self.conv3(x)

    def frames(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 81, T) -> (B, 16, T - 4): TCN output frames (after the final ELU); frame j is mel frame j + 2."""
        return self.tcn_block(F.elu(self.conv3_features(logmel)).squeeze(2))

    def dense(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 16, T') frames -> (B, 16): `tempo_block.dense` of their time average, before its ELU."""
        return self.tempo_block.dense(frames.mean(dim=-1))

    def tempo(self, dense: torch.Tensor) -> torch.Tensor:
        """(B, 16) dense output -> (B, 1): the regression head (proportional to tempo, not BPM)."""
        return self.tempo_block.output_reg(F.elu(dense))

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 81, T) -> (B, 1), the official `TCN.forward` in regression mode."""
        return self.tempo(self.dense(self.frames(logmel)))
