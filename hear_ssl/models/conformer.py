"""The Conformer wav2vec 2.0 encoder for general audio (Srivastava et al., ICASSP 2022), in plain torch.

    mel (B, F, T) standardised log-mel
    -> FeatureEncoder: Conv1d(F -> C, kernel = stride = 4) + LayerNorm        (B, S = T // 4, C)  "latents"
    -> projection Linear(C -> D)                                             (B, S, D)
    -> Conformer blocks (Gulati et al. 2020):
           x = x + FFN(x) / 2                 macaron half-step feed-forward (LayerNorm, Linear, Swish, Linear)
           x = x + Conv(x)                    LayerNorm, pointwise conv + GLU, depthwise conv, GroupNorm, Swish,
                                              pointwise conv (before attention: `convolution_first`)
           x = x + MHSA(x)                    LayerNorm, multi-head self-attention, no positional embedding
           x = x + FFN(x) / 2
           x = LayerNorm(x)
    -> context (B, S, D)

The paper's feature encoder merges 4 frames and projects them linearly (torchaudio's prototype: frame
stacking + Linear); a convolution with kernel = stride = 4 is that same map. The pretraining objective
(`hear_ssl.pretrain.objectives.conformer_w2v2`) masks the latents between `features` and `context`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conformer_config import ConformerConfig


class FeatureEncoder(nn.Module):
    """(B, F, T) log-mel -> (B, T // stride, C) latents: one strided convolution, then LayerNorm."""

    def __init__(self, n_mels: int, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(n_mels, channels, kernel_size=stride, stride=stride)
        self.norm = nn.LayerNorm(channels)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(mel).transpose(1, 2))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up, self.down = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(self.dropout(F.silu(self.up(self.norm(x))))))


class ConvolutionModule(nn.Module):
    """LayerNorm, pointwise conv to 2D + GLU, depthwise conv, GroupNorm(1) or BatchNorm, Swish, pointwise conv."""

    def __init__(self, dim: int, kernel: int, dropout: float, group_norm: bool):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        # One group: statistics over channels and time of each clip, so a clip's output never depends on its batch.
        self.conv_norm = nn.GroupNorm(1, dim) if group_norm else nn.BatchNorm1d(dim)
        self.pointwise_out = nn.Conv1d(dim, dim, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)
        y = self.pointwise_out(F.silu(self.conv_norm(self.depthwise(y))))
        return self.dropout(y.transpose(1, 2))


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.attention_dropout = heads, dropout
        self.norm = nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, dim = x.shape
        q, k, v = self.qkv(self.norm(x)).view(batch, steps, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p).transpose(1, 2).reshape(batch, steps, dim)
        return self.dropout(self.out(y))


class ConformerBlock(nn.Module):
    def __init__(self, config: ConformerConfig, kernel: int):
        super().__init__()
        d, p = config.dim, config.dropout
        self.convolution_first = config.convolution_first
        self.ffn1, self.ffn2 = FeedForward(d, config.ffn, p), FeedForward(d, config.ffn, p)
        self.conv = ConvolutionModule(d, kernel, p, config.group_norm)
        self.attention = SelfAttention(d, config.heads, p)
        self.final_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ffn1(x)
        if self.convolution_first:
            x = x + self.conv(x)
        x = x + self.attention(x)
        if not self.convolution_first:
            x = x + self.conv(x)
        x = x + 0.5 * self.ffn2(x)
        return self.final_norm(x)


class ConformerEncoder(nn.Module):
    """Feature encoder + Conformer context network; see the module docstring.

    Call it on a standardised log-mel (B, F, T) or (B, 1, F, T) for the last block's output (B, T // stride, D),
    or use `features` and `context` separately (masking goes between them).
    """

    def __init__(self, config: ConformerConfig):
        super().__init__()
        self.config = config
        self.feature_encoder = FeatureEncoder(config.n_mels, config.extractor_dim, config.stride)
        self.projection = nn.Linear(config.extractor_dim, config.dim)
        self.projection_dropout = nn.Dropout(config.dropout)
        kernels = [config.first_kernel] + [config.kernel] * (config.layers - 1)
        self.blocks = nn.ModuleList(ConformerBlock(config, k) for k in kernels)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, F, T) or (B, 1, F, T) -> latents (B, T // stride, extractor_dim).

        Raises
        ------
        ValueError
            On a wrong band count or fewer frames than one step.
        """
        if mel.dim() == 4:
            mel = mel[:, 0]
        if mel.dim() != 3 or mel.shape[1] != self.config.n_mels:
            raise ValueError(f"expected a log-mel (B, {self.config.n_mels}, T), got shape {tuple(mel.shape)}")
        if mel.shape[-1] < self.config.stride:
            raise ValueError(f"need at least {self.config.stride} frames (one step), got {mel.shape[-1]}")
        return self.feature_encoder(mel)

    def context(self, latents: torch.Tensor, num_layers: int | None = None) -> list[torch.Tensor]:
        """(B, S, extractor_dim) latents -> the outputs (B, S, D) of the first `num_layers` blocks (default all)."""
        x = self.projection_dropout(self.projection(latents))
        outputs = []
        for block in self.blocks[: num_layers or len(self.blocks)]:
            x = block(x)
            outputs.append(x)
        return outputs

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.context(self.features(mel))[-1]


__all__ = ["ConformerBlock", "ConformerEncoder", "FeatureEncoder"]
