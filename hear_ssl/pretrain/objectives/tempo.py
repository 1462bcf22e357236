"""Equivariant self-supervision for tempo (Quinton, ISMIR 2022), training the model zoo's tempo TCN.

    crops        = the TCN's own log mel (B, 1, 81, C): 44.1 kHz, 81 bands (`cache_frontend`, as hear_ssl.tempo)
    views, rates = augment.stretched_views(crops, (0.8, 1.2), V)   # 2 views (B, 1, 81, V), known rates (2, B)
    z_i, z_j     = TCN(both views in one batch)                     # the regression head `tempo_block.output_reg`
    loss         = (L(z_i, z_j, r_i, r_j) + L(z_j, z_i, r_j, r_i)) / 2

L is the ratio loss |z_i / z_j - r_i / r_j| (default) or the difference variant |z_i - z_j r_i / r_j|
(`hear_ssl.ssl.losses`). A rate r > 1 plays the crop r times faster, so a tempo estimate z must scale with it;
a constant z does not satisfy the equivariance, so there is no collapse to guard against.

Facts from the official code (Quint-e/equivariant-self-supervision-tempo: `sst/train.py`, `sst/losses/l1.py`,
the published model's config): both losses, the symmetrisation, rates U(0.8, 1.2), the raw regression output
(no positivity constraint), no other augmentation, 600,000-sample excerpts (1361 frames, the default
`view_frames`), Adam with lr 1e-3 and batch 32 (hear-ssl's `--lr` and `--batch-size` apply here). Ours: the
official code time-stretches the waveform with sox `tempo` (WSOLA) and crops or zero-pads it back to the
excerpt length; here the cached log mel is resampled along time (`time_stretch`: view frame k reads crop
frame start + k r, linear interpolation), which changes the tempo by exactly r and keeps the pitch, from
crops long enough (`crop_frames`) that no view needs padding. Both views go through the TCN in one batch,
so its input BatchNorm normalises them together. The TCN keeps the official key layout, so `hear-ssl
export` writes the file `hear_ssl.tempo.load_model` reads like the bundled published weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ...frontends.tempo_logmel import TEMPO_LOGMEL_CACHE
from ...models.tempo_tcn import TempoTCN
from ...ssl.augment import BYOLAugment
from ...ssl.losses import tempo_difference_loss, tempo_ratio_loss
from ...tempo_config import TempoTCNConfig
from ..config import setting
from .base import Batch, Objective, ZooExport

LOSSES = {"ratio": tempo_ratio_loss, "difference": tempo_difference_loss}
OFFICIAL_EXCERPT_FRAMES = 600_000 // TEMPO_LOGMEL_CACHE.hop_length + 1  # 1361


@dataclass(frozen=True)
class Options:
    rate_low: float = setting(0.8, "lowest time-stretch rate")
    rate_high: float = setting(1.2, "highest time-stretch rate")
    loss: str = setting("ratio", "equivariance loss", choices=tuple(LOSSES))
    # The crops are as long as the fastest view needs (`Tempo.crop_frames`); --crop-frames does not apply.
    view_frames: int = setting(
        OFFICIAL_EXCERPT_FRAMES, "log-mel frames of a stretched view (1361 = 13.6 s); crops: (V - 1) x rate_high + 1"
    )

    def __post_init__(self):
        if not 0 < self.rate_low <= self.rate_high:
            raise ValueError(f"rates must satisfy 0 < rate_low <= rate_high, got {self.rate_low}, {self.rate_high}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {self.loss!r}")
        shortest = TempoTCNConfig().frames_lost + 1
        if self.view_frames < shortest:
            raise ValueError(
                f"view_frames must be at least {shortest} (the TCN's shortest input), got {self.view_frames}"
            )


class Tempo(Objective):
    Options = Options

    def __init__(self, config, data=None):
        super().__init__(config, data)
        # `network.encoder` is what `hear-ssl export` writes; the TCN's own regression head is the scalar head.
        self.network = nn.ModuleDict({"encoder": TempoTCN(TempoTCNConfig())})
        # The classification layer (official `mode="classification"`) is not part of this objective; it stays
        # at its initial values, as in the published regression model, and is exported for the key layout.
        self.encoder.tempo_block.output.requires_grad_(False)

    # -- settings ---------------------------------------------------------------------------------------
    @classmethod
    def cache_frontend(cls, config):
        return TEMPO_LOGMEL_CACHE

    @classmethod
    def crop_frames(cls, config) -> int:
        """The shortest crop a view of `view_frames` fits in at the highest rate: (V - 1) r_max + 1 frames."""
        options = config.objective_options
        return math.ceil((options.view_frames - 1) * options.rate_high) + 1

    @classmethod
    def new_augment(cls, config, seed: int) -> BYOLAugment:
        # Only the time stretch (the published training): mixup, resize crop and fader are off.
        return BYOLAugment(memory_size=0, mixup_ratio=0.0, fader_gain=0.0, seed=seed)

    @classmethod
    def zoo_export(cls, config) -> ZooExport:
        tcn = TempoTCNConfig()
        name = "hear-ssl-tempo-tcn"
        # The bundled published weights' metadata layout (hear_ssl.tempo.convert_official), without `source`.
        model_config = {"name": name, "tcn": asdict(tcn)}
        description = f"tempo TCN ({tcn.describe()}), trained with the {config.objective_options.loss} loss"
        return ZooExport(TempoTCN(tcn), model_config, "hear_ssl.tempo", name, description, dtype="float32")

    # -- the training step ------------------------------------------------------------------------------
    def inputs(self, batch: Batch, augment: BYOLAugment) -> dict[str, torch.Tensor]:
        o = self.options
        # The raw crops: the TCN's input at inference too (it starts with a BatchNorm, no standardisation).
        views, rates = augment.stretched_views(batch.raw, (o.rate_low, o.rate_high), o.view_frames)
        return {"views": torch.cat(views), "rates": rates}

    def forward(self, inputs):
        z_i, z_j = self.encoder(inputs["views"])[:, 0].float().chunk(2)
        r_i, r_j = inputs["rates"]
        criterion = LOSSES[self.options.loss]
        loss = 0.5 * (criterion(z_i, z_j, r_i, r_j) + criterion(z_j, z_i, r_j, r_i))
        return loss, {"ssl_loss": loss.detach()}
