"""BYOL (Grill et al. 2020) as BYOL-A trains it: online encoder + projector + predictor, EMA target."""

from __future__ import annotations

import torch

from ...ssl.ema import cosine_decay, ema_update, make_target
from ...ssl.losses import byol_loss
from .base import TwoViewObjective
from .heads import EncoderProjector, mlp


class BYOL(TwoViewObjective):
    """Projector and predictor D -> proj_hidden -> proj_dim (BN + ReLU); the target is an EMA of encoder +
    projector with decay `ema_decay` (constant, or BYOL's cosine rise to 1)."""

    def __init__(self, config, data=None):
        super().__init__(config, data)
        encoder = self.new_encoder()
        projector = mlp([encoder.embedding_size, config.proj_hidden, config.proj_dim])
        # Creation order (encoder, projector, predictor) fixes the initial weights for a given seed.
        self.predictor = mlp([config.proj_dim, config.proj_hidden, config.proj_dim])
        self.network = EncoderProjector(encoder, projector)
        self.set_target(make_target(self.network))

    def ssl_loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        p1, p2 = out["prediction"].chunk(2)
        t1, t2 = out["target_projection"].chunk(2)
        return byol_loss(p1, p2, t1, t2)

    def decay(self, step: int) -> float:
        config = self.config
        if config.ema_schedule == "constant":
            return config.ema_decay
        return cosine_decay(step, config.max_steps, config.ema_decay)

    def after_step(self, step: int) -> dict[str, float]:
        decay = self.decay(step)
        ema_update(self.target, self.network, decay)
        return {"ema_decay": decay}
