"""The prediction stage: heareval 2021.1.3's downstream training on one task's embeddings.

Runs heareval's own prediction runner (grid search of shallow MLPs on the first split, the best
setting retrained on every fold, test scores written to `test.predicted-scores.json`), inside
`heareval_compat`, with Lightning's logs and checkpoints in a harness-owned folder that is deleted
afterwards unless kept.
"""

import logging
import shutil
from pathlib import Path

from .compat import FIXES, heareval_compat
from .jsonio import read_json
from .results import read_scores

GRIDS = ("default", "fast", "faster")
SCORES_FILE = "test.predicted-scores.json"
DONE_FILE = "prediction-done.json"
# What heareval writes while predicting; removed before a redo so no stale file survives.
PARTIAL_OUTPUTS = (SCORES_FILE, DONE_FILE, "prediction.log")


def is_done(embed_task_dir):
    """True if heareval finished predicting this task (its `prediction-done.json` exists)."""
    return (Path(embed_task_dir) / DONE_FILE).exists()


def clear_partial(embed_task_dir):
    """Remove the prediction outputs of an interrupted attempt (keeps the embeddings)."""
    embed_task_dir = Path(embed_task_dir)
    for name in PARTIAL_OUTPUTS:
        (embed_task_dir / name).unlink(missing_ok=True)
    for path in embed_task_dir.glob("*.predictions.pkl"):
        path.unlink()


def run_predictions(
    embed_task_dir, lightning_dir, grid="default", grid_points=8, gpus=None, keep_logs=False, fixes=FIXES, seed=None
):
    """Train and test heareval's downstream models on one task's embeddings.

    Parameters
    ----------
    embed_task_dir : str or Path
        A task folder in heareval's embedding format (see `hear_ssl.evaluation.embeddings`).
    lightning_dir : str or Path
        Where Lightning's logs and checkpoints go; deleted at the end unless `keep_logs`.
    grid : {"default", "fast", "faster"}
        heareval's hyperparameter grid.
    grid_points : int
        How many grid settings heareval samples (its default is 8).
    gpus : list of int, optional
        Passed to Lightning (heareval's `--gpus`); None trains on the CPU.
    keep_logs : bool
        Keep the Lightning folder (for debugging a task).
    fixes : iterable of str
        Compat fixes to apply (all by default; see `hear_ssl.evaluation.compat`).
    seed : int, optional
        Seed torch and numpy with this instead of heareval's fixed 42 (same grid points); None runs heareval
        exactly as published.

    Returns
    -------
    dict
        heareval's test scores, non-finite values as None.
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; heareval has {', '.join(GRIDS)}")
    embed_task_dir, lightning_dir = Path(embed_task_dir).resolve(), Path(lightning_dir)
    clear_partial(embed_task_dir)
    shutil.rmtree(lightning_dir, ignore_errors=True)
    argv = [str(embed_task_dir), "--grid", grid, "--grid-points", str(grid_points)]
    argv += ["--gpus", str(list(gpus))] if gpus else []
    try:
        with heareval_compat(lightning_dir, fixes, seed=seed):
            from heareval.predictions import runner

            runner.runner.main(argv, standalone_mode=False)
    finally:
        # heareval caches one logger per task with a file handle on prediction.log; drop it so the
        # folder can be removed and a redo in this process logs afresh.
        from heareval.predictions import runner

        task_name = _task_name(embed_task_dir)
        runner._task_path_to_logger.pop((task_name, embed_task_dir / "prediction.log"), None)
        logger = logging.getLogger(task_name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        if not keep_logs:
            shutil.rmtree(lightning_dir, ignore_errors=True)
            _remove_empty_parents(lightning_dir.parent, stop_at=2)
    return read_scores(embed_task_dir / SCORES_FILE)  # infinities kept (see results.summarize_scores)


def _remove_empty_parents(folder, stop_at):
    """Remove `folder` and up to `stop_at - 1` of its parents while they are empty."""
    for _ in range(stop_at):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _task_name(embed_task_dir):
    return read_json(Path(embed_task_dir) / "task_metadata.json")["task_name"]
