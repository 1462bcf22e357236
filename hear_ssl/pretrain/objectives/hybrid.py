"""The hybrid objective (HEAR 2021 hybrid BYOL-S): a two-view SSL loss plus regression of handcrafted features.

The base objective (`hybrid_base`: BYOL, Barlow Twins, VICReg, ...) is built as usual and its modules are
adopted as this module's own children, so the checkpoint keys stay `network.*` / `predictor.*` whatever the
base; a head on the embedding regresses standardised features of the same segment (`features`: the torch
set computed from the log-mel crop on the fly, or openSMILE functionals precomputed for fixed segments).
"""

from __future__ import annotations

import numpy as np
import torch

from ...ssl.handcrafted import Standardiser, logmel_features, num_torch_features, opensmile_segment_features
from ...ssl.losses import feature_regression_loss, hybrid_loss
from ..distributed import barrier
from . import objective_class
from .base import Batch, Objective, ObjectiveData
from .heads import mlp

# Segments used to fit the standardiser of the torch handcrafted features.
STANDARDISER_SAMPLES = 2048


class Hybrid(Objective):
    """`hybrid_base`'s loss + `feature_weight` x MSE of a head (D -> feature_hidden -> K) to the features."""

    def __init__(self, config, data: ObjectiveData | None = None):
        super().__init__(config, data)
        base = objective_class(config.hybrid_base)(config)
        object.__setattr__(self, "base", base)  # not a child: its modules are adopted below
        for name, module in base.named_children():
            setattr(self, name, module)
        self.table = None  # openSMILE features per (selected) segment, or None for the torch set
        if config.features == "torch":
            num_features = num_torch_features(config.frontend.n_mels)
        else:
            if data is None:
                raise ValueError("the hybrid objective with openSMILE features needs the run's data to be built")
            self.table = opensmile_table(config, data)
            num_features = self.table.shape[1]
        self.feature_head = mlp([self.encoder.embedding_size, config.feature_hidden, num_features])
        # Feature statistics are fitted before training and saved with the model.
        self.standardiser = Standardiser(num_features)

    @classmethod
    def jitter_crops(cls, config) -> bool:
        # openSMILE features are precomputed for fixed segments, so crops must start at the segment's start.
        return config.features == "torch"

    @property
    def target(self):
        return self.base.target

    @torch.no_grad()
    def prepare(self, data: ObjectiveData) -> None:
        if self.table is not None:
            self.standardiser.fit(self.table)
            return
        rng = np.random.default_rng([self.config.seed, 23])
        crops = data.crops
        ids = rng.choice(len(crops.segments), size=min(STANDARDISER_SAMPLES, len(crops.segments)), replace=False)
        raw = torch.from_numpy(np.stack([crops.crop(int(i)) for i in ids])[:, None]).to(data.device)
        self.standardiser.fit(logmel_features(raw).cpu())

    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        inputs = self.base.inputs(batch, augment)
        features = logmel_features(batch.raw) if self.table is None else self.table[batch.ids].to(batch.raw.device)
        inputs["features"] = self.standardiser(features)
        return inputs

    def forward(self, inputs):
        out = self.base.outputs(inputs)
        ssl = self.base.ssl_loss(out)
        feature = feature_regression_loss(self.feature_head(out["embedding"]), inputs["features"].repeat(2, 1))
        loss = hybrid_loss(ssl, feature, self.config.feature_weight)
        return loss, {"ssl_loss": ssl.detach(), "feature_loss": feature.detach()}

    def before_optimizer_step(self, step: int) -> None:
        self.base.before_optimizer_step(step)

    def after_step(self, step: int) -> dict[str, float]:
        return self.base.after_step(step)


def opensmile_table(config, data: ObjectiveData) -> torch.Tensor:
    """openSMILE features (N, K) of a fixed seeded subset of segments, which `data.crops` is then limited to.

    They need the waveform, so rank 0 computes them once (resumable, cached beside the log-mel cache).
    """
    crops, context = data.crops, data.context
    rng = np.random.default_rng([config.seed, 17])
    count = min(config.feature_max_segments, len(crops.segments))
    subset = np.sort(rng.choice(len(crops.segments), size=count, replace=False))
    path = data.cache_dir / f"features-{config.features}-c{config.crop_frames}-n{count}-s{config.seed}.npz"
    hop = config.frontend.hop_length
    if context is None or context.is_master:
        opensmile_segment_features(
            crops.segments[subset], crops.paths, config.crop_frames, hop, config.features, path, config.progress
        )
    if context is not None:
        barrier(context)
    table = opensmile_segment_features(
        crops.segments[subset], crops.paths, config.crop_frames, hop, config.features, path, progress=False
    )
    crops.select(subset)
    return torch.from_numpy(table)
