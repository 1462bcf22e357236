"""Make heareval 2021.1.3 run on current torch and pytorch-lightning 1.9, inside the harness only.

Nothing here runs on `import hear_ssl` or `import hear_ssl.evaluation`: the patches are applied by the
`heareval_compat` context manager, which the prediction worker enters around heareval's code and
leaves (restoring everything) afterwards. Each fix has a test in `tests/test_eval_compat.py` that
runs heareval without it and sees the original failure.

The fixes:

`weights_only_reload`
    heareval reloads its own Lightning checkpoints (`torch.load(best_model_path)["epoch"]`, then
    `trainer.test(ckpt_path=...)`). Since torch 2.6 `torch.load` defaults to `weights_only=True`, and
    those checkpoints pickle the hyperparameters heareval stores (`torch.nn.BatchNorm1d`, an init
    function, `torch.optim.Adam`), so every task fails with `UnpicklingError`. The fix defaults
    `weights_only=False` only for files inside the Lightning folder this harness created for the task
    (files this process wrote seconds earlier); every other `torch.load` keeps torch's safe default.

`fit_loop_current_epoch`
    Before testing, heareval sets `trainer.fit_loop.current_epoch = best_epoch` so the event model's
    `test_epoch_end` picks the post-processing chosen at the best validation epoch. Lightning 1.9
    removed that property, so the assignment silently creates a plain attribute, `current_epoch`
    stays at the last epoch, and `epoch_best_postprocessing[epoch]` raises `KeyError` on every event
    task. The fix restores the property with its old setter (writing the epoch progress counter).

`nvml_device_name`
    On CUDA machines heareval's profiler calls `pynvml.nvmlDeviceGetName(handle).decode("utf-8")`;
    current pynvml (nvidia-ml-py >= 11.5) already returns `str`, so the call raises `AttributeError`
    at the end of every task. The fix accepts both `bytes` and `str`.

`lightning_dir` (not a fix but a redirect, always applied)
    heareval builds `CSVLogger(Path("logs").joinpath(embedding_path))`, so its logs and its model
    checkpoints (several per grid point) land under `./logs` of whatever the working directory is,
    or inside the embeddings folder when the path is absolute. They go to the folder the harness
    passes instead, which it deletes after the task.

`seed` (not a fix but an option, applied when a seed is given)
    heareval calls `seed_everything(42)` once per task, which seeds Python's `random` (its grid
    sampling), numpy and torch (weight initialisation, dropout). With a seed, torch and numpy are
    seeded with it instead while `random` keeps heareval's 42, so a run draws other initialisations
    and dropout masks for exactly the grid points heareval samples: one more draw of heareval's own
    run-to-run distribution. Without one, heareval runs as published.
"""

import contextlib
import os
from pathlib import Path

FIXES = ("weights_only_reload", "fit_loop_current_epoch", "nvml_device_name")


@contextlib.contextmanager
def heareval_compat(lightning_dir, fixes=FIXES, seed=None):
    """Apply the compatibility fixes for the duration of the `with` block.

    Parameters
    ----------
    lightning_dir : str or Path
        Where heareval's Lightning logs and checkpoints are written (created if missing).
    fixes : iterable of str
        Which fixes to apply (default: all of `FIXES`); tests pass a subset to show each one is needed.
    seed : int, optional
        Seed torch and numpy with this instead of heareval's 42 (grid sampling keeps 42; see `seed` above).
    """
    unknown = set(fixes) - set(FIXES)
    if unknown:
        raise ValueError(f"unknown compat fixes {sorted(unknown)}; known: {FIXES}")
    lightning_dir = Path(lightning_dir).resolve()
    lightning_dir.mkdir(parents=True, exist_ok=True)
    undo = [_redirect_lightning_logs(lightning_dir)]
    if seed is not None:
        undo.append(_reseed(int(seed)))
    try:
        if "weights_only_reload" in fixes:
            undo.append(_trust_checkpoints_under(lightning_dir))
        if "fit_loop_current_epoch" in fixes:
            undo.append(_restore_fit_loop_current_epoch())
        if "nvml_device_name" in fixes:
            undo.append(_tolerant_nvml_device_name())
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _redirect_lightning_logs(lightning_dir):
    import heareval.predictions.task_predictions as tp

    original = tp.CSVLogger

    def csv_logger(save_dir, *args, **kwargs):
        return original(str(lightning_dir), *args, **kwargs)

    tp.CSVLogger = csv_logger

    def restore():
        tp.CSVLogger = original

    return restore


def _reseed(seed):
    import random

    import heareval.predictions.task_predictions as tp

    original = tp.seed_everything

    def seed_everything(heareval_seed, workers=False):
        original(seed, workers=workers)  # torch, numpy, random (and Lightning's PL_GLOBAL_SEED)
        random.seed(heareval_seed)  # heareval's grid shuffle: the same grid points as its own runs
        return seed

    tp.seed_everything = seed_everything

    def restore():
        tp.seed_everything = original

    return restore


def _file_path(f):
    """The filesystem path behind a `torch.load` argument, if there is one."""
    if isinstance(f, (str, os.PathLike)):
        return Path(f)
    for attr in ("path", "name"):  # fsspec's LocalFileOpener has .path, builtin files .name
        value = getattr(f, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
    return None


def _trust_checkpoints_under(root):
    import torch

    original = torch.load

    def load(f, *args, **kwargs):
        path = _file_path(f)
        if "weights_only" not in kwargs and path is not None and path.resolve().is_relative_to(root):
            kwargs["weights_only"] = False
        return original(f, *args, **kwargs)

    torch.load = load

    def restore():
        torch.load = original

    return restore


def _restore_fit_loop_current_epoch():
    from pytorch_lightning.loops.fit_loop import FitLoop

    if "current_epoch" in vars(FitLoop):  # a Lightning version that still has it
        return lambda: None

    def get(self):
        return self.epoch_progress.current.completed

    def set_(self, value):
        self.epoch_progress.current.completed = value

    FitLoop.current_epoch = property(get, set_)

    def restore():
        del FitLoop.current_epoch

    return restore


def _tolerant_nvml_device_name():
    import heareval.gpu_max_mem as gpu_max_mem

    if not hasattr(gpu_max_mem, "nvmlDeviceGetName"):  # CPU-only: heareval's device_name returns "cpu"
        return lambda: None
    original = gpu_max_mem.device_name

    def device_name(device_index=0):
        name = gpu_max_mem.nvmlDeviceGetName(gpu_max_mem.nvmlDeviceGetHandleByIndex(device_index))
        return name.decode("utf-8") if isinstance(name, bytes) else name

    gpu_max_mem.device_name = device_name

    def restore():
        gpu_max_mem.device_name = original

    return restore
