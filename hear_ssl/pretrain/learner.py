"""The trainable network of each objective: the package's encoder plus the heads its loss needs.

`Learner.network` (encoder + projector) is the part BYOL's EMA target copies. Both views go through the
encoder in one forward pass, so batch norm sees them together and the encoder runs once per step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import build_encoder
from ..ssl.handcrafted import Standardiser
from .config import PretrainConfig


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
    """Encoder (B, 1, F, T) -> embedding (B, D), then projector -> (B, P)."""

    def __init__(self, encoder: nn.Module, projector: nn.Module):
        super().__init__()
        self.encoder, self.projector = encoder, projector

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.encoder(x)
        return embedding, self.projector(embedding)


class Learner(nn.Module):
    """Online network of a pretraining run.

    forward(view1, view2) returns a dict with `embedding` (2B, D), `projection` (2B, P), and for BYOL
    `prediction` (2B, P), for the hybrid objective `features` (2B, K): views 1 then 2 stacked on dim 0.
    """

    def __init__(self, config: PretrainConfig, num_features: int = 0):
        super().__init__()
        self.config = config
        encoder = build_encoder(config.encoder)
        dim = encoder.embedding_size
        if config.base_objective == "byol":
            projector = mlp([dim, config.proj_hidden, config.proj_dim])
            self.predictor = mlp([config.proj_dim, config.proj_hidden, config.proj_dim])
        else:
            projector = mlp([dim, *config.expander_dims])
            self.predictor = None
        self.network = EncoderProjector(encoder, projector)
        self.feature_head = None
        if config.objective == "hybrid":
            if num_features < 1:
                raise ValueError("the hybrid objective needs the number of handcrafted features")
            self.feature_head = mlp([dim, config.feature_hidden, num_features])
            # Feature statistics are fitted before training and saved with the model.
            self.standardiser = Standardiser(num_features)

    @property
    def encoder(self) -> nn.Module:
        return self.network.encoder

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding, projection = self.network(torch.cat([view1, view2], dim=0))
        out = {"embedding": embedding, "projection": projection}
        if self.predictor is not None:
            out["prediction"] = self.predictor(projection)
        if self.feature_head is not None:
            out["features"] = self.feature_head(embedding)
        return out
