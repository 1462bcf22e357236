"""Inference precision of the zoo embedders: fp32, or autocast to bf16 / fp16 (weights stay fp32)."""

from __future__ import annotations

from contextlib import nullcontext

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str):
    """A context running matmuls and convolutions in `precision` on `device` (a no-op for fp32)."""
    dtype = PRECISIONS[check_precision(precision)]
    return nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)
