"""Equivariant self-supervision for tempo (Quinton 2022): a scalar that scales with the playback rate.

Two views of each crop are time-stretched by known rates r_i, r_j ~ U(0.8, 1.2) (`BYOLAugment.stretched_views`
returns them); a scalar head on the embedding, f > 0 (softplus), is trained so that f(x_i) / f(x_j) equals
r_i / r_j (`loss = ratio`) or, in the difference variant, f(x_i) - f(x_j) equals r_i - r_j. No negatives and
no regulariser are needed: a constant output does not satisfy the equivariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...ssl.augment import normalize_batch
from ...ssl.losses import tempo_difference_loss, tempo_ratio_loss
from ..config import setting
from .base import Batch, Objective
from .heads import EncoderProjector

LOSSES = {"ratio": tempo_ratio_loss, "difference": tempo_difference_loss}


@dataclass(frozen=True)
class Options:
    rate_low: float = setting(0.8, "lowest time-stretch rate")
    rate_high: float = setting(1.2, "highest time-stretch rate")
    loss: str = setting("ratio", "equivariance loss", choices=tuple(LOSSES))
    view_frames: int = setting(0, "frames of a stretched view (0 = the most the crop allows at the highest rate)")
    head_hidden: int = setting(256, "hidden width of the scalar head")

    def __post_init__(self):
        if not 0 < self.rate_low <= self.rate_high:
            raise ValueError(f"rates must satisfy 0 < rate_low <= rate_high, got {self.rate_low}, {self.rate_high}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {self.loss!r}")


class ScalarHead(nn.Module):
    """(B, D) -> (B,) positive scalar: Linear, ReLU, Linear, softplus."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.layers(x).float())[:, 0] + 1e-4


class Tempo(Objective):
    Options = Options

    def __init__(self, config, data=None):
        super().__init__(config, data)
        o = self.options
        encoder = self.new_encoder()
        self.network = EncoderProjector(encoder, ScalarHead(encoder.embedding_size, o.head_hidden))
        self.view_frames = o.view_frames or int((config.crop_frames - 1) / o.rate_high) + 1
        if (self.view_frames - 1) * o.rate_high > config.crop_frames - 1:
            raise ValueError(
                f"tempo views of {self.view_frames} frames at rate {o.rate_high} do not fit in --crop-frames "
                f"{config.crop_frames}"
            )

    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        o = self.options
        views, rates = augment.stretched_views(batch.x, (o.rate_low, o.rate_high), self.view_frames)
        return {"views": torch.cat([normalize_batch(v) for v in views]), "rates": rates}

    def forward(self, inputs):
        f_i, f_j = self.network(inputs["views"])[1].chunk(2)
        r_i, r_j = inputs["rates"]
        loss = LOSSES[self.options.loss](f_i, f_j, r_i, r_j)
        return loss, {"ssl_loss": loss.detach()}
