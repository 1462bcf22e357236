"""The matrix-product arithmetic of one downstream run, counted from the epochs it trained.

Whatever engine runs heareval's protocol has to do these products for the same epochs: per training
row, every layer's forward product, its weight gradient, and the input gradient of every layer but the
first (the embeddings need none); per validation and test row, the forward products. Dividing the count
by the best matrix-product rate of a machine gives a floor on the wall time of any engine there, so
`heareval seconds / floor` bounds the speed-up any re-implementation can reach at that precision
(`benchmarks/eval_speed.py` prints it). Batch norm, dropout, Adam and scoring are left out: they only
add time, so the floor stays a lower bound.
"""

import json
from pathlib import Path

from .data import load_task
from .run import DONE_FILE, GRID_FILE
from .splits import data_splits, fold_key


def layer_dims(conf, n_in, n_out):
    """`[n_in, hidden..., n_out]` of a grid configuration's MLP."""
    return [n_in] + [int(conf["hidden_dim"])] * int(conf["hidden_layers"]) + [n_out]


def forward_flops_per_row(dims):
    """Multiply-adds x 2 of one row's forward pass."""
    return sum(2 * a * b for a, b in zip(dims[:-1], dims[1:]))


def training_flops_per_row(dims):
    """One row's forward, weight gradients and input gradients (none for the first layer's input)."""
    products = list(zip(dims[:-1], dims[1:]))
    forward = sum(2 * a * b for a, b in products)
    input_gradients = sum(2 * a * b for a, b in products[1:])
    return 2 * forward + input_gradients


def job_flops(conf, dims, epochs, rows, tested):
    """Products of one trained model: `epochs` passes over the training rows, a validation every
    `check_val_every_n_epoch` epochs, and one test pass when `tested`. `rows` maps "train"/"valid"/"test"
    to row counts."""
    validations = epochs // int(conf["check_val_every_n_epoch"])
    forward = forward_flops_per_row(dims)
    return (
        epochs * rows["train"] * training_flops_per_row(dims)
        + validations * rows["valid"] * forward
        + (rows["test"] * forward if tested else 0)
    )


def epochs_trained(conf, best_epoch):
    """Epochs the protocol trains when the checkpointed (best) validation came after epoch `best_epoch`.

    Early stopping ends training `patience` validations after the last strict improvement, which is the
    checkpoint's epoch, or at `max_epochs` (not for runs stopped by a non-finite score, which end early).
    """
    last = best_epoch + 1 + int(conf["patience"]) * int(conf["check_val_every_n_epoch"])
    return min(int(conf["max_epochs"]), last)


def trainings_flops(task_dir, trainings):
    """Products of `(conf, split, epochs, tested)` trainings on the task in `task_dir`."""
    task = load_task(task_dir)
    n_in, n_out = task.embeddings.shape[1], len(task.labels)
    total = 0
    for conf, split, epochs, tested in trainings:
        rows = {part: len(task.indices(split[part])) for part in ("train", "valid", "test")}
        total += job_flops(conf, layer_dims(conf, n_in, n_out), epochs, rows, tested)
    return total


def run_flops(task_dir):
    """Matrix-product FLOPs of the fast engine's finished run in `task_dir` (its grid and done files).

    Every grid point trains on the first split, the chosen one is tested there; the chosen configuration
    retrains on every other split (epochs from `prediction-done.json`'s `fold_epochs_trained`).
    """
    task_dir = Path(task_dir)
    grid = json.loads((task_dir / GRID_FILE).read_text())
    done = json.loads((task_dir / DONE_FILE).read_text())
    if "fold_epochs_trained" not in done:
        raise ValueError(f"{task_dir / DONE_FILE} has no fold_epochs_trained: rerun the task with this version")
    splits = data_splits(json.loads((task_dir / "task_metadata.json").read_text()))
    chosen = next(point["hparams"] for point in grid if point["rank"] == 1)
    trainings = [(p["hparams"], splits[0], p["epochs_trained"], p["rank"] == 1) for p in grid]
    trainings += [(chosen, s, done["fold_epochs_trained"][fold_key(s)], True) for s in splits[1:]]
    return trainings_flops(task_dir, trainings)


def heareval_run_flops(task_dir, grid_summary, results):
    """The same count for a heareval run, from the best epochs it logs (its epochs trained are not logged).

    Parameters
    ----------
    task_dir : Path
        The task's embeddings folder heareval ran on.
    grid_summary : list
        `[validation score, best epoch, hparams, postprocessing]` per grid point, in its log's order
        (`reference.heareval_grid_summary`).
    results : dict
        Its `test.predicted-scores.json` (the best epoch of every split's model).
    """
    splits = data_splits(json.loads((Path(task_dir) / "task_metadata.json").read_text()))
    # heareval ranks with a stable sort, best first: the first of the best validation scores wins.
    scores = [row[0] for row in grid_summary]
    maximize = results.get("score_mode", "max") == "max"
    chosen = scores.index(max(scores) if maximize else min(scores))
    trainings = [(row[2], splits[0], epochs_trained(row[2], row[1]), i == chosen) for i, row in enumerate(grid_summary)]
    conf = grid_summary[chosen][2]
    trainings += [(conf, s, epochs_trained(conf, results[fold_key(s)]["epoch"]), True) for s in splits[1:]]
    return trainings_flops(task_dir, trainings)
