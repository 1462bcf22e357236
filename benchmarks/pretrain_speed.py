#!/usr/bin/env python3
"""Pretraining throughput: samples/s and peak memory per objective and encoder, plus augmentation cost.

Each (objective, encoder) pair runs in its own subprocess (so peak memory is its own): a full training
step as `hear_ssl.pretrain.train` does it (batch augmentation, both views through the encoder, EMA target
for BYOL, handcrafted features for the hybrid, backward, AdamW step), on synthetic log-mel batches so the
number measures compute, not disk. Peak memory is CUDA's max allocated on a GPU, the process's peak RSS on
the CPU.

The augmentation comparison runs BYOL-A's recipe on the same batch two ways: `BYOLAugment` on the
training device in one batched call, and `per_sample_augment`, one clip at a time on the CPU as the
official dataloader workers do.

    python benchmarks/pretrain_speed.py --batch-size 64 --steps 5 --out speed.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ENCODERS = {
    "audiontt2020-d2048": {"arch": "audiontt2020", "d": 2048},
    "audiontt2022-d2048": {"arch": "audiontt2022", "d": 2048},
    "audiontt2022-d3072": {"arch": "audiontt2022", "d": 3072},
    "cvt": {"arch": "cvt"},
}
OBJECTIVES = ("byol", "barlow_twins", "vicreg", "hybrid")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_step(objective: str, encoder: str, batch: int, steps: int, device: str, dtype: str, expander: int) -> dict:
    from hear_ssl.config import EncoderConfig
    from hear_ssl.pretrain.config import PretrainConfig
    from hear_ssl.pretrain.learner import Learner
    from hear_ssl.pretrain.train import autocast_dtype, forward_loss
    from hear_ssl.ssl.augment import BYOLAugment, normalize_batch
    from hear_ssl.ssl.ema import ema_update, make_target
    from hear_ssl.ssl.handcrafted import logmel_features, num_torch_features

    config = PretrainConfig(
        objective=objective, encoder=EncoderConfig(**ENCODERS[encoder]), batch_size=batch, dtype=dtype,
        expander_dims=(expander,) * 3, features="torch",
    )  # fmt: skip
    learner = Learner(config, num_torch_features(64) if objective == "hybrid" else 0).to(device)
    target = make_target(learner.network) if config.uses_target_network else None
    optimizer = torch.optim.AdamW(learner.parameters(), lr=3e-4)
    augment = BYOLAugment(memory_size=min(2048, 4 * batch))
    amp = autocast_dtype(config, device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    raw = torch.randn(batch, 1, 64, 96, device=device) * 5 - 2

    def step():
        view1, view2 = augment(raw)
        view1, view2 = normalize_batch(view1), normalize_batch(view2)
        targets = learner.standardiser(logmel_features(raw)) if objective == "hybrid" else None
        with torch.autocast(kind, dtype=amp, enabled=amp is not None):
            loss, _ = forward_loss(config, learner, target, view1, view2, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if target is not None:
            ema_update(target, learner.network, 0.99)

    step()  # warm-up: allocator, kernels, mixup memory
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    elapsed = time.perf_counter() - started
    return {
        "objective": objective,
        "encoder": encoder,
        "samples_per_s": round(batch * steps / elapsed, 1),
        "step_s": round(elapsed / steps, 3),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "encoder_params": sum(p.numel() for p in learner.encoder.parameters()),
    }


def measure_augmentation(batch: int, device: str, repeats: int) -> dict:
    from hear_ssl.ssl.augment import BYOLAugment, per_sample_augment

    x = torch.randn(batch, 1, 64, 96) * 5 - 2
    batched = BYOLAugment(memory_size=2048)
    on_device = x.to(device)
    batched(on_device)  # fill memory, warm up
    sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        batched(on_device)
    sync(device)
    batch_s = (time.perf_counter() - started) / repeats
    memory, rng = [], random.Random(0)
    for clip in x:
        per_sample_augment(clip, memory, rng)
    started = time.perf_counter()
    for _ in range(repeats):
        for clip in x:
            # Two views per clip, as the batched call makes.
            per_sample_augment(clip, memory, rng), per_sample_augment(clip, memory, rng)
    per_sample_s = (time.perf_counter() - started) / repeats
    return {
        "batch": batch,
        "device": device,
        "batched_on_device_samples_per_s": round(batch / batch_s, 1),
        "per_sample_cpu_samples_per_s": round(batch / per_sample_s, 1),
        "speedup": round(per_sample_s / batch_s, 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto = bf16 autocast on CUDA, fp32 on CPU")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--expander", type=int, default=4096, help="Barlow Twins / VICReg expander width")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--pairs", help="OBJECTIVE:ENCODER,... instead of every objective x encoder")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--one", nargs=2, metavar=("OBJECTIVE", "ENCODER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    if args.one:
        result = measure_step(*args.one, args.batch_size, args.steps, device, args.dtype, args.expander)
        print(json.dumps(result))
        return 0

    if args.pairs:
        pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    else:
        pairs = [(o, e) for e in args.encoders.split(",") for o in args.objectives.split(",")]
    unknown = sorted({e for _, e in pairs if e not in ENCODERS} | {o for o, _ in pairs if o not in OBJECTIVES})
    if unknown:
        raise SystemExit(f"unknown objective or encoder {unknown}; objectives {OBJECTIVES}, encoders {list(ENCODERS)}")
    rows = []
    for objective, encoder in pairs:
        cmd = [sys.executable, __file__, "--one", objective, encoder, "--device", device, "--dtype", args.dtype,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--expander", str(args.expander)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            rows.append({"objective": objective, "encoder": encoder, "error": done.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    augmentation = measure_augmentation(args.batch_size, device, repeats=max(1, args.steps))
    print(json.dumps(augmentation), flush=True)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n{name}, batch {args.batch_size}, dtype {args.dtype}")
    print("| encoder | objective | samples/s | step (s) | peak memory (MB) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['encoder']} | {r['objective']} | error: {r['error']} | | |")
        else:
            print(
                f"| {r['encoder']} | {r['objective']} | {r['samples_per_s']} | {r['step_s']} | {r['peak_memory_mb']} |"
            )
    print(
        f"\naugmentation, batch {augmentation['batch']}: batched on {device} "
        f"{augmentation['batched_on_device_samples_per_s']} samples/s vs per-sample CPU "
        f"{augmentation['per_sample_cpu_samples_per_s']} samples/s ({augmentation['speedup']}x)"
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {"device": name, "batch": args.batch_size, "steps": rows, "augmentation": augmentation}, indent=1
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
