"""Barlow Twins (Zbontar et al. 2021): the views' cross-correlation driven to the identity."""

from __future__ import annotations

import torch

from ...ssl.losses import barlow_twins_loss
from ..distributed import gather_with_grad
from .base import TwoViewObjective
from .heads import EncoderProjector, mlp


class BarlowTwins(TwoViewObjective):
    """Expander `expander_dims` (Linear + BN + ReLU between layers); off-diagonal weight `bt_lambda`."""

    def __init__(self, config, data=None):
        super().__init__(config, data)
        encoder = self.new_encoder()
        self.network = EncoderProjector(encoder, mlp([encoder.embedding_size, *config.expander_dims]))

    def ssl_loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        z1, z2 = out["projection"].chunk(2)
        return barlow_twins_loss(z1, z2, lambd=self.config.bt_lambda, gather=gather_with_grad)
