"""Heads the objectives put on top of the encoder."""

from __future__ import annotations

import torch
from torch import nn


def mlp(dims: list[int], last_bn: bool = False) -> nn.Sequential:
    """Linear layers with batch norm and ReLU between them (BYOL's projector, Barlow Twins' expander)."""
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        # A bias right before batch norm would be cancelled by it.
        layers.append(nn.Linear(d_in, d_out, bias=last))
        if not last:
            layers += [nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


class EncoderProjector(nn.Module):
    """Encoder (B, 1, F, T) -> embedding (B, D), then projector -> (B, P).

    The unit an EMA target copies; its `encoder` is what `hear-ssl export` writes.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module):
        super().__init__()
        self.encoder, self.projector = encoder, projector

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.encoder(x)
        return embedding, self.projector(embedding)
