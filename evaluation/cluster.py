"""Run a harness's (model, task) units as Ray tasks: `hear-ssl evaluate ... --cluster ray[:ADDRESS|://ADDRESS]`.

Each unit becomes one Ray task with declared resources (CPUs = worker threads, one GPU when the cluster has
GPUs, memory estimated from the task's audio). The Ray task starts the very worker process the local mode starts
(`python -m hear_ssl.evaluation.worker JOB_JSON`, `hear_ssl.evaluation.run._start_worker`), so the run directory,
which every node must see at the same path (a shared filesystem), stays the single source of truth: the same
atomic stage states, lock (held by this orchestrator) and resume. When a node dies, Ray reruns its units on
another node (`max_retries`) and the worker skips the stages that were already finished.

`ray` is imported only here, and this module only when `--cluster` is given.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from .job import Job

log = logging.getLogger(__name__)

# A node death costs a unit one try; a worker that exits with an error is a failed unit, not retried.
MAX_RETRIES = 3
_BASE_MEMORY = 1 << 30  # model, Python, torch and heareval in the worker process
_AUDIO_MEMORY_FACTOR = 2  # embeddings and their in-memory copies for training, relative to the task's audio


def parse_cluster(text: str) -> str | None:
    """The Ray address of `--cluster TEXT`: None (start a local Ray instance for this run) for `ray`.

    `ray:ADDRESS` joins a running cluster from one of its nodes (`ray:auto`, `ray:HEAD_IP:6379`);
    `ray://HOST:PORT` connects through Ray Client.

    Raises
    ------
    ValueError
        If `text` is not one of these forms.
    """
    if text == "ray":
        return None
    if text.startswith("ray://"):
        if len(text) > len("ray://"):
            return text
    elif text.startswith("ray:") and len(text) > len("ray:"):
        return text[len("ray:") :]
    raise ValueError(f"unknown --cluster {text!r}; use ray, ray:ADDRESS (e.g. ray:auto) or ray://HOST:PORT")


def unit_resources(job: Job, gpus_in_cluster: float, largest_node_memory: float) -> dict:
    """The Ray resources one unit asks for: `{"num_cpus", "num_gpus", "memory"}` (memory in bytes).

    Memory is a simple estimate (1 GiB + twice the task's audio on disk), capped at the largest node's memory so
    that a big task still runs somewhere rather than waiting forever for a node that does not exist.
    """
    audio = sum(p.stat().st_size for p in Path(job.task_dir).rglob("*") if p.is_file())
    memory = min(_BASE_MEMORY + _AUDIO_MEMORY_FACTOR * audio, largest_node_memory)
    return {"num_cpus": job.threads, "num_gpus": 1 if gpus_in_cluster > 0 else 0, "memory": int(memory)}


def _run_worker(job_json: str) -> int:
    """Inside a Ray task: the local mode's worker process for one unit; its exit code."""
    from .run import _start_worker

    job = Job.from_json(job_json)
    # Ray has set CUDA_VISIBLE_DEVICES to this task's GPU, if any; the worker inherits it.
    proc = _start_worker(job, gpu=None)
    try:
        return proc.wait()
    finally:
        proc.log_file.close()


def run_on_ray(
    jobs: list[Job],
    address: str | None,
    on_finished: Callable[[Job, int], None],
    on_running: Callable[[list[Job]], None] = lambda running: None,
) -> None:
    """Run `jobs` on Ray until all have finished; calls `on_finished(job, exit_code)` as each one ends.

    Parameters
    ----------
    jobs : list of Job
        Unfinished units, with `threads` = CPUs each unit gets.
    address : str, optional
        Ray address (`ray.init(address=...)`); None starts a local Ray instance, stopped again at the end.
    on_finished : callable
        Gets each job and its worker's exit code (-1 when Ray gave up on it, e.g. after `MAX_RETRIES` node deaths).
    on_running : callable
        Gets the jobs submitted and not finished yet, whenever that set changes.
    """
    if not jobs:  # a finished run: nothing to start Ray for
        return
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"--cluster ray needs Ray: pip install 'hear-ssl[cluster]' ({err})") from None

    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    pending = {}  # Ray object ref -> job
    try:
        cluster = ray.cluster_resources()
        largest = max((n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=_BASE_MEMORY)
        remote = ray.remote(max_retries=MAX_RETRIES)(_run_worker)
        for job in jobs:
            resources = unit_resources(job, cluster.get("GPU", 0), largest)
            job = dataclasses.replace(job, use_gpu=resources["num_gpus"] > 0)
            pending[remote.options(**resources).remote(job.to_json())] = job
        on_running(list(pending.values()))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                job = pending.pop(ref)
                try:
                    code = ray.get(ref)
                except ray.exceptions.RayError as err:
                    log.warning("Ray gave up on %s / %s: %s", job.unit.model, job.unit.task, err)
                    code = -1
                on_finished(job, code)
                on_running(list(pending.values()))
    except BaseException:
        for ref, job in pending.items():  # Ctrl-C: stop the workers; a rerun resumes their units
            ray.cancel(ref, force=True)
            job.unit.update_status(status="interrupted", pid=None)
        raise
    finally:
        ray.shutdown()
