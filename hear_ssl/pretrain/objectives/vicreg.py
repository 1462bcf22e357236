"""VICReg (Bardes et al. 2022): invariance, variance hinge and covariance decorrelation of the expander."""

from __future__ import annotations

import torch

from ...ssl.losses import vicreg_loss
from ..distributed import gather_with_grad
from .base import TwoViewObjective
from .heads import EncoderProjector, mlp


class VICReg(TwoViewObjective):
    """Expander `expander_dims`; weights `vicreg_weights` = (invariance, variance, covariance)."""

    def __init__(self, config, data=None):
        super().__init__(config, data)
        encoder = self.new_encoder()
        self.network = EncoderProjector(encoder, mlp([encoder.embedding_size, *config.expander_dims]))

    def ssl_loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        z1, z2 = out["projection"].chunk(2)
        sim, var, cov = self.config.vicreg_weights
        return vicreg_loss(z1, z2, sim, var, cov, gather=gather_with_grad)
