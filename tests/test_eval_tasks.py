"""Task discovery and validation: every problem reported with its path, stray entries ignored."""

import json
import logging

import pytest
import soundfile as sf

from hear_ssl.evaluation.modules import parse_module_spec
from hear_ssl.evaluation.run import TaskProblems, evaluate
from hear_ssl.evaluation.tasks import discover_tasks, validate_task

from .eval_support import subset_task


def test_shared_tasks_are_valid_and_the_readme_is_skipped(hear_tasks_dir, caplog):
    with caplog.at_level(logging.WARNING):
        tasks = discover_tasks(hear_tasks_dir)
    assert [t.name for t in tasks] == sorted(p.name for p in hear_tasks_dir.iterdir() if p.is_dir())
    assert "README.md" in caplog.text
    for task in tasks:
        report = validate_task(task, sample_rate=16000)
        assert report.ok, report.problems
    assert discover_tasks(hear_tasks_dir, "office*,gm_*")[0].name.startswith("gm_pitch")
    with pytest.raises(ValueError, match="available: drum_strokes"):
        discover_tasks(hear_tasks_dir, "esc50*")


def test_every_problem_is_reported_with_its_path(tmp_path, hear_tasks_dir):
    task = subset_task(hear_tasks_dir / "gm_pitch-v1.0.0-full", tmp_path, per_split=3)
    meta = json.loads((task / "task_metadata.json").read_text())
    meta["evaluation"] = ["pitch_acc", "accuracy"]
    del meta["prediction_type"]
    (task / "task_metadata.json").write_text(json.dumps(meta))
    train = json.loads((task / "train.json").read_text())
    first = next(iter(train))
    train[first] = ["999"]  # not in the vocabulary
    (task / "train.json").write_text(json.dumps(train))
    (task / "16000" / "valid" / next(iter(json.loads((task / "valid.json").read_text())))).unlink()
    test_file = task / "16000" / "test" / next(iter(json.loads((task / "test.json").read_text())))
    audio, sr = sf.read(test_file)
    sf.write(test_file, audio[: sr // 2], sr)  # half the declared duration
    report = validate_task(task, sample_rate=16000)
    text = "\n".join(report.problems)
    assert f"{task / 'task_metadata.json'}: missing keys prediction_type" in text
    assert "unknown metrics ['accuracy']" in text
    assert f"{task / 'train.json'}: labels not in labelvocabulary.csv: ['999']" in text
    assert f"{task / '16000' / 'valid'}: 1 audio files missing" in text
    assert f"{task / '16000' / 'test'}: {test_file.name}: 0.500 s long, sample_duration is 1.0 s" in text
    assert len(report.problems) == 5


def test_broken_task_stops_the_run_before_any_compute(tmp_path, hear_tasks_dir):
    task = subset_task(hear_tasks_dir / "gm_pitch-v1.0.0-full", tmp_path / "tasks", per_split=2)
    (task / "labelvocabulary.csv").unlink()
    spec = parse_module_spec("hear_ssl.byol_a")
    with pytest.raises(TaskProblems) as err:
        evaluate([spec], tmp_path / "tasks", tmp_path / "run", progress=False)
    assert str(task / "labelvocabulary.csv") in err.value.problems[0]
    assert not (tmp_path / "run").exists()


def test_module_specs():
    spec = parse_module_spec("hear_ssl.byol_s?model_name=byol-s-cvt,batch_seconds=30")
    assert spec.module == "hear_ssl.byol_s" and spec.weights is None
    assert spec.options == {"model_name": "byol-s-cvt", "batch_seconds": 30}
    assert spec.slug == "hear_ssl.byol_s-batch_seconds=30-model_name=byol-s-cvt"
    with pytest.raises(ValueError, match="MODULE"):
        parse_module_spec("not a module:x")
    with pytest.raises(FileNotFoundError, match="weights for hear_ssl.byol_a not found"):
        parse_module_spec("hear_ssl.byol_a:/nonexistent/w.pth")


def test_uninstalled_module_is_refused_before_any_work(tmp_path, hear_tasks_dir):
    with pytest.raises(ImportError, match="'hear_ssl.no_such_module' is not installed"):
        evaluate([parse_module_spec("hear_ssl.no_such_module")], hear_tasks_dir, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
