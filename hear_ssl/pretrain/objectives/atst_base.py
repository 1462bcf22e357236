"""What ATST-Clip and ATST-Frame share (Li & Li 2022; Li, Shao & Li 2024; facts from audiossl).

A student (ATST encoder of the zoo + projector + predictor) regresses an EMA teacher (encoder + projector)
with 2 - 2 cos across two views; the teacher's decay rises from `ema_base` to 1 along a half cosine. Heads
are audiossl's `build_mlp(2, D, 4096, 256)` (Linear, BN, ReLU, Linear) with widths `--proj-hidden` /
`--proj-dim`. The encoder keeps the official key layout, so `hear-ssl export` writes a file
`hear_ssl.atst.load_model` reads like an official checkpoint.

Input: the run's log-mel cache must be built with the default `FrontEndConfig`, which is ATST's mel; each
crop becomes ATST's scaled dB mel on the device (`frontends.db_mel.db_mel_from_log_mel`, the same floor and
min-max as inference). The views are augmented as audiossl does, with BYOL-A's mixup (on the scaled dB
values, as the official transforms do) and random resize crop, batched (`BYOLAugment`, no fader); every
random draw (crop offsets, masks, augmentations) comes from the augmenter's generator, saved per rank in
the checkpoint. Differences from the official training: one mixup memory for both views (audiossl keeps
one per view), no drop-path, and the optimiser settings are hear-ssl's flags (audiossl: AdamW lr 5e-4
(clip) / 4e-4 (frame) with warm-up and cosine decay, weight decay 0.04 -> 0.4).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

import torch

from ...atst_config import ATSTConfig
from ...config import FrontEndConfig
from ...frontends.db_mel import db_mel_from_log_mel
from ...ssl.augment import BYOLAugment
from ...ssl.ema import cosine_decay, ema_update, make_target
from .base import Objective, ZooExport
from .heads import EncoderProjector, mlp

FRAMES_PER_SECOND = 100  # hop 160 at 16 kHz


class ATSTObjective(Objective):
    """Base of the two ATST objectives; subclasses set `kind`, the augmentation's crop scales and `Options`
    (with fields embed_dim, depth, num_heads, crop_frames, ema_base)."""

    kind: ClassVar[str] = ""
    # BYOL-A random resize crop: virtual canvas, box height and width ranges (audiossl's settings).
    virtual_scale: ClassVar[tuple[float, float]] = (1.0, 1.5)
    freq_scale: ClassVar[tuple[float, float]] = (0.6, 1.5)
    time_scale: ClassVar[tuple[float, float]] = (0.6, 1.5)

    def __init__(self, config, data=None):
        super().__init__(config, data)
        if config.frontend != FrontEndConfig():
            raise ValueError(
                f"--objective {config.objective} trains on ATST's mel front-end, the default FrontEndConfig; this "
                f"run sets {config.frontend.to_dict()}: drop the front-end flags, use a cache built with the defaults"
            )
        encoder_config = self.encoder_config(config)
        if self.crop_frames(config) // encoder_config.patch_w > encoder_config.spec_w // encoder_config.patch_w:
            raise ValueError(
                f"crops of {self.crop_frames(config)} frames exceed the {encoder_config.max_frames} the ATST "
                f"positional embedding covers; lower --{config.objective.replace('_', '-')}-crop-frames"
            )
        from ...models.atst import ENCODERS

        encoder = ENCODERS[self.kind](encoder_config)
        # Creation order (encoder, projector, predictor) fixes the initial weights for a given seed.
        projector = mlp([encoder_config.embed_dim, config.proj_hidden, config.proj_dim])
        self.predictor = mlp([config.proj_dim, config.proj_hidden, config.proj_dim])
        self.network = EncoderProjector(encoder, projector)
        self.set_target(make_target(self.network))

    # -- settings ---------------------------------------------------------------------------------------
    @classmethod
    def encoder_config(cls, config) -> ATSTConfig:
        options = config.objective_options
        if options.embed_dim % options.num_heads:
            raise ValueError(f"num_heads {options.num_heads} does not divide embed_dim {options.embed_dim}")
        return ATSTConfig(embed_dim=options.embed_dim, depth=options.depth, num_heads=options.num_heads)

    @classmethod
    def crop_frames(cls, config) -> int:
        return config.objective_options.crop_frames

    @classmethod
    def view_frames(cls, config) -> int:
        """Mel frames of one view (the teacher's and student's input length)."""
        return cls.crop_frames(config)

    @classmethod
    def new_augment(cls, config, seed: int) -> BYOLAugment:
        return BYOLAugment(
            memory_size=config.mixup_memory, mixup_ratio=config.mixup_ratio, virtual_scale=cls.virtual_scale,
            freq_scale=cls.freq_scale, time_scale=cls.time_scale, fader_gain=0.0, seed=seed,
        )  # fmt: skip

    @classmethod
    def zoo_export(cls, config) -> ZooExport:
        from ...models.atst import ENCODERS

        encoder_config = cls.encoder_config(config)
        name = f"hear-ssl-{config.objective.replace('_', '-')}-{encoder_config.depth}x{encoder_config.embed_dim}"
        model_config = {
            "name": name,
            "family": "atst",
            "kind": cls.kind,
            "encoder": asdict(encoder_config),
            # What hear_ssl.atst reads (the official checkpoints' `hyper_parameters` names).
            "num_heads": encoder_config.num_heads,
            "train_len": cls.view_frames(config) / FRAMES_PER_SECOND,
        }
        description = (
            f"ATST-{cls.kind.capitalize()} encoder, {encoder_config.depth} blocks x {encoder_config.embed_dim}, "
            f"{encoder_config.num_heads} heads, views of {cls.view_frames(config)} frames"
        )
        return ZooExport(ENCODERS[cls.kind](encoder_config), model_config, "hear_ssl.atst", name, description)

    # -- the training step ------------------------------------------------------------------------------
    def atst_input(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, 1, 64, T) cached log-mel crops -> ATST's scaled dB mel, each crop floored at its own peak."""
        return db_mel_from_log_mel(raw.float())

    def decay(self, step: int) -> float:
        return cosine_decay(step, self.config.max_steps, self.options.ema_base)

    def after_step(self, step: int) -> dict[str, float]:
        decay = self.decay(step)
        ema_update(self.target, self.network, decay)
        return {"ema_decay": decay}
