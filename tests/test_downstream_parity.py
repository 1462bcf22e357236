"""End-to-end parity of the fast downstream engine with heareval itself, on our module's embeddings.

The official BYOL-A d512 checkpoint embeds two shared tasks with the harness's embedding stage: the
5-fold scene task fsdd_digits and the event task office_events. heareval 2021.1.3 (through the
harness's compatibility layer) and `hear_ssl.evaluation.downstream.run_task` then train, select and test on
the same folders with heareval's `faster` grid and a few grid points (the CI budget). Checked:

- both pick the same grid configuration (the sampled points differ clearly in validation score);
- the primary test score agrees. heareval's fixed seed gives one draw from a noisy process: with the
  `faster` grid (10 epochs, patience 1-3) the mean accuracy over folds moves by about 0.05 from seed
  to seed in heareval and here alike (measured: fsdd 0.62/0.71/0.64 for heareval with torch seeds
  42/1/2), more than the 0.01 of the issue's rule for single default-grid runs. So heareval's score
  must lie within max(0.01, heareval's fold std, 2.5 x the fast engine's std over 5 seeds) of the
  fast engine's mean score (about a 99% band for a faithful re-implementation);
- the fast engine writes the files heareval writes, with the same keys and the same test rows.
"""

import pickle
import shutil
import statistics

import pytest

from hear_ssl.evaluation.downstream import run_task
from hear_ssl.evaluation.downstream.reference import comparable_hparams, primary_score, run_heareval

from .requires import require_module

SCENE, EVENT = "fsdd_digits-v1.0.0-full", "office_events-v1.0.0-full"
GRID = "faster"
GRID_POINTS = {SCENE: 4, EVENT: 2}
SEEDS = (42, 1, 2, 3, 4)
SPREAD = 2.5


def _copy_top_level(src, dst):
    """A fresh copy of a task's embedding folder (the top-level files both backends read)."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file():
            shutil.copy(path, dst / path.name)
    return dst


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, hear_tasks_dir, byola_d512_checkpoint):
    require_module("heareval.predictions.task_predictions", "heareval is installed by `make install-eval`")
    import hear_ssl.byol_a as byol_a
    from hear_ssl.evaluation.embeddings import HearModel, compute_task_embeddings

    root = tmp_path_factory.mktemp("downstream-parity")
    model = HearModel(byol_a, byol_a.load_model(str(byola_d512_checkpoint)), device="cpu")
    out = {}
    for task in (SCENE, EVENT):
        out[task] = root / "embeddings" / task
        compute_task_embeddings(model, hear_tasks_dir / task, out[task], progress=False)
    return root, out


@pytest.fixture(scope="module")
def runs(embedded):
    root, folders = embedded
    out = {}
    for task, folder in folders.items():
        ref_dir = _copy_top_level(folder, root / "heareval" / task)
        ref, _ = run_heareval(ref_dir, grid=GRID, grid_points=GRID_POINTS[task])
        fast = {}
        for seed in SEEDS:
            fast_dir = _copy_top_level(folder, root / f"fast-{seed}" / task)
            results = run_task(fast_dir, grid=GRID, grid_points=GRID_POINTS[task], seed=seed, progress=False)
            fast[seed] = (results, fast_dir)
        out[task] = (ref, ref_dir, fast)
    return out


@pytest.mark.parametrize("task", [SCENE, EVENT])
def test_same_grid_point_as_heareval(runs, task):
    ref, _, fast = runs[task]
    for results, _ in fast.values():
        assert comparable_hparams(results["hparams"]) == comparable_hparams(ref["hparams"])


@pytest.mark.parametrize("task", [SCENE, EVENT])
def test_score_within_run_to_run_spread_of_heareval(runs, task):
    ref, _, fast = runs[task]
    reference, fold_std = primary_score(ref)
    ours = [primary_score(results)[0] for results, _ in fast.values()]
    tolerance = max(0.01, fold_std or 0.0, SPREAD * statistics.stdev(ours))
    assert abs(reference - statistics.mean(ours)) <= tolerance, (reference, fold_std, ours)
    # A meaningful band: real scores, far from chance (1/10 for digits) and from the degenerate 0.
    floor = {SCENE: 0.3, EVENT: 0.05}[task]
    assert all(floor < s < 1 for s in ours + [reference]), (reference, ours)
    assert tolerance < 0.2


@pytest.mark.parametrize("task", [SCENE, EVENT])
def test_fast_engine_writes_heareval_outputs(runs, task):
    ref, ref_dir, fast = runs[task]
    results, fast_dir = fast[SEEDS[0]]
    assert list(results) == list(ref)
    for key, value in ref.items():
        if isinstance(value, dict):
            assert list(results[key]) == list(value), key
    assert (fast_dir / "prediction-done.json").is_file()
    for fold in (k for k, v in ref.items() if isinstance(v, dict) and "test_score" in v):
        with open(ref_dir / f"{fold}.predictions.pkl", "rb") as f:
            expected = pickle.load(f)
        with open(fast_dir / f"{fold}.predictions.pkl", "rb") as f:
            ours = pickle.load(f)
        assert set(ours) == set(expected)
        for name in ("target", "prediction", "prediction_logit"):
            assert ours[name].shape == expected[name].shape
        # The same test rows in the same order: identical targets.
        assert (ours["target"] == expected["target"]).all()
        if task == EVENT:
            assert ours["target_events"] == expected["target_events"]
            assert list(ours["predicted_events"]) == list(expected["predicted_events"])
