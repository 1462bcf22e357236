"""Exponential moving average of a network's weights: BYOL's target network.

`ema_update` blends parameters in place (target <- decay * target + (1 - decay) * online) under `no_grad`.
Buffers are *copied* from the online network rather than averaged: batch-norm running statistics and
counters describe the online network's current activations, and averaging an integer counter is
meaningless. Pass the unwrapped online module (not a DDP wrapper), whose parameter order matches.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen deep copy of `online` to be updated only by `ema_update`."""
    target = copy.deepcopy(online)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """target <- decay * target + (1 - decay) * online for parameters; buffers are copied.

    Parameters
    ----------
    target, online : nn.Module
        Modules of identical structure.
    decay : float in [0, 1]
        1 keeps the target unchanged, 0 copies the online network.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must lie in [0, 1], got {decay}")
    target_params, online_params = list(target.parameters()), list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError("target and online networks differ in structure (did you pass a DDP wrapper?)")
    for t, o in zip(target_params, online_params):
        t.lerp_(o.detach(), 1.0 - decay)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


def cosine_decay(step: int, total_steps: int, base: float) -> float:
    """BYOL's schedule: decay rises from `base` to 1 along a half cosine over training.

    tau_k = 1 - (1 - base) * (cos(pi * k / K) + 1) / 2.
    """
    if total_steps <= 0:
        return base
    progress = min(max(step / total_steps, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
