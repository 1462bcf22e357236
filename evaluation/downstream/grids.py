"""heareval 2021.1.3's hyperparameter grids and its sampling of grid points.

Facts from `heareval/predictions/task_predictions.py`: three grids (`default`, `fast`, `faster`), a
per-task override table, an optional `evaluation_params.task_specific_param_grid` in the task metadata,
and the event post-processing grid. heareval expands the grid in scikit-learn `ParameterGrid` order
(keys sorted, the last key varying fastest), shuffles the list with Python's `random` seeded 42 (its
`seed_everything(42)`), and trains the first `grid_points` (default 8).

The values are the torch objects heareval itself stores (`torch.nn.BatchNorm1d`, `xavier_uniform_`,
`torch.optim.Adam`), so a configuration prints the same `hparams` strings in the score file.
"""

import itertools
import random

import torch

GRID_NAMES = ("default", "fast", "faster")
# heareval seeds everything with 42 before it shuffles the grid (`seed_everything(42)`).
HEAREVAL_SEED = 42
DEFAULT_GRID_POINTS = 8

PARAM_GRID = {
    "hidden_layers": [1, 2],
    "hidden_dim": [1024],
    "dropout": [0.1],
    "lr": [3.2e-3, 1e-3, 3.2e-4, 1e-4],
    "patience": [20],
    "max_epochs": [500],
    "check_val_every_n_epoch": [3],
    "batch_size": [1024],
    "hidden_norm": [torch.nn.BatchNorm1d],
    "norm_after_activation": [False],
    "embedding_norm": [torch.nn.Identity],
    "initialization": [torch.nn.init.xavier_uniform_, torch.nn.init.xavier_normal_],
    "optim": [torch.optim.Adam],
}

GRIDS = {
    "default": PARAM_GRID,
    "fast": {**PARAM_GRID, "max_epochs": [10, 50], "check_val_every_n_epoch": [3, 10]},
    "faster": {
        **PARAM_GRID,
        "hidden_layers": [0, 1],
        "hidden_dim": [64, 128],
        "patience": [1, 3],
        "max_epochs": [10],
        "check_val_every_n_epoch": [1],
    },
}

# heareval's built-in per-task overrides (sed_eval is slow on DCASE 2016 task 2).
TASK_SPECIFIC_PARAM_GRID = {"dcase2016_task2": {"check_val_every_n_epoch": [10]}}

EVENT_POSTPROCESSING_GRID = {"median_filter_ms": [250], "min_duration": [125, 250]}

# What the batched trainer implements; anything else in a grid is refused up front.
SUPPORTED = {
    "hidden_norm": (torch.nn.BatchNorm1d, torch.nn.Identity),
    "embedding_norm": (torch.nn.Identity,),
    "optim": (torch.optim.Adam,),
    # heareval calls `initialization(weight, gain=...)`, which only the xavier functions accept.
    "initialization": (torch.nn.init.xavier_uniform_, torch.nn.init.xavier_normal_),
}


def expand_grid(grid):
    """All configurations of a grid, in scikit-learn `ParameterGrid` order.

    Parameters
    ----------
    grid : dict of str to list

    Returns
    -------
    list of dict
    """
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def task_grid(metadata, grid="default"):
    """The grid heareval searches for one task: the named grid plus the task's overrides.

    Parameters
    ----------
    metadata : dict
        The task's `task_metadata.json`.
    grid : {"default", "fast", "faster"} or dict
        A heareval grid name, or an explicit grid (dict of lists) for experiments and tests.

    Returns
    -------
    dict of str to list
    """
    if isinstance(grid, dict):
        final = dict(PARAM_GRID)
        final.update(grid)
    elif grid in GRIDS:
        final = dict(GRIDS[grid])
    else:
        raise ValueError(f"unknown grid {grid!r}; choose one of {', '.join(GRID_NAMES)} or pass a dict of lists")
    final.update(TASK_SPECIFIC_PARAM_GRID.get(metadata["task_name"], {}))
    final.update(metadata.get("evaluation_params", {}).get("task_specific_param_grid", {}))
    _check_supported(final)
    return final


def sample_grid_points(metadata, grid="default", grid_points=DEFAULT_GRID_POINTS, seed=HEAREVAL_SEED):
    """The configurations heareval trains, in its order: shuffled with `random` seeded `seed`, first n.

    Parameters
    ----------
    metadata : dict
        The task's `task_metadata.json`.
    grid : str or dict
        See `task_grid`.
    grid_points : int
        How many configurations to keep (heareval's `--grid-points`).
    seed : int
        heareval's seed is 42.

    Returns
    -------
    list of dict
    """
    if grid_points < 1:
        raise ValueError(f"grid_points must be >= 1, got {grid_points}")
    confs = expand_grid(task_grid(metadata, grid))
    random.Random(seed).shuffle(confs)
    return confs[:grid_points]


def postprocessing_grid(metadata):
    """The event post-processing configurations (tuples of (name, value) pairs), in heareval's order."""
    grid = metadata.get("evaluation_params", {}).get("event_postprocessing_grid", EVENT_POSTPROCESSING_GRID)
    return [tuple(conf.items()) for conf in expand_grid(grid)]


def _check_supported(grid):
    for key, allowed in SUPPORTED.items():
        for value in grid.get(key, []):
            if value not in allowed:
                names = ", ".join(getattr(a, "__name__", str(a)) for a in allowed)
                raise ValueError(
                    f"grid value {key}={value!r} is not implemented by the fast engine (supported: {names}); "
                    "use the heareval backend for this grid"
                )
    for key in ("hidden_layers", "hidden_dim", "max_epochs", "check_val_every_n_epoch", "batch_size", "patience"):
        for value in grid.get(key, []):
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "hidden_layers" else 1):
                raise ValueError(f"grid value {key}={value!r} must be a positive integer")
    for value in grid.get("dropout", []):
        if not 0 <= value < 1:
            raise ValueError(f"grid value dropout={value!r} must be in [0, 1)")
