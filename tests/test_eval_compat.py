"""heareval 2021.1.3 on torch >= 2.6 / Lightning 1.9: each compat fix is needed, and confined."""

import importlib
import json
import pickle

import pytest

from .requires import require_module

require_module("heareval", "installed by `make install-eval`")

import torch  # noqa: E402

from hear_ssl.evaluation.compat import FIXES, heareval_compat  # noqa: E402
from hear_ssl.evaluation.predictions import run_predictions  # noqa: E402

from .eval_support import embedding_task  # noqa: E402


def predict(embed_dir, lightning_dir, fixes=FIXES, keep_logs=False):
    return run_predictions(embed_dir, lightning_dir, grid="faster", grid_points=1, fixes=fixes, keep_logs=keep_logs)


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    return embedding_task(tmp_path_factory.mktemp("scene") / "tiny_scene", "scene")


@pytest.fixture(scope="module")
def event_dir(tmp_path_factory):
    return embedding_task(tmp_path_factory.mktemp("event") / "tiny_event", "event")


def test_scene_task_runs_and_leaves_no_lightning_files(scene_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lightning = tmp_path / "run" / "lightning" / "model" / "task"
    scores = predict(scene_dir, lightning)
    assert 0.0 <= scores["test"]["test_top1_acc"] <= 1.0
    assert (scene_dir / "test.predicted-scores.json").is_file() and (scene_dir / "prediction-done.json").is_file()
    assert not (tmp_path / "logs").exists() and not (tmp_path / "lightning_logs").exists()
    assert not (scene_dir / "lightning_logs").exists()
    assert not (tmp_path / "run" / "lightning").exists()  # removed with its empty parents


def test_keep_logs_keeps_checkpoints_in_the_given_folder(scene_dir, tmp_path):
    lightning = tmp_path / "lightning"
    predict(scene_dir, lightning, keep_logs=True)
    assert list(lightning.rglob("*.ckpt")), "Lightning checkpoints should land in the harness folder"


def test_reload_fails_without_weights_only_fix(scene_dir, tmp_path):
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        predict(scene_dir, tmp_path / "l", fixes=[f for f in FIXES if f != "weights_only_reload"])


def test_event_task_needs_fit_loop_current_epoch(event_dir, tmp_path):
    with pytest.raises(KeyError):
        predict(event_dir, tmp_path / "a", fixes=[f for f in FIXES if f != "fit_loop_current_epoch"])
    scores = predict(event_dir, tmp_path / "b")
    assert 0.0 <= scores["test"]["test_event_onset_200ms_fms"] <= 1.0


def test_patches_are_confined_to_the_context(tmp_path):
    import heareval.predictions.task_predictions as tp
    from pytorch_lightning.loops.fit_loop import FitLoop

    import hear_ssl.evaluation  # noqa: F401  importing the harness must not patch anything
    import hear_ssl.evaluation.run  # noqa: F401

    load, logger = torch.load, tp.CSVLogger
    assert "current_epoch" not in vars(FitLoop)
    with heareval_compat(tmp_path):
        assert torch.load is not load and tp.CSVLogger is not logger
        assert isinstance(vars(FitLoop)["current_epoch"], property)
    assert torch.load is load and tp.CSVLogger is logger
    assert "current_epoch" not in vars(FitLoop)


def test_trusted_loading_only_under_the_lightning_folder(tmp_path):
    """Outside the harness's own checkpoint folder torch keeps its safe weights-only default."""
    payload = {"cls": torch.nn.BatchNorm1d}
    inside, outside = tmp_path / "lightning" / "x.ckpt", tmp_path / "elsewhere.ckpt"
    inside.parent.mkdir()
    torch.save(payload, inside)
    torch.save(payload, outside)
    with heareval_compat(tmp_path / "lightning"):
        assert torch.load(inside)["cls"] is torch.nn.BatchNorm1d
        with pytest.raises(pickle.UnpicklingError):
            torch.load(outside)


def test_nvml_device_name_on_gpu_machines(monkeypatch, tmp_path):
    """heareval's CUDA profiler calls .decode() on the str current pynvml returns."""
    pynvml = require_module("pynvml", "installed by `make install-eval`")
    import heareval.gpu_max_mem as gpu_max_mem

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    # No GPU here: stand in for the driver calls only, the pynvml package itself is real.
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda index: ("handle", index))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda handle: "NVIDIA H100 80GB HBM3")
    try:
        importlib.reload(gpu_max_mem)  # heareval's CUDA branch, as imported on a GPU machine
        with pytest.raises(AttributeError, match="decode"):
            gpu_max_mem.device_name()
        with heareval_compat(tmp_path, fixes=["nvml_device_name"]):
            assert gpu_max_mem.device_name() == "NVIDIA H100 80GB HBM3"
        monkeypatch.setattr(gpu_max_mem, "nvmlDeviceGetName", lambda handle: b"Tesla V100")  # old pynvml
        with heareval_compat(tmp_path, fixes=["nvml_device_name"]):
            assert gpu_max_mem.device_name() == "Tesla V100"
    finally:
        monkeypatch.undo()
        importlib.reload(gpu_max_mem)
    assert gpu_max_mem.device_name() == "cpu"


def test_seed_draws_other_models_for_the_same_grid_points(scene_dir, tmp_path):
    """A seed reseeds torch/numpy (other initialisations and dropout) but keeps heareval's sampled grid points."""
    import heareval.predictions.task_predictions as tp

    from hear_ssl.evaluation.downstream.reference import comparable_hparams, heareval_grid_summary

    original = tp.seed_everything
    loss, grid = {}, {}
    for seed in (None, 7):
        run_predictions(scene_dir, tmp_path / f"l{seed}", grid="faster", grid_points=2, seed=seed)
        loss[seed] = json.loads((scene_dir / "test.predicted-scores.json").read_text())["test"]["test_loss"]
        grid[seed] = [comparable_hparams(row[2]) for row in heareval_grid_summary(scene_dir)]
    assert tp.seed_everything is original  # restored after the run
    assert len(grid[None]) == 2 and grid[None] == grid[7]
    assert loss[None] != loss[7]


def test_seed_42_is_heareval_as_published(scene_dir, tmp_path):
    losses = []
    for seed in (None, 42):
        run_predictions(scene_dir, tmp_path / f"l{seed}", grid="faster", grid_points=1, seed=seed)
        losses.append(json.loads((scene_dir / "test.predicted-scores.json").read_text())["test"]["test_loss"])
    assert losses[0] == losses[1]
