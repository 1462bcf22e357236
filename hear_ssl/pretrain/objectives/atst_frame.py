"""ATST-Frame (Li, Shao & Li 2024): teacher-student on frame tokens with block masking.

Both views are the same crop (6 s by default); the student's (view 2 always, view 1 with
`--atst-frame-augment-both`) is augmented with mixup and a frequency-only random resize crop, which keeps
frames aligned. The student sees both views with the same block mask (`block_mask`: ~65 % of the 40-ms
tokens in blocks of 5) replaced by `mask_embed`; the teacher sees both unmasked. On masked tokens only, the
student's prediction of one view regresses the teacher's projection of the other, both directions averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...ssl.losses import cross_view_cosine_loss
from ..config import setting
from .atst_base import ATSTObjective


def block_mask(
    batch: int, tokens: int, ratio: float, block: int, generator: torch.Generator, device=None
) -> torch.Tensor:
    """(batch, tokens) bool: round(ratio * tokens / block) non-overlapping blocks of `block` tokens per row.

    Blocks are placed uniformly over all non-overlapping arrangements (choose the block count's distinct
    slots among tokens - count * (block - 1), then spread them), all rows in one batched draw; adjacent
    blocks may touch, so every masked run is a multiple of `block` long. audiossl draws overlapping spans
    with fairseq's `compute_mask_indices` instead, which masks fewer tokens than its `mask_prob` says.

    Raises
    ------
    ValueError
        If the ratio is outside (0, 1) or a row is shorter than one block.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must lie in (0, 1), got {ratio}")
    if not 1 <= block <= tokens:
        raise ValueError(f"mask blocks of {block} tokens do not fit rows of {tokens} tokens")
    count = min(max(1, round(ratio * tokens / block)), tokens // block)
    slots = tokens - count * (block - 1)
    scores = torch.rand(batch, slots, generator=generator, device=device)
    chosen = scores.topk(count, dim=1).indices.sort(dim=1).values
    starts = chosen + torch.arange(count, device=device) * (block - 1)  # (batch, count), gaps >= block
    positions = (starts[..., None] + torch.arange(block, device=device)).reshape(batch, -1)
    mask = torch.zeros(batch, tokens, dtype=torch.bool, device=device)
    return mask.scatter_(1, positions, True)


@dataclass(frozen=True)
class ATSTFrameOptions:
    """Defaults: ATST-Frame small (audiossl `FrameAST_small`, `train_small.sh`: block masks 0.65 x 5, EMA
    0.997, teacher's view not augmented)."""

    embed_dim: int = setting(384, "ATST encoder width")
    depth: int = setting(12, "ATST encoder blocks")
    num_heads: int = setting(6, "ATST attention heads")
    crop_frames: int = setting(600, "frames per crop, the input of both views (600 = 6 s)")
    mask_ratio: float = setting(0.65, "share of the student's tokens masked")
    mask_block: int = setting(5, "tokens (40 ms each) per mask block")
    augment_both: bool = setting(False, "augment view 1 too (audiossl's aug_tea; off in its recipe)")
    ema_base: float = setting(0.997, "teacher EMA decay at step 0; rises to 1 along a half cosine")

    def __post_init__(self):
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")
        if not 1 <= self.mask_block <= self.crop_frames // 4:
            raise ValueError(f"mask_block must be 1 .. crop_frames // 4 tokens, got {self.mask_block}")
        if not 0.0 <= self.ema_base <= 1.0:
            raise ValueError(f"ema_base must lie in [0, 1], got {self.ema_base}")


class ATSTFrame(ATSTObjective):
    Options = ATSTFrameOptions
    kind = "frame"
    # Frequency-only resize crop: frame t of both views is the same moment.
    virtual_scale = (1.0, 1.0)
    time_scale = (1.0, 1.0)

    def inputs(self, batch, augment) -> dict[str, torch.Tensor]:
        mel = self.atst_input(batch.raw)  # (B, 1, 64, crop_frames)
        view1 = augment.view(mel) if self.options.augment_both else mel
        view2 = augment.view(mel)
        augment.remember(mel)
        tokens = mel.shape[-1] // self.network.encoder.config.patch_w
        generator = augment.generator_on(mel.device)
        mask = block_mask(mel.shape[0], tokens, self.options.mask_ratio, self.options.mask_block, generator, mel.device)
        return {"view1": view1, "view2": view2, "mask": mask}

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        both = torch.cat([inputs["view1"], inputs["view2"]])
        mask = torch.cat([inputs["mask"], inputs["mask"]])  # the same mask on both views (audiossl)
        student = self.network.encoder(both, token_mask=mask)[mask]  # (N1 + N2, D): view 1's rows first
        prediction = self.predictor(self.network.projector(student))
        with torch.no_grad():
            target = self.target.projector(self.target.encoder(both)[mask])
        per_view = int(inputs["mask"].sum())
        loss = cross_view_cosine_loss(
            prediction[:per_view], prediction[per_view:], target[:per_view], target[per_view:]
        )
        return loss, {"ssl_loss": loss.detach()}
