"""DINO (Caron et al. 2021), as utterance-level DINO for speech (Cho et al. 2022) applies it to audio.

A student (encoder + DINO head) matches the output distribution of an EMA teacher across crops of different
lengths: the teacher sees the long (global) crops, the student every crop, and each teacher crop is the
target of every other student crop. Collapse is avoided by centring the teacher's logits (an EMA of their
batch mean) and sharpening them with a low temperature. Defaults are the paper's: head 2048-2048-256 with
GELU, L2-normalised bottleneck, weight-normalised last layer of 65536 outputs (norm fixed to 1, frozen for
the first steps), student temperature 0.1, teacher temperature warmed up linearly from 0.04 to 0.07 over the
first 10% of training (30 of 300 epochs), teacher momentum 0.996 rising to 1 on a cosine, centre momentum 0.9.
Multi-crop as Cho et al.: 2 long crops for the teacher and 4 crops half as long for the student only
(4 s and 2 s in their setup; here the run's crop and half of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...ssl.augment import normalize_batch
from ...ssl.ema import cosine_decay, ema_update, make_target
from ...ssl.losses import dino_loss
from ..config import setting
from .base import Batch, Objective
from .heads import EncoderProjector


@dataclass(frozen=True)
class Options:
    out_dim: int = setting(65536, "DINO head outputs K")
    hidden_dim: int = setting(2048, "DINO head hidden width")
    bottleneck_dim: int = setting(256, "DINO head bottleneck (L2-normalised) width")
    global_crops: int = setting(2, "long crops, seen by teacher and student")
    local_crops: int = setting(4, "short crops, seen by the student only")
    global_frames: int = setting(0, "frames of a long crop (0 = --crop-frames)")
    local_frames: int = setting(0, "frames of a short crop (0 = half of --crop-frames)")
    student_temp: float = setting(0.1, "student softmax temperature")
    teacher_temp: float = setting(0.07, "teacher softmax temperature after warm-up")
    warmup_teacher_temp: float = setting(0.04, "teacher temperature at the first step")
    teacher_temp_warmup: float = setting(0.1, "fraction of --max-steps over which the teacher temperature rises")
    momentum: float = setting(0.996, "teacher EMA momentum at the first step (cosine rise to 1)")
    center_momentum: float = setting(0.9, "EMA momentum of the centre of the teacher's logits")
    freeze_last_layer: float = setting(0.01, "fraction of --max-steps during which the last layer is not updated")

    def __post_init__(self):
        if self.global_crops < 1 or self.local_crops < 0 or self.global_crops + self.local_crops < 2:
            raise ValueError("DINO needs at least 1 global crop and 2 crops in all")
        for name in ("student_temp", "teacher_temp", "warmup_teacher_temp"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("teacher_temp_warmup", "freeze_last_layer", "momentum", "center_momentum"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1]")


class WeightNormLinear(nn.Module):
    """Linear layer without bias whose rows are unit vectors: W = v / ||v|| (weight norm with g fixed to 1)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))  # nn.Linear's initialisation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.normalize(self.weight_v, dim=1))


class DINOHead(nn.Module):
    """(B, D) -> MLP (GELU) -> L2-normalised bottleneck -> weight-normalised linear -> logits (B, K)."""

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )  # fmt: skip
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))


class DINO(Objective):
    Options = Options
    log_terms = ("teacher_temp",)

    def __init__(self, config, data=None):
        super().__init__(config, data)
        o = self.options
        encoder = self.new_encoder()
        head = DINOHead(encoder.embedding_size, o.hidden_dim, o.bottleneck_dim, o.out_dim)
        self.network = EncoderProjector(encoder, head)
        self.set_target(make_target(self.network))
        self.register_buffer("center", torch.zeros(1, o.out_dim))
        self.global_frames = o.global_frames or config.crop_frames
        self.local_frames = o.local_frames or config.crop_frames // 2
        if not 0 < self.local_frames <= self.global_frames <= config.crop_frames:
            raise ValueError(
                f"DINO crops must satisfy 0 < local ({self.local_frames}) <= global ({self.global_frames}) <= "
                f"--crop-frames ({config.crop_frames}) frames"
            )
        self.step = 0  # the optimiser step being taken, for the schedules

    def teacher_temp(self, step: int) -> float:
        o = self.options
        warmup = round(o.teacher_temp_warmup * self.config.max_steps)
        if step >= warmup:
            return o.teacher_temp
        return o.warmup_teacher_temp + (o.teacher_temp - o.warmup_teacher_temp) * step / warmup

    def begin_step(self, state) -> None:
        self.step = state.step

    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        o = self.options
        lengths = [self.global_frames] * o.global_crops + [self.local_frames] * o.local_crops
        views = [normalize_batch(v) for v in augment.multi_crop(batch.x, lengths)]
        inputs = {"global": torch.cat(views[: o.global_crops])}
        if o.local_crops:
            inputs["local"] = torch.cat(views[o.global_crops :])
        return inputs

    def forward(self, inputs):
        o = self.options
        # One encoder pass per crop length (the crops of one length share batch-norm statistics).
        student = list(self.network(inputs["global"])[1].chunk(o.global_crops))
        if "local" in inputs:
            student += list(self.network(inputs["local"])[1].chunk(o.local_crops))
        with torch.no_grad():
            teacher_logits = self.target(inputs["global"])[1]
        temp = self.teacher_temp(self.step)
        loss = dino_loss(student, list(teacher_logits.chunk(o.global_crops)), self.center, o.student_temp, temp)
        self.update_center(teacher_logits)
        return loss, {"ssl_loss": loss.detach(), "teacher_temp": torch.tensor(temp)}

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        """center <- m center + (1 - m) mean of the teacher's logits over the global batch (all ranks)."""
        total = teacher_logits.float().sum(0, keepdim=True)
        count = torch.tensor(float(teacher_logits.shape[0]), device=total.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(total)
            dist.all_reduce(count)
        self.center.mul_(self.options.center_momentum).add_(total / count, alpha=1 - self.options.center_momentum)

    def before_optimizer_step(self, step: int) -> None:
        # DINO keeps the last layer fixed at first: updating it early makes training unstable.
        if step < round(self.options.freeze_last_layer * self.config.max_steps):
            for parameter in self.network.projector.last_layer.parameters():
                parameter.grad = None

    def after_step(self, step: int) -> dict[str, float]:
        momentum = cosine_decay(step, self.config.max_steps, self.options.momentum)
        ema_update(self.target, self.network, momentum)
        return {"ema_decay": momentum}
