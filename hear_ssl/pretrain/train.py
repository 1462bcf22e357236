"""The pretraining loop: one readable function for every objective, 1..N processes, CPU or GPU.

Shape of a step (nanoGPT style):

    crops  = sampler.next_batch()                 # (B, 1, 64, 96) raw log-mels from the shard cache
    x      = (crops - mean) / std                 # corpus statistics, saved with the weights
    v1, v2 = augment(x)                           # BYOL-A mixup + random resize crop + fader, in batch
    v1, v2 = normalize_batch(v1), normalize_batch(v2)
    loss   = objective(online(v1, v2), target(v1, v2), handcrafted features)
    backward, optimiser step, scheduler step, EMA update of the target

Checkpoints hold everything that influences later steps (model, EMA target, optimiser, scheduler, grad
scaler, augmentation generator and mixup memory, sampler position, global RNGs), so a run killed at any
moment and restarted with the same command continues exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..data.cache import build_logmel_cache, cache_report, read_manifest
from ..data.crops import LogMelCrops
from ..data.files import resolve_audio_files
from ..ssl.augment import BYOLAugment, normalize_batch
from ..ssl.ema import cosine_decay, ema_update, make_target
from ..ssl.handcrafted import logmel_features, num_torch_features, opensmile_segment_features
from ..ssl.losses import barlow_twins_loss, byol_loss, feature_regression_loss, hybrid_loss, vicreg_loss
from .checkpoint import CHECKPOINT, LOG, CsvLog, load_checkpoint, rng_state, save_atomic, set_rng_state, write_progress
from .config import PretrainConfig
from .distributed import barrier, gather_objects, gather_with_grad, init_distributed, shutdown
from .learner import Learner

# Settings that may change between a checkpoint and its resumption without changing what is computed.
RESUMABLE_CHANGES = {"max_steps", "checkpoint_every", "log_every", "progress", "out_dir", "data", "device"}
# Segments used to fit the standardiser of the torch handcrafted features.
STANDARDISER_SAMPLES = 2048


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return name


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


def ensure_cache(config: PretrainConfig, context, out_dir: Path) -> Path:
    """The log-mel cache for this run, built by rank 0 if it is missing or unfinished."""
    cache_dir = Path(config.cache_dir) if config.cache_dir else out_dir / "logmel-cache"
    manifest_path = cache_dir / "manifest.json"
    if context.is_master:
        finished = False
        if manifest_path.exists():
            try:
                read_manifest(cache_dir)
                finished = True
            except ValueError:
                finished = False
        if not finished:
            if not config.data:
                raise ValueError(f"no finished log-mel cache at {cache_dir}; pass --data DIR|LIST to build it")
            build_logmel_cache(resolve_audio_files(config.data), cache_dir, config.frontend, progress=config.progress)
    barrier(context)
    cached_frontend = read_manifest(cache_dir)["frontend"]
    if cached_frontend != config.frontend.to_dict():
        raise ValueError(
            f"the cache at {cache_dir} was built with front-end {cached_frontend}, but this run uses "
            f"{config.frontend.to_dict()}; use another --cache-dir"
        )
    return cache_dir


def setup_features(config: PretrainConfig, crops: LogMelCrops, cache_dir: Path, context):
    """Hybrid objective: (number of features, per-segment feature table or None for the torch set)."""
    if config.objective != "hybrid":
        return 0, None
    if config.features == "torch":
        return num_torch_features(crops.n_mels), None
    # openSMILE features need the waveform: computed once for a fixed subset of fixed segments.
    rng = np.random.default_rng([config.seed, 17])
    count = min(config.feature_max_segments, len(crops.segments))
    subset = np.sort(rng.choice(len(crops.segments), size=count, replace=False))
    path = cache_dir / f"features-{config.features}-c{config.crop_frames}-n{count}-s{config.seed}.npz"
    hop = config.frontend.hop_length
    if context.is_master:
        opensmile_segment_features(
            crops.segments[subset], crops.paths, config.crop_frames, hop, config.features, path, config.progress
        )
    barrier(context)
    table = opensmile_segment_features(
        crops.segments[subset], crops.paths, config.crop_frames, hop, config.features, path, progress=False
    )
    crops.select(subset)
    return table.shape[1], torch.from_numpy(table)


def feature_targets(learner: Learner, raw: torch.Tensor, ids: torch.Tensor, table) -> torch.Tensor:
    features = logmel_features(raw) if table is None else table[ids].to(raw.device)
    return learner.standardiser(features)


@torch.no_grad()
def fit_standardiser(learner: Learner, crops: LogMelCrops, table, config: PretrainConfig, device: str) -> None:
    if table is not None:
        learner.standardiser.fit(table)
        return
    rng = np.random.default_rng([config.seed, 23])
    ids = rng.choice(len(crops.segments), size=min(STANDARDISER_SAMPLES, len(crops.segments)), replace=False)
    raw = torch.from_numpy(np.stack([crops.crop(int(i)) for i in ids])[:, None]).to(device)
    learner.standardiser.fit(logmel_features(raw).cpu())


def objective_loss(config: PretrainConfig, out: dict, target_projection, targets) -> tuple[torch.Tensor, dict]:
    base = config.base_objective
    if base == "byol":
        p1, p2 = out["prediction"].chunk(2)
        t1, t2 = target_projection.chunk(2)
        ssl = byol_loss(p1, p2, t1, t2)
    elif base == "barlow_twins":
        z1, z2 = out["projection"].chunk(2)
        ssl = barlow_twins_loss(z1, z2, lambd=config.bt_lambda, gather=gather_with_grad)
    else:
        z1, z2 = out["projection"].chunk(2)
        sim, var, cov = config.vicreg_weights
        ssl = vicreg_loss(z1, z2, sim, var, cov, gather=gather_with_grad)
    if config.objective != "hybrid":
        return ssl, {"ssl_loss": ssl.detach()}
    feature = feature_regression_loss(out["features"], targets.repeat(2, 1))
    return hybrid_loss(ssl, feature, config.feature_weight), {
        "ssl_loss": ssl.detach(),
        "feature_loss": feature.detach(),
    }


def forward_loss(config: PretrainConfig, model, target, view1, view2, targets) -> tuple[torch.Tensor, dict]:
    """One training forward: the online network on both views, the EMA target's projections (BYOL), the loss."""
    out = model(view1, view2)
    target_projection = None
    if target is not None:
        with torch.no_grad():
            target_projection = target(torch.cat([view1, view2]))[1]
    return objective_loss(config, out, target_projection, targets)


def check_resumable(saved: dict, config: PretrainConfig) -> None:
    current, previous = config.to_dict(), PretrainConfig.from_dict(saved).to_dict()
    changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and previous[k] != current[k])
    if changed:
        raise ValueError(
            f"the checkpoint in {config.out_dir} was trained with different settings ({', '.join(changed)}); "
            "resume with the original settings or choose a new --out-dir"
        )


def pretrain(config: PretrainConfig) -> Path:
    """Run (or resume) pretraining; returns the path of the final checkpoint."""
    device = resolve_device(config.device)
    context = init_distributed(device)
    if context.enabled and device == "cuda":
        device = f"cuda:{context.local_rank}"
    try:
        return _pretrain(config, device, context)
    finally:
        shutdown(context)


def _pretrain(config: PretrainConfig, device: str, context) -> Path:
    out_dir = Path(config.out_dir)
    if context.is_master:
        out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = ensure_cache(config, context, out_dir)
    stats = cache_report(cache_dir)
    # Each rank draws different dropout masks; everything else random has its own explicit generator.
    torch.manual_seed(config.seed + context.rank)
    opensmile_features = config.objective == "hybrid" and config.features != "torch"
    crops = LogMelCrops(
        cache_dir, config.crop_frames, config.seed, jitter=not opensmile_features, rank=context.rank,
        world_size=context.world_size, max_segments_per_file=config.max_segments_per_file,
    )  # fmt: skip
    num_features, feature_table = setup_features(config, crops, cache_dir, context)

    learner = Learner(config, num_features).to(device)
    target = make_target(learner.network) if config.uses_target_network else None
    optimizer = torch.optim.AdamW(learner.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
    amp_dtype = autocast_dtype(config, device)
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    # Loss scaling is only needed for float16; bfloat16 has float32's range.
    scaler = torch.amp.GradScaler(device_type, enabled=amp_dtype == torch.float16)
    autocast = torch.autocast(device_type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    augment = BYOLAugment(
        memory_size=config.mixup_memory, mixup_ratio=config.mixup_ratio, fader_gain=config.fader_gain,
        freq_scale=config.crop_freq_scale, time_scale=config.crop_time_scale, seed=config.seed * 1000 + context.rank,
    )  # fmt: skip
    norm_mean, norm_std = stats.mean, stats.std

    checkpoint_path = out_dir / CHECKPOINT
    step = 0
    if checkpoint_path.exists():
        saved = load_checkpoint(checkpoint_path)
        check_resumable(saved["config"], config)
        if saved["world_size"] != context.world_size:
            raise ValueError(
                f"checkpoint was written by {saved['world_size']} processes, this run has {context.world_size}; "
                "resume with the same number of processes"
            )
        learner.load_state_dict(saved["model"])
        if target is not None:
            target.load_state_dict(saved["target"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        mine = saved["ranks"][context.rank]
        augment.load_augment_state(mine["augment"], device)
        crops.load_state_dict(mine["data"])
        set_rng_state(mine["rng"])
        norm_mean, norm_std = saved["norm"]["mean"], saved["norm"]["std"]
        step = saved["step"]
    elif config.objective == "hybrid":
        fit_standardiser(learner, crops, feature_table, config, device)
    log = CsvLog(out_dir / LOG, step if checkpoint_path.exists() else None) if context.is_master else None

    model = (
        DistributedDataParallel(learner, device_ids=[context.local_rank] if device_type == "cuda" else None)
        if context.enabled
        else learner
    )

    def save(step: int) -> None:
        # Every rank's augmentation memory, sampler position and RNGs; rank 0 writes them all.
        ranks = gather_objects(
            {"augment": augment.augment_state(), "data": crops.state_dict(), "rng": rng_state()}, context
        )
        if context.is_master:
            payload = {
                "config": config.to_dict(), "step": step, "world_size": context.world_size,
                "model": learner.state_dict(), "target": None if target is None else target.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "ranks": ranks, "norm": {"mean": norm_mean, "std": norm_std},
                "corpus": {"files": stats.files, "hours": stats.hours, "segments": len(crops.segments)},
            }  # fmt: skip
            save_atomic(payload, checkpoint_path)
            write_progress(out_dir, step)
        barrier(context)

    samples_per_step = config.batch_size * config.grad_accum * context.world_size
    start_step, started = step, time.time()
    from tqdm import tqdm

    bar = tqdm(total=config.max_steps, initial=step, desc=f"pretrain {config.objective}", unit="step",
               disable=not (config.progress and context.is_master))  # fmt: skip
    learner.train()
    if target is not None:
        target.train()  # BYOL's target uses batch statistics too
    while step < config.max_steps:
        for micro in range(config.grad_accum):
            raw, ids = crops.next_batch(config.batch_size)
            raw = raw.to(device, non_blocking=True)
            x = (raw - norm_mean) / norm_std
            view1, view2 = augment(x)
            view1, view2 = normalize_batch(view1), normalize_batch(view2)
            targets = feature_targets(learner, raw, ids, feature_table) if config.objective == "hybrid" else None
            # Gradients are averaged over ranks only on the last micro-step.
            sync = nullcontext() if (not context.enabled or micro == config.grad_accum - 1) else model.no_sync()
            with sync:
                with autocast:
                    loss, parts = forward_loss(config, model, target, view1, view2, targets)
                scaler.scale(loss / config.grad_accum).backward()
        if config.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(learner.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        decay = (
            config.ema_decay
            if config.ema_schedule == "constant"
            else cosine_decay(step, config.max_steps, config.ema_decay)
        )
        if target is not None:
            ema_update(target, learner.network, decay)
        step += 1
        bar.update(1)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower --lr or check the data")
        if log is not None and (step % config.log_every == 0 or step == config.max_steps):
            elapsed = time.time() - started
            log.write({
                "step": step, "epoch": crops.epoch, "loss": f"{loss.item():.6f}",
                "ssl_loss": f"{parts['ssl_loss'].item():.6f}",
                "feature_loss": f"{parts['feature_loss'].item():.6f}" if "feature_loss" in parts else "",
                "lr": f"{scheduler.get_last_lr()[0]:.3e}", "ema_decay": f"{decay:.6f}" if target is not None else "",
                "samples_per_s": f"{(step - start_step) * samples_per_step / max(elapsed, 1e-9):.1f}",
                "elapsed_s": f"{elapsed:.1f}",
            })  # fmt: skip
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            save(step)
    bar.close()
    return checkpoint_path
