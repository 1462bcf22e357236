"""Our embedding stage writes exactly what heareval's own embedding runner writes."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hear_ssl.evaluation.embeddings import HearModel, compute_task_embeddings, heareval_batch_size, labels_at_timestamps

from .eval_support import subset_task
from .requires import require_module


def test_labels_at_timestamps_follow_heareval_interval_rule():
    events = [
        {"label": "dog", "start": 100.0, "end": 300.0},
        {"label": "dog", "start": 100.0, "end": 300.0},  # an exact duplicate counts once; end is inclusive
        {"label": "bell", "start": 250.0, "end": 250.0},  # zero-length: only t == 250 hits it
    ]
    ts = np.array([0, 100, 250, 300, 301, 350], dtype=np.float32)
    assert labels_at_timestamps(events, ts) == [[], ["dog"], ["dog", "bell"], ["dog"], [], []]


def test_batch_size_rule_matches_heareval():
    assert heareval_batch_size(1.0, 16000) == 84
    assert heareval_batch_size(20.0, 16000) == 4
    assert heareval_batch_size(4.0, 48000) == 7
    assert heareval_batch_size(None, 16000) == 1


@pytest.fixture(scope="module")
def both_outputs(tmp_path_factory, hear_tasks_dir, byola_d512_checkpoint):
    require_module("heareval", "installed by `make install-eval`")
    require_module("tensorflow", "installed by `make install-eval`")
    import hear_ssl.byol_a as byol_a

    root = tmp_path_factory.mktemp("equiv")
    tasks = root / "tasks"
    scene = subset_task(hear_tasks_dir / "drum_strokes-v1.0.0-full", tasks, per_split=4)
    event = subset_task(hear_tasks_dir / "office_events-v1.0.0-full", tasks, per_split=2)
    cmd = [
        sys.executable,
        "-m",
        "heareval.embeddings.runner",
        "hear_ssl.byol_a",
        "--model",
        str(byola_d512_checkpoint),
        "--tasks-dir",
        str(tasks),
        "--embeddings-dir",
        str(root / "heareval"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    model = HearModel(byol_a, byol_a.load_model(str(byola_d512_checkpoint)))
    ours = {}
    for task in (scene, event):
        ours[task.name] = root / "ours" / task.name
        compute_task_embeddings(model, task, ours[task.name], progress=False)
    return {name: (root / "heareval" / "hear_ssl.byol_a" / name, path) for name, path in ours.items()}


@pytest.mark.parametrize("task", ["drum_strokes-v1.0.0-full", "office_events-v1.0.0-full"])
def test_same_files_and_contents_as_heareval_runner(both_outputs, task):
    theirs, ours = both_outputs[task]
    listing = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())  # noqa: E731
    assert listing(ours) == listing(theirs)
    event = json.loads((ours / "task_metadata.json").read_text())["embedding_type"] == "event"
    for rel in listing(theirs):
        a, b = theirs / rel, ours / rel
        if rel == "profile.embeddings.json":
            assert set(json.loads(a.read_text())) == set(json.loads(b.read_text()))
        elif rel.endswith(".embedding.npy"):
            x, y = np.load(a), np.load(b)
            assert x.dtype == y.dtype and x.shape == y.shape, rel
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-5, err_msg=rel)
        elif rel.endswith(".embeddings.npy"):  # raw float32 memmap: same size, same rows in the same order
            assert a.stat().st_size == b.stat().st_size, rel
            np.testing.assert_allclose(
                np.fromfile(b, np.float32), np.fromfile(a, np.float32), rtol=0, atol=1e-5, err_msg=rel
            )
        elif rel.endswith(".target-labels.pkl"):
            x, y = pickle.loads(a.read_bytes()), pickle.loads(b.read_bytes())
            assert _canonical(y, event) == _canonical(x, event), rel
        elif rel.endswith("filename-timestamps.json"):
            x, y = json.loads(a.read_text()), json.loads(b.read_text())
            strip = lambda rows, d: [[str(Path(s).relative_to(d)), t] for s, t in rows]  # noqa: E731
            assert strip(y, ours) == strip(x, theirs)
        elif rel.endswith(".target-labels.json"):
            x, y = json.loads(a.read_text()), json.loads(b.read_text())
            assert _canonical(y, event) == _canonical(x, event), rel
        else:
            assert b.read_bytes() == a.read_bytes(), rel


def _canonical(labels, event):
    """heareval keeps event labels in an interval set, so their order within a frame is arbitrary."""
    return [sorted(frame) for frame in labels] if event else labels
