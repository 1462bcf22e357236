"""`run_task` on small synthetic tasks in heareval's format: outputs, determinism, k-fold, bad input."""

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from hear_ssl.evaluation.downstream import run_task
from hear_ssl.evaluation.downstream.__main__ import main as cli_main
from hear_ssl.evaluation.downstream.reference import primary_score
from hear_ssl.evaluation.downstream.run import DONE_FILE, GRID_FILE, SCORES_FILE
from tests.eval_support import embedding_task
from tests.requires import require_module

require_module("heareval.score", "scores come from heareval (installed by `make install-eval`)")

SMALL_GRID = {"hidden_dim": [32], "max_epochs": [30], "patience": [5]}


def _kfold(task_dir, folds=4):
    """Turn a trainvaltest embedding task into a k-fold one by relabelling and splitting rows."""
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    x = np.concatenate([np.fromfile(task_dir / f"{s}.embeddings.npy", dtype=np.float32) for s in meta["splits"]])
    labels = sum((pickle.loads((task_dir / f"{s}.target-labels.pkl").read_bytes()) for s in meta["splits"]), [])
    dim = json.loads((task_dir / "train.embedding-dimensions.json").read_text())[1]
    x = x.reshape(-1, dim)
    for s in meta["splits"]:
        for suffix in (".embeddings.npy", ".target-labels.pkl", ".embedding-dimensions.json", ".json"):
            (task_dir / f"{s}{suffix}").unlink()
    names = [f"fold{i:02d}" for i in range(folds)]
    for i, name in enumerate(names):
        rows = np.arange(i, len(x), folds)
        x[rows].tofile(task_dir / f"{name}.embeddings.npy")
        (task_dir / f"{name}.embedding-dimensions.json").write_text(json.dumps([len(rows), dim]))
        (task_dir / f"{name}.target-labels.pkl").write_bytes(pickle.dumps([labels[r] for r in rows]))
        (task_dir / f"{name}.json").write_text("{}")
    meta.update(split_mode="new_split_kfold", splits=names)
    (task_dir / "task_metadata.json").write_text(json.dumps(meta))
    return task_dir


def test_scene_task_outputs_and_learns(tmp_path):
    task = embedding_task(tmp_path / "scene", "scene")
    results = run_task(task, grid=SMALL_GRID, grid_points=3, progress=False)
    assert results["test"]["test_top1_acc"] > 0.8  # well-separated classes
    assert results["score_mode"] == "max" and results["postprocessing"] == []
    assert json.loads((task / SCORES_FILE).read_text()) == results
    grid = json.loads((task / GRID_FILE).read_text())
    assert sorted(g["rank"] for g in grid) == [1, 2, 3]
    assert max(g["validation_score"] for g in grid) == results["test"]["validation_score"]
    assert json.loads((task / DONE_FILE).read_text())["backend"] == "fast"
    with open(task / "test.predictions.pkl", "rb") as f:
        predictions = pickle.load(f)
    assert predictions["prediction"].shape == (12, 3)
    np.testing.assert_allclose(predictions["prediction"].sum(1).numpy(), 1, rtol=1e-5)  # softmax


def test_same_seed_same_scores_other_seed_other_models(tmp_path):
    task = embedding_task(tmp_path / "scene", "scene", seed=3)
    copy = shutil.copytree(task, tmp_path / "copy")
    a = run_task(task, grid=SMALL_GRID, grid_points=2, progress=False, write=False)
    b = run_task(task, grid=SMALL_GRID, grid_points=2, progress=False, write=False)
    c = run_task(copy, grid=SMALL_GRID, grid_points=2, seed=7, progress=False, write=False)
    for key in ("test_loss", "validation_score", "epoch"):
        assert a["test"][key] == b["test"][key]
    assert a["test"]["test_loss"] != c["test"]["test_loss"]


def test_kfold_task_trains_every_fold_and_aggregates(tmp_path):
    task = _kfold(embedding_task(tmp_path / "scene", "scene"))
    results = run_task(task, grid=SMALL_GRID, grid_points=2, progress=False)
    assert [k for k in results if k.startswith("fold")] == ["fold00", "fold01", "fold02", "fold03"]
    scores = [results[f"fold{i:02d}"]["test_top1_acc"] for i in range(4)]
    agg = results["aggregated_scores"]
    assert agg["test_top1_acc_mean"] == pytest.approx(np.mean(scores))
    assert agg["test_top1_acc_std"] == pytest.approx(np.std(scores, ddof=1))
    assert primary_score(results) == (agg["test_score_mean"], agg["test_score_std"])
    assert min(scores) > 0.5  # chance is 1/3


def test_event_task_predicts_events(tmp_path):
    task = embedding_task(tmp_path / "event", "event")
    results = run_task(
        task, grid={"hidden_dim": [32], "max_epochs": [60], "lr": [3.2e-3]}, grid_points=1, progress=False
    )
    test = results["test"]
    assert set(test) >= {"test_event_onset_200ms_fms", "test_segment_1s_er", "test_segment_1s_er_error_rate"}
    assert test["test_event_onset_200ms_fms"] > 0.3
    assert dict(results["postprocessing"]) in ({"median_filter_ms": 250, "min_duration": m} for m in (125, 250))
    with open(task / "test.predictions.pkl", "rb") as f:
        predictions = pickle.load(f)
    assert set(predictions["predicted_events"]) == {"test_000.wav", "test_001.wav"}


def test_cli_runs_and_skips_done_tasks(tmp_path, capsys):
    task = embedding_task(tmp_path / "scene", "scene")
    assert cli_main([str(task), "--grid", "faster", "--grid-points", "2"]) == 0
    assert "test score" in capsys.readouterr().out
    assert cli_main([str(task)]) == 0
    assert "done already" in capsys.readouterr().out


def test_bad_input_is_named(tmp_path):
    task = embedding_task(tmp_path / "scene", "scene")
    (task / "valid.target-labels.pkl").unlink()
    with pytest.raises(FileNotFoundError, match="valid.target-labels.pkl"):
        run_task(task, progress=False)
    task = embedding_task(tmp_path / "nan", "scene")
    x = np.fromfile(task / "test.embeddings.npy", dtype=np.float32)
    x[3] = np.nan
    x.tofile(task / "test.embeddings.npy")
    with pytest.raises(ValueError, match="NaN"):
        run_task(task, progress=False)
    with pytest.raises(ValueError, match="unknown grid"):
        run_task(embedding_task(tmp_path / "ok", "scene"), grid="quick", progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_code_on_cuda(tmp_path):
    """The engine runs unchanged on CUDA, and learns the same easy task as on the CPU."""
    task = embedding_task(tmp_path / "scene", "scene")
    cpu = run_task(task, grid=SMALL_GRID, grid_points=2, device="cpu", progress=False, write=False)
    cuda = run_task(task, grid=SMALL_GRID, grid_points=2, device="cuda", progress=False)
    assert cuda["test"]["test_top1_acc"] > 0.8 and cpu["test"]["test_top1_acc"] > 0.8
    assert json.loads((task / DONE_FILE).read_text())["device"].startswith("cuda")
