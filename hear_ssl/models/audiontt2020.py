"""AudioNTT2020: the BYOL-A v1 encoder (also BYOL-S), state-dict compatible with the official weights.

Three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool) shrink frequency and time by 8, then a
two-layer MLP maps each time step's (frequency x channel) features to `d`. Official key layout:
`features.{0,1,4,5,8,9}.*`, `fc.{0,3}.*`.
"""

from torch import nn

from ..config import EncoderConfig
from .pooling import flatten_frequency, mean_max_pool

CONV_CHANNELS = 64
CONV_BLOCKS = 3


def conv_stack(num_blocks: int) -> nn.Sequential:
    """`num_blocks` x (3x3 conv, batch norm, ReLU, 2x2 max-pool), 64 channels: the official `features`."""
    layers = []
    for block in range(num_blocks):
        layers += [
            nn.Conv2d(1 if block == 0 else CONV_CHANNELS, CONV_CHANNELS, 3, stride=1, padding=1),
            nn.BatchNorm2d(CONV_CHANNELS),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
        ]
    return nn.Sequential(*layers)


class AudioNTT2020(nn.Module):
    # Encoder output frames are 2**CONV_BLOCKS input frames apart.
    time_stride = 2**CONV_BLOCKS

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.n_mels % self.time_stride:
            raise ValueError(f"n_mels must be a multiple of {self.time_stride}, got {config.n_mels}")
        self.config = config
        self.embedding_size = config.d
        self.features = conv_stack(CONV_BLOCKS)
        self.fc = nn.Sequential(
            nn.Linear(CONV_CHANNELS * (config.n_mels // self.time_stride), config.d),
            nn.ReLU(),
            nn.Dropout(p=0.3),
            nn.Linear(config.d, config.d),
            nn.ReLU(),
        )

    def forward_frames(self, x):
        """(B, 1, n_mels, T) normalised log-mel -> (B, T // 8, d) frame features."""
        return self.fc(flatten_frequency(self.features(x)))

    def forward(self, x):
        """(B, 1, n_mels, T) -> (B, d) clip embedding (max + mean over time)."""
        return mean_max_pool(self.forward_frames(x))
