"""The arithmetic count of a fast-engine run equals what torch's own FLOP counter saw the run do."""

import json

import pytest
from torch.utils.flop_counter import FlopCounterMode

from hear_ssl.evaluation.downstream import run_task
from hear_ssl.evaluation.downstream.arithmetic import (
    epochs_trained,
    heareval_run_flops,
    run_flops,
    training_flops_per_row,
)
from hear_ssl.evaluation.downstream.run import DONE_FILE, GRID_FILE, SCORES_FILE
from tests.eval_support import embedding_task
from tests.requires import require_module
from tests.test_downstream_run import SMALL_GRID, _kfold

require_module("heareval.score", "scores come from heareval (installed by `make install-eval`)")


def counted_run(task, **kwargs):
    """Run the engine under torch's FLOP counter; returns its total."""
    with FlopCounterMode(display=False) as counter:
        run_task(task, grid=SMALL_GRID, progress=False, **kwargs)
    return counter.get_total_flops()


def test_training_row_counts_forward_weight_and_input_gradients():
    # 8 -> 32 -> 3: forward 2*(8*32 + 32*3); weight gradients the same; input gradient of layer 2 only.
    assert training_flops_per_row([8, 32, 3]) == 2 * 2 * (8 * 32 + 32 * 3) + 2 * 32 * 3


@pytest.mark.parametrize("kind", ["scene", "event"])
def test_count_equals_the_products_the_engine_ran(tmp_path, kind):
    task = embedding_task(tmp_path / kind, kind)
    seen = counted_run(task, grid_points=4)  # both architectures of the grid (1 and 2 hidden layers)
    assert run_flops(task) == seen


def test_heareval_count_from_best_epochs_equals_the_count_from_epochs_trained(tmp_path):
    """heareval logs only each model's best epoch: the epochs it trained follow from the stopping rule."""
    task = _kfold(embedding_task(tmp_path / "scene", "scene"))
    run_task(task, grid={**SMALL_GRID, "max_epochs": [60]}, grid_points=4, progress=False)
    grid = json.loads((task / GRID_FILE).read_text())
    assert any(p["epochs_trained"] < 60 for p in grid), "no grid point stopped early: the rule is not exercised"
    for point in grid:
        assert epochs_trained(point["hparams"], point["epoch"]) == point["epochs_trained"], point
    # The fast run's records in heareval's shapes: its log's grid rows and its score file.
    as_logged = [[p["validation_score"], p["epoch"], p["hparams"], p["postprocessing"]] for p in grid]
    results = json.loads((task / SCORES_FILE).read_text())
    assert heareval_run_flops(task, as_logged, results) == run_flops(task)


def test_kfold_count_is_a_floor_of_the_padded_fold_batches(tmp_path):
    task = _kfold(embedding_task(tmp_path / "scene", "scene"))
    seen = counted_run(task, grid_points=2)
    counted = run_flops(task)
    # Folds of 14/14/13/13 rows train side by side, padded to the longest: the engine does a little more.
    assert counted <= seen <= counted * 1.1
    assert set(json.loads((task / DONE_FILE).read_text())["fold_epochs_trained"]) == {f"fold0{i}" for i in range(4)}
