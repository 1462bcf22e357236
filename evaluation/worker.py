"""One (model, task) of a run, in its own process: embeddings, then predictions, then the result.

The orchestrator (`hear_ssl.evaluation.run`) starts `python -m hear_ssl.evaluation.worker '<job json>'` per
unit (a `hear_ssl.evaluation.job.Job`). A process per unit keeps heareval's compat patches, Lightning's
global state and the model's memory out of the orchestrator, and lets a unit be killed (or crash) without
touching the others.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from . import downstream, embeddings, predictions
from .job import Job
from .jsonio import read_json, sanitize, write_json
from .resample import audio_dir_for
from .results import summarize_scores
from .state import now

# Prediction backends: name -> callable(embed_dir, lightning_dir, grid, grid_points, gpus, keep_logs)
# that writes heareval's `test.predicted-scores.json` + `prediction-done.json` into embed_dir and returns
# the scores it wrote.
# "fast" is heareval's protocol re-implemented with batched training (hear_ssl.evaluation.downstream).
BACKENDS = {"heareval": predictions.run_predictions, "fast": downstream.run_predictions}


def run_unit(job: Job) -> dict:
    """Run the unfinished stages of one unit and write its result record.

    Parameters
    ----------
    job : Job
        The unit and how to run it, as the orchestrator built it.

    Returns
    -------
    dict
        The result record written to `results/<model>/<task>.json`.
    """
    unit, spec, task_dir = job.unit, job.spec, job.task_dir
    status = unit.read_status()
    seconds = dict(status.get("seconds") or {})
    unit.update_status(
        status="running", attempts=status.get("attempts", 0) + 1, pid=os.getpid(), started=now(), error=None
    )

    sample_rate = status.get("sample_rate")
    if not embeddings.is_done(unit.embed_dir):
        unit.update_status(stage="embeddings")
        start = time.time()
        module, model = spec.load()
        hear_model = embeddings.HearModel(module, model)
        sample_rate = hear_model.sample_rate
        audio_dir = audio_dir_for(task_dir, sample_rate, job.cache_dir, progress=job.progress)
        embeddings.compute_task_embeddings(hear_model, task_dir, unit.embed_dir, audio_dir, progress=job.progress)
        del hear_model, model
        seconds["embeddings"] = time.time() - start
        unit.update_status(seconds=seconds, sample_rate=sample_rate)

    if predictions.is_done(unit.embed_dir):  # finished by an earlier attempt that stopped before the result
        scores = read_json(unit.embed_dir / predictions.SCORES_FILE)
    else:
        unit.update_status(stage="predictions")
        start = time.time()
        scores = BACKENDS[job.backend](
            unit.embed_dir,
            unit.lightning_dir,
            grid=job.grid,
            grid_points=job.grid_points,
            gpus=[0] if job.use_gpu else None,
            keep_logs=job.keep_logs,
        )
        scores = sanitize(scores)  # as read back from the file: non-finite values as None
        seconds["predictions"] = time.time() - start
        unit.update_status(seconds=seconds)

    metadata = read_json(unit.embed_dir / "task_metadata.json")
    summary = summarize_scores(scores, metadata)
    dims = read_json(unit.embed_dir / f"{metadata['splits'][0]}.embedding-dimensions.json")
    result = {
        "model": unit.model,
        "spec": spec.to_dict(),
        "task": unit.task,
        "task_name": metadata["task_name"],
        "embedding_type": metadata["embedding_type"],
        "primary_metric": metadata["evaluation"][0],
        "metrics": summary,
        "backend": job.backend,
        "grid": job.grid,
        "grid_points": job.grid_points,
        "embedding_size": dims[1],
        "sample_rate": sample_rate,
        "seconds": {**seconds, "total": sum(seconds.values())},
        "hparams": scores.get("hparams"),
        "finished": now(),
        "versions": _versions(),
    }
    write_json(unit.result_path, result)
    unit.update_status(stage="done", status="done", finished=now(), pid=None)
    return result


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("hear-ssl", "heareval", "torch", "pytorch-lightning"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m hear_ssl.evaluation.worker JOB_JSON`: run one unit; 0 when its result is written.

    A failure is recorded in the unit's status file (the orchestrator reports it) and gives exit code 1
    (130 on KeyboardInterrupt).
    """
    argv = sys.argv[1:] if argv is None else argv
    job = Job.from_json(argv[0])
    import torch

    torch.set_num_threads(job.threads)
    try:
        result = run_unit(job)
    except BaseException as err:
        trace = traceback.format_exc()
        print(trace, file=sys.stderr, flush=True)
        job.unit.update_status(status="failed", error=f"{type(err).__name__}: {err}", pid=None)
        return 130 if isinstance(err, KeyboardInterrupt) else 1
    print(json.dumps({"done": result["model"], "task": result["task"], "seconds": result["seconds"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
