#!/usr/bin/env python3
"""Pretraining throughput: samples/s and peak memory per objective and encoder, plus augmentation cost.

Each (objective, encoder) pair runs in its own subprocess (so peak memory is its own): the training loop's
own `train_step` (the objective's views and targets, forward, backward, AdamW step, EMA or other updates),
on synthetic log-mel batches held in memory so the number measures compute, not disk. Peak memory is
CUDA's max allocated on a GPU, the process's peak RSS on the CPU.

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

from hear_ssl.pretrain.objectives import OBJECTIVES

ENCODERS = {
    "audiontt2020-d2048": {"arch": "audiontt2020", "d": 2048},
    "audiontt2022-d2048": {"arch": "audiontt2022", "d": 2048},
    "audiontt2022-d3072": {"arch": "audiontt2022", "d": 3072},
    "cvt": {"arch": "cvt"},
}
# Encoders of the model zoo, trained only by their own objectives (settings of the objective's options).
ZOO_ENCODERS = {
    "atst-small": ({"atst_clip", "atst_frame"}, {"embed_dim": 384, "depth": 12, "num_heads": 6}),
    "atst-4x192": ({"atst_clip", "atst_frame"}, {"embed_dim": 192, "depth": 4, "num_heads": 3}),
    # BEATs reads 128-bin Kaldi fbank crops (FBANK_ENCODERS).
    "beats-4x192": ({"beats"}, {"layers": 4, "dim": 192, "heads": 4, "ffn": 768, "predictor_layers": 1}),
    "beats-12x768": ({"beats"}, {}),
    # The tempo TCN at its published size, on views of the official 13.6-s excerpt (crops of 1634 frames).
    "tempo-tcn": ({"tempo"}, {}),
    "conformer-4x192": ({"conformer_w2v2"}, {"layers": 4, "dim": 192, "heads": 4, "ffn": 768}),
    "conformer-base": ({"conformer_w2v2"}, {}),  # the paper's base: 12 x 256, 10-s crops
}
# Zoo encoders whose raw cached input is not the 64-band log-mel: (scale, shift) turning the random crops
# (about -2 +- 5) into its levels. The bands come from the objective's cache front-end.
RAW_LEVELS = {
    "beats-4x192": (1.3, 17.0),  # Kaldi fbank (BEATs normalises with mean 15.4, std 6.6)
    "beats-12x768": (1.3, 17.0),
    "tempo-tcn": (0.6, -7.0),  # the TCN's 44.1-kHz log(mel + 1e-7)
}
# Objectives without a synthetic row: beats_tokenizer needs a trained teacher file.
NO_SYNTHETIC_ROW = {"beats_tokenizer"}


def compatible(objective: str, encoder: str) -> bool:
    """Log-mel encoders go with the objectives of `config.encoder`, zoo encoders with their own objectives."""
    zoo = {o for objectives, _ in ZOO_ENCODERS.values() for o in objectives} | NO_SYNTHETIC_ROW
    if encoder in ZOO_ENCODERS:
        return objective in ZOO_ENCODERS[encoder][0]
    return encoder in ENCODERS and objective not in zoo


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class RandomCrops:
    """Stands in for `LogMelCrops` with random log-mels in memory, so the step measures compute, not disk."""

    def __init__(self, count: int, n_mels: int = 64, frames: int = 96, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.data = torch.randn(count, n_mels, frames, generator=generator) * 5 - 2
        self.n_mels, self.segments, self.epoch, self.position = n_mels, list(range(count)), 0, 0

    def crop(self, index: int):
        return self.data[index].numpy()

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = (self.position + torch.arange(batch_size)) % len(self.segments)
        self.position = int(ids[-1]) + 1
        return self.data[ids][:, None], ids

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "num_segments": len(self.segments)}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


def measure_step(objective: str, encoder: str, batch: int, steps: int, device: str, dtype: str, expander: int) -> dict:
    from hear_ssl.config import EncoderConfig
    from hear_ssl.pretrain.config import PretrainConfig
    from hear_ssl.pretrain.objectives import objective_class
    from hear_ssl.pretrain.objectives.base import ObjectiveData
    from hear_ssl.pretrain.state import TrainState, train_step

    zoo = encoder in ZOO_ENCODERS
    config = PretrainConfig(
        objective=objective, encoder=EncoderConfig() if zoo else EncoderConfig(**ENCODERS[encoder]),
        options=ZOO_ENCODERS[encoder][1] if zoo else {}, batch_size=batch, dtype=dtype,
        expander_dims=(expander,) * 3, features="torch", mixup_memory=min(2048, 4 * batch), device=device,
    )  # fmt: skip
    kind = objective_class(objective)
    crops = RandomCrops(max(4 * batch, 256), n_mels=kind.cache_frontend(config).n_mels, frames=kind.crop_frames(config))
    scale, shift = RAW_LEVELS.get(encoder, (1.0, 0.0))
    crops.data = crops.data * scale + shift
    torch.manual_seed(0)
    state = TrainState.create(config, ObjectiveData(crops, device=device, norm_mean=-2.0, norm_std=5.0))
    state.objective.prepare(ObjectiveData(crops, device=device))
    state.objective.train()

    def step():
        train_step(state)

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
        "encoder_params": sum(p.numel() for p in state.objective.encoder.parameters()),
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
    parser.add_argument("--encoders", default=",".join([*ENCODERS, *ZOO_ENCODERS]))
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
        pairs = [(o, e) for e in args.encoders.split(",") for o in args.objectives.split(",") if compatible(o, e)]
    known = {**ENCODERS, **ZOO_ENCODERS}
    unknown = sorted({e for _, e in pairs if e not in known} | {o for o, _ in pairs if o not in OBJECTIVES})
    if unknown:
        raise SystemExit(f"unknown objective or encoder {unknown}; objectives {OBJECTIVES}, encoders {list(known)}")
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
