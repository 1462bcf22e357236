"""ATST-Clip (Li & Li, Interspeech 2022): BYOL between two long segments of a clip, on the CLS token.

Each crop (10 s by default, an AudioSet clip) gives two segments of `view_frames` (6 s in the paper) at
independent random offsets; each is augmented (mixup, random resize crop on a canvas 1.5x as long). The
student's CLS token goes through projector and predictor, the teacher's CLS through its projector, and the
loss is 2 - 2 cos across the views, both directions averaged (`ssl.losses.cross_view_cosine_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...ssl.losses import cross_view_cosine_loss
from ..config import setting
from .atst_base import ATSTObjective


@dataclass(frozen=True)
class ATSTClipOptions:
    """Defaults: ATST-Clip small (audiossl `AST_small`, `train_small.sh`)."""

    embed_dim: int = setting(384, "ATST encoder width")
    depth: int = setting(12, "ATST encoder blocks")
    num_heads: int = setting(6, "ATST attention heads")
    crop_frames: int = setting(1000, "frames per crop the two views are cut from (1000 = 10 s)")
    view_frames: int = setting(600, "frames per view (600 = the paper's 6 s)")
    ema_base: float = setting(0.99, "teacher EMA decay at step 0; rises to 1 along a half cosine")

    def __post_init__(self):
        if not 4 <= self.view_frames <= self.crop_frames:
            raise ValueError(f"need 4 <= view_frames <= crop_frames, got {self.view_frames} and {self.crop_frames}")
        if not 0.0 <= self.ema_base <= 1.0:
            raise ValueError(f"ema_base must lie in [0, 1], got {self.ema_base}")


class ATSTClip(ATSTObjective):
    Options = ATSTClipOptions
    kind = "clip"

    def __init__(self, config, data=None):
        super().__init__(config, data)
        # Only ATST-Frame masks tokens; a parameter without gradient would stall DDP's reducer.
        self.network.encoder.mask_embed.requires_grad_(False)

    @classmethod
    def view_frames(cls, config) -> int:
        return config.objective_options.view_frames

    def inputs(self, batch, augment) -> dict[str, torch.Tensor]:
        mel = self.atst_input(batch.raw)  # (B, 1, 64, crop_frames)
        frames, view = mel.shape[-1], self.options.view_frames
        generator = augment.generator_on(mel.device)
        starts = torch.randint(0, frames - view + 1, (2, mel.shape[0]), generator=generator, device=mel.device)
        index = starts[..., None] + torch.arange(view, device=mel.device)  # (2, B, view)
        segments = [mel.gather(-1, rows[:, None, None, :].expand(-1, 1, mel.shape[2], -1)) for rows in index]
        views = [augment.view(segment) for segment in segments]
        augment.remember(torch.cat(segments))
        return {"view1": views[0], "view2": views[1]}

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        both = torch.cat([inputs["view1"], inputs["view2"]])
        # Both views in one pass, as audiossl's MultiCropWrapper does: batch norm sees them together.
        prediction = self.predictor(self.network(both)[1])
        with torch.no_grad():
            target = self.target(both)[1]
        loss = cross_view_cosine_loss(*prediction.chunk(2), *target.chunk(2))
        return loss, {"ssl_loss": loss.detach()}
