"""The pretraining loop: one readable function for every objective, 1..N processes, CPU or GPU.

Shape of a step (nanoGPT style; `state.train_step`):

    crops  = sampler.next_batch()                 # (B, 1, 64, 96) raw log-mels from the shard cache
    x      = (crops - mean) / std                 # corpus statistics, saved with the weights
    inputs = objective.inputs(x)                  # e.g. two BYOL-A views (mixup, resize crop, fader), in batch
    loss   = objective(inputs)                    # heads, EMA target, loss: all the objective's
    backward, optimiser step, scheduler step, objective.after_step (e.g. EMA update of the target)

Checkpoints (`TrainState.state_dict`) hold everything that influences later steps (model, EMA target,
optimiser, scheduler, grad scaler, augmentation generator and mixup memory, sampler position, global RNGs),
so a run killed at any moment and restarted with the same command continues exactly as if it had never
stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data.cache import build_logmel_cache, cache_report, read_manifest
from ..data.crops import LogMelCrops
from ..data.files import resolve_audio_files
from ..io import atomic_torch_save, choose_device
from .checkpoint import CHECKPOINT, LOG, LOG_FIELDS, CsvLog, load_checkpoint, write_progress
from .config import PretrainConfig
from .distributed import barrier, init_distributed, shutdown
from .objectives import objective_class
from .objectives.base import ObjectiveData
from .state import TrainState, lr_factor, train_step

__all__ = ["ensure_cache", "lr_factor", "pretrain"]


def ensure_cache(config: PretrainConfig, context, out_dir: Path) -> Path:
    """The log-mel cache for this run, built by rank 0 if it is missing or unfinished."""
    cache_dir = Path(config.cache_dir) if config.cache_dir else out_dir / "logmel-cache"
    frontend = objective_class(config.objective).cache_frontend(config)
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
            build_logmel_cache(resolve_audio_files(config.data), cache_dir, frontend, progress=config.progress)
    barrier(context)
    cached_frontend = read_manifest(cache_dir)["frontend"]
    if cached_frontend != frontend.to_dict():
        raise ValueError(
            f"the cache at {cache_dir} was built with front-end {cached_frontend}, but this run uses "
            f"{frontend.to_dict()}; use another --cache-dir"
        )
    return cache_dir


def pretrain(config: PretrainConfig) -> Path:
    """Run (or resume) pretraining; returns the path of the final checkpoint."""
    device = str(choose_device(config.device))
    context = init_distributed(device)
    if context.enabled and device == "cuda":
        device = f"cuda:{context.local_rank}"
    try:
        return _pretrain(config, device, context)
    finally:
        shutdown(context)


def log_row(state: TrainState, loss: torch.Tensor, terms: dict, samples_per_s: float, elapsed: float) -> dict:
    """One log.csv row: loss terms to 6 decimals, the learning rate in 3 significant digits."""
    row = {"step": state.step, "epoch": state.crops.epoch, "loss": f"{loss.item():.6f}"}
    for name, value in terms.items():
        row[name] = f"{float(value):.6f}"
    row.update({
        "lr": f"{state.scheduler.get_last_lr()[0]:.3e}", "samples_per_s": f"{samples_per_s:.1f}",
        "elapsed_s": f"{elapsed:.1f}",
    })  # fmt: skip
    return row


def _pretrain(config: PretrainConfig, device: str, context) -> Path:
    out_dir = Path(config.out_dir)
    if context.is_master:
        out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = ensure_cache(config, context, out_dir)
    stats = cache_report(cache_dir)
    # Each rank draws different dropout masks; everything else random has its own explicit generator.
    torch.manual_seed(config.seed + context.rank)
    kind = objective_class(config.objective)
    crops = LogMelCrops(
        cache_dir, kind.crop_frames(config), config.seed, jitter=kind.jitter_crops(config), rank=context.rank,
        world_size=context.world_size, max_segments_per_file=config.max_segments_per_file,
    )  # fmt: skip
    data = ObjectiveData(crops, cache_dir, context, device, stats.mean, stats.std)
    corpus = {"files": stats.files, "hours": stats.hours, "segments": None}
    state = TrainState.create(config, data, corpus)
    state.corpus["segments"] = len(crops.segments)  # after the objective may have selected segments

    checkpoint_path = out_dir / CHECKPOINT
    resuming = checkpoint_path.exists()
    if resuming:
        state.load_state_dict(load_checkpoint(checkpoint_path))
    else:
        state.objective.prepare(data)
    fields = LOG_FIELDS + [t for t in kind.log_terms if t not in LOG_FIELDS]
    log = CsvLog(out_dir / LOG, state.step if resuming else None, fields) if context.is_master else None
    state.wrap_for_ddp()

    def save() -> None:
        payload = state.state_dict()  # every rank takes part: per-rank state is gathered
        if context.is_master:
            atomic_torch_save(payload, checkpoint_path)
            write_progress(out_dir, state.step)
        barrier(context)

    samples_per_step = config.batch_size * config.grad_accum * context.world_size
    start_step, started = state.step, time.time()
    from tqdm import tqdm

    bar = tqdm(total=config.max_steps, initial=state.step, desc=f"pretrain {config.objective}", unit="step",
               disable=not (config.progress and context.is_master))  # fmt: skip
    state.objective.train()
    while state.step < config.max_steps:
        loss, terms = train_step(state)
        step = state.step
        bar.update(1)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower --lr or check the data")
        if log is not None and (step % config.log_every == 0 or step == config.max_steps):
            elapsed = time.time() - started
            log.write(log_row(state, loss, terms, (step - start_step) * samples_per_step / max(elapsed, 1e-9), elapsed))
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            save()
    bar.close()
    return checkpoint_path
