"""Everything a pretraining run carries from step to step (`TrainState`), and the one `train_step`.

`TrainState.state_dict()` is the checkpoint layout, in one place:

    config, step, world_size        the run's settings, optimiser steps done, number of processes
    model                           the objective's state dict (encoder, heads, buffers such as DINO's centre)
    target                          its EMA target network's state dict, or None
    optimizer, scheduler, scaler    AdamW, the learning-rate schedule, the float16 grad scaler
    ranks                           per process: augmentation generator + mixup memory, sampler position, RNGs
    norm, corpus                    the corpus log-mel mean/std the encoder input uses; corpus size

The training loop (`train.py`) and `benchmarks/pretrain_speed.py` both call `train_step`, so the benchmark
measures the step that trains.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ..ssl.augment import BYOLAugment
from .checkpoint import rng_state, set_rng_state
from .config import PretrainConfig
from .distributed import DistributedContext, gather_objects
from .objectives import build_objective
from .objectives.base import Batch, Objective, ObjectiveData

# Settings that may change between a checkpoint and its resumption without changing what is computed.
RESUMABLE_CHANGES = {"max_steps", "checkpoint_every", "log_every", "progress", "out_dir", "data", "device"}


def autocast_dtype(config: PretrainConfig, device: str) -> torch.dtype | None:
    """bfloat16 autocast on CUDA by default (no loss scaling needed); plain float32 on CPU."""
    if config.dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else None
    return {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[config.dtype]


def lr_factor(step: int, config: PretrainConfig) -> float:
    """Linear warm-up, then constant (BYOL-A) or a half cosine down to `min_lr_ratio`."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.min_lr_ratio >= 1.0:
        return 1.0
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    progress = min(progress, 1.0)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def check_resumable(saved: dict, config: PretrainConfig, out_dir: str = "") -> None:
    current, previous = config.to_dict(), PretrainConfig.from_dict(saved).to_dict()
    changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and previous[k] != current[k])
    if changed:
        raise ValueError(
            f"the checkpoint in {out_dir or config.out_dir} was trained with different settings "
            f"({', '.join(changed)}); resume with the original settings or choose a new --out-dir"
        )


@dataclass
class TrainState:
    """The objective, its optimiser and everything random or positional that later steps depend on.

    Build it with `TrainState.create`; `model` is the objective itself or, after `wrap_for_ddp`, its DDP wrapper.
    """

    config: PretrainConfig
    device: str
    context: DistributedContext
    objective: Objective
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    augment: BYOLAugment
    crops: Any
    norm: dict
    corpus: dict = field(default_factory=dict)
    step: int = 0

    @classmethod
    def create(cls, config: PretrainConfig, data: ObjectiveData, corpus: dict | None = None) -> TrainState:
        """Fresh objective, optimiser and augmenter for `config`, on `data.device`.

        The global torch seed must be set before (the objective's initial weights draw from it).
        """
        device, context = data.device, data.context or DistributedContext()
        objective = build_objective(config, data).to(device)
        optimizer = torch.optim.AdamW(objective.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
        device_type = "cuda" if device.startswith("cuda") else "cpu"
        # Loss scaling is only needed for float16; bfloat16 has float32's range.
        scaler = torch.amp.GradScaler(device_type, enabled=autocast_dtype(config, device) == torch.float16)
        augment = objective.new_augment(config, seed=config.seed * 1000 + context.rank)
        norm = {"mean": data.norm_mean, "std": data.norm_std}
        return cls(config, device, context, objective, objective, optimizer, scheduler, scaler, augment, data.crops,
                   norm, corpus or {})  # fmt: skip

    def wrap_for_ddp(self) -> None:
        """Under torchrun, train through a DDP wrapper (made after resuming: it broadcasts rank 0's weights)."""
        if self.context.enabled and self.model is self.objective:
            device_ids = [self.context.local_rank] if self.device.startswith("cuda") else None
            self.model = DistributedDataParallel(self.objective, device_ids=device_ids)

    def state_dict(self) -> dict:
        """The checkpoint (see the module docstring). Every rank must call it: it gathers per-rank state.

        Its tensors are the live weights (no copy): write it out before the next step.
        """
        ranks = gather_objects(
            {"augment": self.augment.augment_state(), "data": self.crops.state_dict(), "rng": rng_state()},
            self.context,
        )
        target = self.objective.target
        return {
            "config": self.config.to_dict(), "step": self.step, "world_size": self.context.world_size,
            "model": self.objective.state_dict(), "target": None if target is None else target.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "ranks": ranks, "norm": dict(self.norm), "corpus": dict(self.corpus),
        }  # fmt: skip

    def load_state_dict(self, saved: dict) -> None:
        """Continue from a checkpoint of the same settings and number of processes (ValueError otherwise)."""
        check_resumable(saved["config"], self.config)
        if saved["world_size"] != self.context.world_size:
            raise ValueError(
                f"checkpoint was written by {saved['world_size']} processes, this run has "
                f"{self.context.world_size}; resume with the same number of processes"
            )
        self.objective.load_state_dict(saved["model"])
        if self.objective.target is not None:
            self.objective.target.load_state_dict(saved["target"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        mine = saved["ranks"][self.context.rank]
        self.augment.load_augment_state(mine["augment"], self.device)
        self.crops.load_state_dict(mine["data"])
        set_rng_state(mine["rng"])
        self.norm = {"mean": saved["norm"]["mean"], "std": saved["norm"]["std"]}
        self.step = saved["step"]

    def autocast(self):
        dtype = autocast_dtype(self.config, self.device)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=dtype) if dtype is not None else nullcontext()


def train_step(state: TrainState) -> tuple[torch.Tensor, dict]:
    """One optimiser step on `grad_accum` micro-batches drawn by the objective from `state.crops`.

    Returns the last micro-batch's loss and the logged terms (the objective's, then `after_step`'s).
    """
    config, objective = state.config, state.objective
    objective.begin_step(state)
    for micro in range(config.grad_accum):
        raw, ids = objective.next_batch(state.crops, config.batch_size)
        raw = raw.to(state.device, non_blocking=True)
        x = (raw - state.norm["mean"]) / state.norm["std"]
        inputs = objective.inputs(Batch(raw, x, ids), state.augment)
        # Gradients are averaged over ranks only on the last micro-step.
        last = micro == config.grad_accum - 1
        sync = nullcontext() if (not state.context.enabled or last) else state.model.no_sync()
        with sync:
            with state.autocast():
                loss, terms = state.model(inputs)
            state.scaler.scale(loss / config.grad_accum).backward()
    objective.before_optimizer_step(state.step)
    if config.grad_clip > 0:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(objective.parameters(), config.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    terms = {**terms, **objective.after_step(state.step)}
    state.step += 1
    return loss, terms
