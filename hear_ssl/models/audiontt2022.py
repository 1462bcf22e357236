"""AudioNTT2022: the BYOL-A v2 encoder (Audio Barlow Twins uses it with d=3072).

Two conv blocks (frequency and time shrink by 4), then an MLP whose output is concatenated with its own
input, so each frame is [conv features (64 * n_mels / 4), MLP features (d - that)]. Official key layout:
`features.{0,1,4,5}.*`, `fc.{0,3}.*`.
"""

import torch
from torch import nn

from ..config import EncoderConfig
from .audiontt2020 import CONV_CHANNELS, conv_stack
from .pooling import flatten_frequency, mean_max_pool

CONV_BLOCKS = 2


class AudioNTT2022(nn.Module):
    time_stride = 2**CONV_BLOCKS

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.n_mels % self.time_stride:
            raise ValueError(f"n_mels must be a multiple of {self.time_stride}, got {config.n_mels}")
        self.config = config
        self.embedding_size = config.d
        conv_d = CONV_CHANNELS * (config.n_mels // self.time_stride)
        if config.d <= conv_d:
            raise ValueError(f"AudioNTT2022 needs d > {conv_d} (its conv features are part of the output)")
        self.features = conv_stack(CONV_BLOCKS)
        self.fc = nn.Sequential(
            nn.Linear(conv_d, config.mlp_hidden_d),
            nn.ReLU(),
            nn.Dropout(p=0.3),
            nn.Linear(config.mlp_hidden_d, config.d - conv_d),
            nn.ReLU(),
        )

    def forward_frames(self, x):
        """(B, 1, n_mels, T) normalised log-mel -> (B, T // 4, d) frame features."""
        conv = flatten_frequency(self.features(x))
        return torch.cat([conv, self.fc(conv)], dim=-1)

    def forward(self, x):
        return mean_max_pool(self.forward_frames(x))
