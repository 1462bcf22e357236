"""VIbCReg (Lee & Aune 2021): VICReg with whitened projections and a scale-free covariance term.

The projector is `expander_dims` (the paper: 4096-4096-4096, Linear + BN + ReLU between layers) ending in
IterNorm (64 groups, T = 5 Newton iterations); the loss replaces VICReg's covariance by the mean squared
off-diagonal of the correlation matrix, weighted 200 (invariance and variance 25 each, as VICReg).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...ssl.iternorm import MAX_ITERATIONS, IterNorm
from ...ssl.losses import vibcreg_loss
from ..config import setting
from ..distributed import gather_with_grad
from .base import TwoViewObjective
from .heads import EncoderProjector, mlp


@dataclass(frozen=True)
class Options:
    sim_weight: float = setting(25.0, "invariance (MSE) weight lambda")
    var_weight: float = setting(25.0, "variance hinge weight mu")
    cov_weight: float = setting(200.0, "normalised covariance weight nu")
    iternorm_groups: int = setting(64, "IterNorm groups at the projector's end")
    iternorm_iterations: int = setting(5, "IterNorm Newton iterations T")

    def __post_init__(self):
        if self.iternorm_groups < 1 or not 1 <= self.iternorm_iterations <= MAX_ITERATIONS:
            raise ValueError(f"iternorm_groups must be positive and iternorm_iterations in 1..{MAX_ITERATIONS}")


class VIbCReg(TwoViewObjective):
    Options = Options

    def __init__(self, config, data=None):
        super().__init__(config, data)
        o = self.options
        encoder = self.new_encoder()
        projector = nn.Sequential(
            *mlp([encoder.embedding_size, *config.expander_dims]),
            IterNorm(config.expander_dims[-1], o.iternorm_groups, o.iternorm_iterations),
        )
        self.network = EncoderProjector(encoder, projector)

    def ssl_loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        z1, z2 = out["projection"].chunk(2)
        o = self.options
        return vibcreg_loss(z1, z2, o.sim_weight, o.var_weight, o.cov_weight, gather=gather_with_grad)
