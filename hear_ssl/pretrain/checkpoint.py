"""Checkpoint files and the CSV training log, both safe to cut at any instant.

`ckpt.pt` is written atomically (`hear_ssl.io`), so a kill leaves either the old or the new file, never half
of one; `ckpt.json` (step, time) is written the same way afterwards for tools that only want to know how far
the run got. What a checkpoint holds is `TrainState.state_dict()` (`hear_ssl.pretrain.state`): tensors,
numbers and strings only, read with `weights_only=True`.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_open, atomic_torch_save, atomic_write_text

CHECKPOINT = "ckpt.pt"
LOG = "log.csv"
# Columns of every log.csv; an objective's own `log_terms` follow them.
LOG_FIELDS = [
    "step", "epoch", "loss", "ssl_loss", "feature_loss", "lr", "ema_decay", "samples_per_s", "elapsed_s",
]  # fmt: skip

# The name callers used before `hear_ssl.io` held the one atomic writer.
save_atomic = atomic_torch_save


def write_progress(out_dir: Path, step: int) -> None:
    atomic_write_text(out_dir / "ckpt.json", json.dumps({"step": step, "time": time.time()}) + "\n")


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {err}); it is not a hear-ssl pretraining "
            "checkpoint or is damaged. Delete it to start over, or point --out-dir elsewhere."
        ) from err


def rng_state() -> dict:
    """Every global random generator this process may draw from (dropout uses torch's)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_to_tuple(state["python"]))


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


class CsvLog:
    """Append-only CSV of training metrics; on resume rows after the checkpoint's step are dropped.

    Those rows were logged by the killed process after its last checkpoint and will be logged again.
    """

    def __init__(self, path: Path, resume_step: int | None, fields: list[str] | None = None):
        self.path = path
        self.fields = list(fields or LOG_FIELDS)
        if resume_step is not None and path.exists():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
            with atomic_open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.fields)
                writer.writeheader()
                writer.writerows(rows)
        elif resume_step is None:
            with atomic_open(path, "w", newline="") as handle:
                csv.DictWriter(handle, fieldnames=self.fields).writeheader()

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerow(row)
            handle.flush()


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
