"""`run_task`: heareval 2021.1.3's downstream protocol on one task's embeddings, with the batched trainer.

The protocol (heareval `task_predictions`): sample the grid points, train them all on the first split,
pick the best validation score (ties keep the sampled order), retrain that configuration on every
other split, test every split's checkpointed model, aggregate over folds. Here the grid points train
together in one stack, then the other folds' models together in another.

Outputs, in the embeddings folder, in heareval's formats so the harness reads either backend the same
way: `test.predicted-scores.json`, `<test fold>.predictions.pkl` per split, `prediction-done.json`;
plus `prediction-grid.json`, every grid point's validation result (heareval prints it to its log).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import torch

from hear_ssl.io import atomic_open, atomic_write_text, choose_device

from .data import load_task
from .grids import DEFAULT_GRID_POINTS, sample_grid_points
from .mlp import StackedMLP
from .scoring import Scorer, as_logged
from .splits import data_splits, fold_key
from .trainer import Job, TaskTensors, loss_per_model, probabilities, train_jobs

SCORES_FILE = "test.predicted-scores.json"
DONE_FILE = "prediction-done.json"
GRID_FILE = "prediction-grid.json"


def run_task(
    embeddings_dir: str | os.PathLike,
    grid: str | dict = "default",
    grid_points: int = DEFAULT_GRID_POINTS,
    device: str | torch.device | None = None,
    seed: int = 42,
    precision: str = "fp32",
    write: bool = True,
    progress: bool = True,
) -> dict:
    """Train, select and test downstream models on one task, as heareval does, all grid points batched.

    Parameters
    ----------
    embeddings_dir : str or Path
        One task's embeddings in heareval's format (see `hear_ssl.evaluation.downstream.data`).
    grid : {"default", "fast", "faster"} or dict
        heareval's hyperparameter grid, or an explicit grid (dict of lists) overriding the default one.
    grid_points : int
        How many grid configurations to sample (heareval's `--grid-points`, default 8), drawn exactly
        as heareval draws them.
    device : str or torch.device, optional
        "auto" (the default: CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".
    seed : int
        Seeds weight initialisation and dropout (heareval's grid sampling always uses its seed 42).
    precision : {"fp32", "bf16"}
        bf16 autocasts the matrix products; fp32 is the reference.
    write : bool
        Write the output files into `embeddings_dir` (atomically).
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        The content of `test.predicted-scores.json`: per test fold `test_*` scores plus
        `validation_score`, `epoch`, `time_in_min`; `aggregated_scores` (mean/std over folds, k-fold
        tasks only); the chosen `hparams` and event `postprocessing`; `score_mode`; `embedding_path`.
    """
    start = time.time()
    device = choose_device(device or "auto")
    path = Path(embeddings_dir)
    task = load_task(path)
    scorer = Scorer(task.metadata, task.labels)
    splits = data_splits(task.metadata)
    confs = sample_grid_points(task.metadata, grid, grid_points)
    data = TaskTensors(task, device)

    # Grid search on the first split.
    grid_results = train_jobs(data, [Job(c, splits[0]) for c in confs], scorer, seed, precision, progress)
    # Python's sort is stable: equal validation scores keep heareval's sampled order.
    ranked = sorted(range(len(confs)), key=lambda i: grid_results[i].validation_score, reverse=scorer.maximize)
    best = grid_results[ranked[0]]
    # The best configuration retrained on every other split.
    fold_results = [best]
    if len(splits) > 1:
        jobs = [Job(best.conf, split) for split in splits[1:]]
        fold_results += train_jobs(data, jobs, scorer, seed + 1, precision, progress)

    results, predictions = {}, {}
    for result in fold_results:
        key = fold_key(result.split)
        results[key], predictions[key] = _test(data, scorer, result)
        results[key].update(
            validation_score=result.validation_score, epoch=result.epoch, time_in_min=result.time_s / 60
        )
    if len(fold_results) > 1:
        results["aggregated_scores"] = aggregate(list(results.values()))
    results.update(
        hparams=hparams_to_json(best.conf),
        postprocessing=[list(pair) for pair in best.postprocessing],
        score_mode=scorer.mode,
        embedding_path=str(path),
    )
    if write:
        for key, value in predictions.items():
            _write_pickle(path / f"{key}.predictions.pkl", value)
        atomic_write_text(path / SCORES_FILE, json.dumps(results, indent=4))
        grid_summary = [
            {
                "rank": ranked.index(i) + 1,
                "validation_score": r.validation_score,
                "epoch": r.epoch,
                "epochs_trained": r.epochs_trained,
                "hparams": hparams_to_json(r.conf),
                "postprocessing": [list(pair) for pair in r.postprocessing],
            }
            for i, r in enumerate(grid_results)
        ]
        atomic_write_text(path / GRID_FILE, json.dumps(grid_summary, indent=4))
        done = {
            "time": time.time() - start,
            "embedding_path": str(path),
            "embedding_size": int(task.embeddings.shape[1]),
            "grid_points": grid_points,
            "grid": grid if isinstance(grid, str) else "custom",
            "backend": "fast",
            "device": str(device),
            "gpu_device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "precision": precision,
            "seed": seed,
            # Epochs the chosen configuration trained per split (the arithmetic count needs them).
            "fold_epochs_trained": {fold_key(r.split): r.epochs_trained for r in fold_results},
        }
        atomic_write_text(path / DONE_FILE, json.dumps(done, indent=4))
    return results


@torch.no_grad()
def _test(data, scorer, result):
    """Test one split's checkpointed model: heareval's test scores and its predictions pickle."""
    task = data.task
    names = result.split["test"]
    idx = torch.as_tensor(task.indices(names), device=data.device)
    model = StackedMLP([result.conf], data.x.shape[1], len(task.labels), data.device, seeds=[0])
    model.load_state([(result.params, result.running)])
    logits = torch.cat([model.forward(data.x[idx[s : s + 65536]], train=False) for s in range(0, len(idx), 65536)], 1)
    probs = probabilities(logits[0], task.multiclass)
    scores = {"test_loss": as_logged(loss_per_model(logits, data.y[idx], task.multiclass)[0].item())}
    target = task.targets[idx.cpu().numpy()]
    pickle_data = {
        "target": torch.from_numpy(target),
        "prediction": torch.from_numpy(probs),
        "prediction_logit": logits[0].float().cpu(),
    }
    if task.is_event:
        events = data.layout(names).events(probs, task.labels, result.postprocessing)
        target_events = task.events_of(names)
        scores.update(scorer.named("test", events, target_events))
        pickle_data.update(
            target_events=target_events,
            predicted_events=events,
            timestamp=torch.from_numpy(task.timestamps[idx.cpu().numpy()]),
        )
    else:
        scores.update(scorer.named("test", probs, target))
    return scores, pickle_data


def aggregate(fold_results):
    """heareval's `aggregated_scores`: `<key>_mean` and `<key>_std` (sample std, NaN skipped) per key."""
    keys = list(dict.fromkeys(k for r in fold_results for k in r))
    out = {}
    for key in keys:
        values = np.array([r.get(key, np.nan) for r in fold_results], dtype=np.float64)
        finite = values[~np.isnan(values)]
        out[f"{key}_mean"] = float(finite.mean()) if len(finite) else float("nan")
        out[f"{key}_std"] = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    return out


def hparams_to_json(conf):
    """heareval's `hparams_to_json`: numbers and strings as they are, anything else as `str(value)`."""
    return {k: v if isinstance(v, (str, float, int)) else str(v) for k, v in conf.items()}


def _write_pickle(path: Path, value: object) -> None:
    with atomic_open(path, "wb") as f:
        pickle.dump(value, f)


def run_predictions(
    embed_task_dir: str | os.PathLike,
    lightning_dir: str | os.PathLike | None = None,
    grid: str = "default",
    grid_points: int = DEFAULT_GRID_POINTS,
    gpus: list[int] | None = None,
    keep_logs: bool = False,
    precision: str = "fp32",
    progress: bool = False,
) -> dict:
    """The harness's prediction-backend signature (see `hear_ssl.evaluation.worker.BACKENDS`) around `run_task`.

    `lightning_dir` and `keep_logs` exist for heareval's backend and are unused here (nothing is
    written outside the task folder); `gpus` (heareval's list of GPU indices) selects `cuda:<first>`.
    """
    device = f"cuda:{gpus[0]}" if gpus else "cpu"
    return run_task(
        embed_task_dir, grid=grid, grid_points=grid_points, device=device, precision=precision, progress=progress
    )
