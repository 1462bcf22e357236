"""Run-directory bookkeeping: one harness per run, resumes keep the protocol, results summarised."""

import subprocess
import sys

import pytest

from hear_ssl.evaluation.results import summarize_scores
from hear_ssl.evaluation.state import RunLock, Unit, check_run_config


def test_a_run_directory_is_locked_while_in_use(tmp_path):
    with RunLock(tmp_path):
        code = f"from hear_ssl.evaluation.state import RunLock\nwith RunLock({str(tmp_path)!r}): pass"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and "is in use by pid" in other.stderr
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode == 0, other.stderr


def test_resume_must_keep_the_protocol(tmp_path):
    config = {"models": {"m": {"weights_sha256": "aa"}}, "grid": "faster", "grid_points": 8, "backend": "heareval"}
    check_run_config(tmp_path, config)
    with pytest.raises(ValueError, match="grid='faster', not 'default'"):
        check_run_config(tmp_path, {**config, "grid": "default"})
    with pytest.raises(ValueError, match="weights behind m changed"):
        check_run_config(tmp_path, {**config, "models": {"m": {"weights_sha256": "bb"}}})
    merged = check_run_config(tmp_path, {**config, "models": {"n": {"weights_sha256": None}}})
    assert set(merged["models"]) == {"m", "n"}  # adding a model to a run is fine


def test_unit_status_updates_merge(tmp_path):
    unit = Unit(tmp_path, "model", "task")
    assert unit.read_status()["status"] == "pending" and not unit.done
    unit.update_status(status="running", stage="embeddings", seconds={"embeddings": 1.5})
    unit.update_status(stage="predictions")
    status = unit.read_status()
    assert (status["status"], status["stage"], status["seconds"]) == ("running", "predictions", {"embeddings": 1.5})


def test_summaries_take_heareval_aggregates_for_kfold_and_the_value_otherwise():
    kfold = {f"fold0{i}": {"test_top1_acc": 0.5 + i / 10, "test_score": 0.0} for i in range(3)}
    kfold["aggregated_scores"] = {"test_top1_acc_mean": 0.6, "test_top1_acc_std": 0.1}
    kfold["hparams"] = {"lr": 0.001}
    summary = summarize_scores(kfold, {"evaluation": ["top1_acc"]})
    assert summary["top1_acc"]["mean"] == 0.6 and summary["top1_acc"]["std"] == 0.1
    assert summary["top1_acc"]["folds"] == {"fold00": 0.5, "fold01": 0.6, "fold02": 0.7}
    single = {"test": {"test_event_onset_200ms_fms": 0.3, "test_segment_1s_er": None}}
    summary = summarize_scores(single, {"evaluation": ["event_onset_200ms_fms", "segment_1s_er"]})
    assert summary["event_onset_200ms_fms"] == {
        "mean": 0.3,
        "std": None,
        "folds": {"test": 0.3},
        "higher_is_better": True,
    }
    assert summary["segment_1s_er"]["mean"] is None and summary["segment_1s_er"]["higher_is_better"] is False
    with pytest.raises(KeyError, match="test_mAP"):
        summarize_scores(single, {"evaluation": ["mAP"]})
