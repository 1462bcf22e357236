"""CvT encoder of the hybrid BYOL-S (serab-byols), state-dict compatible with its official checkpoint.

Three stages, each a strided conv embedding, a channel LayerNorm and a transformer whose attention
projections are depthwise-separable convs (keys/values on a 2x-strided grid). The output map
(B, 512, n_mels / 16, T / 16) is flattened per time step like the AudioNTT encoders. Official key
layout: `layers.{stage}.{0: conv, 1: norm, 2: transformer}...` (see the module attribute names).
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..config import EncoderConfig
from .pooling import flatten_frequency, mean_max_pool

DIM_HEAD = 64
EMBED_KERNELS = (7, 3, 3)
EMBED_STRIDES = (4, 2, 2)
PROJ_KERNEL = 3
KV_STRIDE = 2


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, H, W); note eps is added to the std, as upstream."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x):
        std = x.var(dim=1, unbiased=False, keepdim=True).sqrt()
        return (x - x.mean(dim=1, keepdim=True)) / (std + self.eps) * self.g + self.b


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class ConvFeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(dim, dim * mult, 1), nn.GELU(), nn.Dropout(0.0), nn.Conv2d(dim * mult, dim, 1), nn.Dropout(0.0)
        )

    def forward(self, x):
        return self.net(x)


class SeparableProjection(nn.Module):
    """Depthwise conv + batch norm + pointwise conv, no biases."""

    def __init__(self, dim_in: int, dim_out: int, stride: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(dim_in, dim_in, PROJ_KERNEL, padding=PROJ_KERNEL // 2, groups=dim_in, stride=stride, bias=False),
            nn.BatchNorm2d(dim_in),
            nn.Conv2d(dim_in, dim_out, 1, bias=False),
        )

    def forward(self, x):
        return self.net(x)


class ConvAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        inner = DIM_HEAD * heads
        self.to_q = SeparableProjection(dim, inner, stride=1)
        self.to_kv = SeparableProjection(dim, inner * 2, stride=KV_STRIDE)
        self.to_out = nn.Sequential(nn.Conv2d(inner, dim, 1), nn.Dropout(0.0))

    def _tokens(self, x):
        # (B, heads * DIM_HEAD, H, W) -> (B, heads, H * W, DIM_HEAD); channels are head-major.
        batch, _, height, width = x.shape
        return x.reshape(batch, self.heads, DIM_HEAD, height * width).transpose(2, 3)

    def forward(self, x):
        batch, _, height, width = x.shape
        keys, values = self.to_kv(x).chunk(2, dim=1)
        # Default SDPA scale is DIM_HEAD ** -0.5, the upstream scale.
        out = F.scaled_dot_product_attention(self._tokens(self.to_q(x)), self._tokens(keys), self._tokens(values))
        out = out.transpose(2, 3).reshape(batch, self.heads * DIM_HEAD, height, width)
        return self.to_out(out)


class ConvTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, mlp_mult: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([PreNorm(dim, ConvAttention(dim, heads)), PreNorm(dim, ConvFeedForward(dim, mlp_mult))])
            for _ in range(depth)
        )

    def forward(self, x):
        for attention, feed_forward in self.layers:
            x = attention(x) + x
            x = feed_forward(x) + x
        return x


class CvT(nn.Module):
    time_stride = 16  # product of EMBED_STRIDES

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.n_mels % self.time_stride:
            raise ValueError(f"n_mels must be a multiple of {self.time_stride}, got {config.n_mels}")
        self.config = config
        self.embedding_size = config.cvt_dims[-1] * config.n_mels // self.time_stride
        stages, dim_in = [], 1
        for dim, depth, heads, kernel, stride in zip(
            config.cvt_dims, config.cvt_depths, config.cvt_heads, EMBED_KERNELS, EMBED_STRIDES
        ):
            stages.append(
                nn.Sequential(
                    nn.Conv2d(dim_in, dim, kernel, padding=kernel // 2, stride=stride),
                    ChannelLayerNorm(dim),
                    ConvTransformer(dim, depth, heads, config.cvt_mlp_mult),
                )
            )
            dim_in = dim
        self.layers = nn.Sequential(*stages)

    def forward_frames(self, x):
        """(B, 1, n_mels, T) -> (B, ceil(T / 16), 512 * n_mels / 16)."""
        return flatten_frequency(self.layers(x))

    def forward(self, x):
        return mean_max_pool(self.forward_frames(x))
