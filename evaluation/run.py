"""Evaluate HEAR modules over a folder of HEAR tasks: validate, schedule, resume, report.

`evaluate()` is what `hear-ssl evaluate` calls. It checks every task first (all problems at once),
records the run's protocol in `run.json`, then runs each unfinished (model, task) unit in a worker
process (`hear_ssl.evaluation.worker`), up to `jobs` at a time, with a progress bar over units. Rerunning the
same command resumes: finished units are skipped, interrupted ones are redone from their last
finished stage (see `hear_ssl.evaluation.state`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from hear_ssl.io import sha256_file

from .job import Job
from .modules import ModuleSpec, check_unique_slugs
from .predictions import GRIDS
from .state import RunLock, check_run_config
from .tasks import discover_tasks, validate_task

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


class TaskProblems(ValueError):
    """Raised when task folders fail validation; `problems` lists every problem with its path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid tasks:\n  " + "\n  ".join(problems))


def evaluate(
    specs: list[ModuleSpec],
    tasks_dir: str | os.PathLike,
    run_dir: str | os.PathLike,
    grid: str = "default",
    grid_points: int = 8,
    tasks: str | None = None,
    jobs: int = 1,
    backend: str = "heareval",
    devices: list[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    keep_logs: bool = False,
    check_audio: bool = True,
    skip_invalid: bool = False,
    min_free_gb: float = 2.0,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, list[tuple[str, str]]]:
    """Run (or resume) an evaluation.

    Parameters
    ----------
    specs : list of ModuleSpec
        Models to evaluate.
    tasks_dir : str or Path
        Folder of HEAR task folders (stray entries are ignored with a warning), or one task folder.
    run_dir : str or Path
        Where state, embeddings, results and logs go; rerun with the same folder to resume.
    grid : {"default", "fast", "faster"}
    grid_points : int
        heareval's number of sampled grid settings.
    tasks : str, optional
        Comma-separated shell patterns on task folder names.
    jobs : int
        Units run at once. Each worker gets `cpu_count // jobs` threads and, with GPUs, one GPU.
    backend : str
        Prediction backend (see `hear_ssl.evaluation.worker.BACKENDS`).
    devices : list of int, optional
        GPU indices to spread workers over; default: every visible GPU, none on a CPU machine.
    cache_dir : str or Path, optional
        Resampled-audio cache; default `<run_dir>/cache`.
    keep_logs : bool
        Keep Lightning's logs and checkpoints.
    check_audio : bool
        Read every audio header during validation.
    skip_invalid : bool
        Run the valid tasks and skip the invalid ones (after listing their problems) instead of stopping.
    min_free_gb : float
        Do not start another worker while less memory than this is available (the first always starts).
    threads : int, optional
        Torch threads per worker; default `cpu_count // jobs`.
    progress : bool
        Show progress bars (the workers' own only when `jobs` is 1).

    Returns
    -------
    dict
        `{"done": [...], "failed": [...], "skipped": [...]}` lists of `(model, task)`.

    Raises
    ------
    TaskProblems
        If tasks are invalid and `skip_invalid` is False.
    """
    from .worker import BACKENDS

    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if not specs:
        raise ValueError("no modules to evaluate; pass --modules MODULE[:WEIGHTS] ...")
    check_unique_slugs(specs)
    for spec in specs:  # fail now, not once per task in every worker
        if importlib.util.find_spec(spec.module.split(".")[0]) is None or importlib.util.find_spec(spec.module) is None:
            raise ImportError(f"HEAR module {spec.module!r} is not installed in this environment ({sys.executable})")
    run_dir = Path(run_dir).resolve()
    cache_dir = Path(cache_dir).resolve() if cache_dir else run_dir / "cache"
    task_dirs = [t.resolve() for t in discover_tasks(tasks_dir, tasks)]

    problems, valid = [], []
    for task_dir in tqdm(task_dirs, desc="checking tasks", disable=not progress, leave=False):
        report = validate_task(task_dir, check_audio=check_audio)
        problems += report.problems
        if report.ok:
            valid.append(task_dir)
    if problems:
        if not skip_invalid:
            raise TaskProblems(problems)
        for p in problems:
            log.warning("skipping invalid task: %s", p)
    if not valid:
        raise ValueError(f"no valid task to run in {tasks_dir}")

    jobs = max(1, int(jobs))
    cpus = os.cpu_count() or 1
    if jobs > cpus:
        log.warning("--jobs %d exceeds the %d CPU cores; workers will compete for them", jobs, cpus)
    threads = max(1, int(threads)) if threads else max(1, cpus // jobs)
    devices = _visible_gpus() if devices is None else list(devices)

    with RunLock(run_dir):
        models = {s.slug: {**s.to_dict(), "weights_sha256": _weights_sha256(s.weights)} for s in specs}
        check_run_config(
            run_dir,
            {
                "models": models,
                "tasks_dir": str(Path(tasks_dir).resolve()),
                "grid": grid,
                "grid_points": grid_points,
                "backend": backend,
            },
        )
        jobs_of_run = [
            Job(
                run_dir=run_dir,
                spec=spec,
                task_dir=task_dir,
                cache_dir=cache_dir,
                grid=grid,
                grid_points=grid_points,
                backend=backend,
                keep_logs=keep_logs,
                threads=threads,
                progress=progress and jobs == 1,
            )
            for task_dir in valid
            for spec in specs
        ]
        todo = [job for job in jobs_of_run if not job.unit.done]
        outcome = {
            "done": [(j.unit.model, j.unit.task) for j in jobs_of_run if j.unit.done],
            "failed": [],
            "skipped": [],
        }
        bar = tqdm(
            total=len(jobs_of_run),
            initial=len(jobs_of_run) - len(todo),
            desc="evaluate",
            unit="task",
            disable=not progress,
        )
        running = {}  # Popen -> (unit, slot)
        free_slots = list(range(jobs))
        try:
            while todo or running:
                while todo and free_slots and (not running or _mem_available_gb() >= min_free_gb):
                    job = todo.pop(0)
                    slot = free_slots.pop(0)
                    gpu = devices[slot % len(devices)] if devices else None
                    job = dataclasses.replace(job, use_gpu=gpu is not None)
                    running[_start_worker(job, gpu)] = (job.unit, slot)
                    bar.set_postfix_str(", ".join(f"{u.model}/{u.task}" for u, _ in running.values()), refresh=True)
                finished = [p for p in running if p.poll() is not None]
                if not finished:
                    time.sleep(0.5)
                    continue
                for proc in finished:
                    unit, slot = running.pop(proc)
                    free_slots.append(slot)
                    proc.log_file.close()
                    if proc.returncode == 0 and unit.done:
                        outcome["done"].append((unit.model, unit.task))
                        bar.update(1)
                    else:
                        error = unit.read_status().get("error") or f"worker exited with {proc.returncode}"
                        outcome["failed"].append((unit.model, unit.task))
                        tqdm.write(f"FAILED {unit.model} / {unit.task}: {error} (log: {unit.log_path})")
        except BaseException:
            for proc in running:
                proc.terminate()
            for proc, (unit, _) in running.items():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                unit.update_status(status="interrupted", pid=None)
            raise
        finally:
            bar.close()
    return outcome


def _start_worker(job: Job, gpu: int | None) -> subprocess.Popen:
    unit = job.unit
    unit.log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(unit.log_path, "a")
    log_file.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} attempt on {unit.model} / {unit.task}\n")
    log_file.flush()
    threads = str(job.threads)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hear_ssl.evaluation.worker", job.to_json()],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(unit.run_dir),
        preexec_fn=_die_with_parent,
    )
    proc.log_file = log_file
    return proc


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL the worker if the orchestrator dies (even by kill -9): no orphan keeps writing."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: workers may outlive a killed orchestrator; the run lock still protects
        pass


def _visible_gpus() -> list[int]:
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except ImportError:
        return []


def _mem_available_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def _weights_sha256(weights: str | None) -> str | None:
    """The digest recorded in run.json, so a resumed run notices a checkpoint swapped under the same path."""
    return sha256_file(weights) if weights and Path(weights).is_file() else None
