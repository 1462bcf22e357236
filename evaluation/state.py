"""The run directory: one place that says what has been done, written so a crash never lies.

Layout of a run directory::

    run.json                          what was asked: modules, tasks folder, grid, backend
    status/<model>/<task>.json        per (model, task): stage, status, attempts, times, last error
    embeddings/<model>/<task>/        heareval's embedding format, then heareval's prediction outputs
    lightning/<model>/<task>/         Lightning logs + checkpoints while a task trains (deleted after)
    logs/<model>/<task>.log           the worker's full output
    results/<model>/<task>.json       the final, strict-JSON result of a (model, task); written last
    report/                           tables and figures from `hear-ssl report`

Every JSON file is replaced atomically. A (model, task) is finished exactly when its results file
exists; its embeddings are finished when `.done.embeddings` exists and its predictions when heareval's
`prediction-done.json` exists. Anything else found on disk is a leftover of an interrupted attempt
and is cleared before the stage is redone, so `kill -9` at any moment costs at most the stages in
flight.
"""

import datetime
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from .jsonio import read_json, write_json


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Unit:
    """One (model, task) pair of a run."""

    run_dir: Path
    model: str  # the ModuleSpec slug
    task: str  # the task folder name

    @property
    def embed_dir(self):
        return self.run_dir / "embeddings" / self.model / self.task

    @property
    def lightning_dir(self):
        return self.run_dir / "lightning" / self.model / self.task

    @property
    def log_path(self):
        return self.run_dir / "logs" / self.model / f"{self.task}.log"

    @property
    def status_path(self):
        return self.run_dir / "status" / self.model / f"{self.task}.json"

    @property
    def result_path(self):
        return self.run_dir / "results" / self.model / f"{self.task}.json"

    @property
    def done(self):
        return self.result_path.exists()

    def read_status(self):
        if self.status_path.exists():
            return read_json(self.status_path)
        return {"model": self.model, "task": self.task, "stage": None, "status": "pending", "attempts": 0}

    def update_status(self, **changes):
        """Merge `changes` into the status file (atomically) and return the new status."""
        status = self.read_status()
        status.update(changes, updated=now())
        write_json(self.status_path, status)
        return status


class RunLock:
    """An exclusive lock on a run directory, so two harnesses never write the same run.

    The lock is an `flock` on `<run>/.lock`: the kernel releases it when the holder dies, even by
    `kill -9`, so a stale lock never blocks a resume.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / ".lock"
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            raise RuntimeError(
                f"run directory {self.path.parent} is in use by pid {holder}; "
                "wait for it to finish or use another --run-dir"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def check_run_config(run_dir, config):
    """Create `run.json`, or check that a resumed run asks for the same evaluation protocol.

    Modules and tasks may be added to an existing run; the grid, its number of points, the backend
    and the weights behind an existing model name may not change (the results would mix protocols).

    Returns
    -------
    dict
        The merged configuration written to `run.json`.
    """
    path = Path(run_dir) / "run.json"
    if not path.exists():
        write_json(path, {**config, "created": now()})
        return read_json(path)
    old = read_json(path)
    for key in ("grid", "grid_points", "backend"):
        if old.get(key) != config.get(key):
            raise ValueError(
                f"{path}: this run used {key}={old.get(key)!r}, not {config.get(key)!r}; "
                "resume with the same setting or start a new --run-dir"
            )
    models = dict(old.get("models", {}))
    for slug, info in config.get("models", {}).items():
        previous = models.get(slug)
        if previous and previous.get("weights_sha256") != info.get("weights_sha256"):
            raise ValueError(
                f"{path}: the weights behind {slug} changed since this run started (sha256 "
                f"{previous.get('weights_sha256')} -> {info.get('weights_sha256')}); start a new --run-dir"
            )
        models[slug] = info
    merged = {**old, "models": models, "tasks_dir": config.get("tasks_dir"), "resumed": now()}
    write_json(path, merged)
    return merged
