"""Fast downstream engine: heareval 2021.1.3's protocol for frozen embeddings, batched.

    from hear_ssl.evaluation.downstream import run_task
    scores = run_task("embeddings/byol-a/office_events-v1.0.0-full", grid="default", device="cpu")

`run_task` reads one task folder in heareval's embedding format and writes what heareval's prediction
runner writes (`test.predicted-scores.json`, `<fold>.predictions.pkl`, `prediction-done.json`). It keeps
heareval's grids, grid-point sampling, splits, early stopping, checkpoint selection, event
post-processing and metrics (heareval's own score functions), and trains every grid point at once as
one stacked model with the embeddings resident on the device. `hear_ssl.evaluation.downstream.reference` runs
heareval itself on the same folder, for parity checks and timing.
"""

from .data import TaskData, load_task
from .grids import GRID_NAMES, sample_grid_points
from .run import run_predictions, run_task

__all__ = ["run_task", "run_predictions", "load_task", "TaskData", "sample_grid_points", "GRID_NAMES"]
