"""The whole harness on real tasks: BYOL-A (official d512 checkpoint) through our embedding stage and
heareval's predictions (`faster` grid) on a scene task and an event task, with the orchestrator killed
by SIGKILL halfway and resumed; then the report table. Also kill-and-resume inside the embedding
stage, with two workers in parallel, on small subsets of the tasks.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hear_ssl.evaluation.jsonio import read_json

from .eval_support import subset_task
from .requires import require_module

require_module("heareval", "installed by `make install-eval`")

MODEL = "hear_ssl.byol_a-AudioNTT2020-BYOLA-64x96d512"
SCENE, EVENT = "drum_strokes-v1.0.0-full", "office_events-v1.0.0-full"


def evaluate_cmd(checkpoint, tasks_dir, run_dir, *extra):
    return [
        sys.executable,
        "-m",
        "hear_ssl.cli",
        "evaluate",
        "--modules",
        f"hear_ssl.byol_a:{checkpoint}",
        "--tasks-dir",
        str(tasks_dir),
        "--run-dir",
        str(run_dir),
        "--grid",
        "faster",
        "--quiet",
        *extra,
    ]


def wait_for(predicate, proc, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"harness exited ({proc.returncode}) before {what}:\n{out[-2000:]}\n{err[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def status(run_dir, task):
    path = Path(run_dir) / "status" / MODEL / f"{task}.json"
    return read_json(path) if path.exists() else {}


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until reaped; read its state to tell zombies from live processes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def kill9_when(cmd, run_dir, predicate, what, timeout=900):
    """Start the harness, SIGKILL it (the orchestrator only) once `predicate()` holds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(predicate, proc, timeout, what)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    return proc


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, hear_tasks_dir, byola_d512_checkpoint):
    run_dir = tmp_path_factory.mktemp("pipeline") / "run"
    cmd = evaluate_cmd(
        byola_d512_checkpoint,
        hear_tasks_dir,
        run_dir,
        "--tasks",
        "drum_strokes*,office_events*",
        "--grid-points",
        "3",
        "--leaderboard",
        str(hear_tasks_dir.parent / "leaderboard" / "hear-leaderboard.csv"),
    )
    start = time.time()
    # Kill the orchestrator while heareval trains on the event task (its embeddings are finished).
    kill9_when(cmd, run_dir, lambda: status(run_dir, EVENT).get("stage") == "predictions", "office_events predictions")
    killed = {
        "status": status(run_dir, EVENT),
        "scene_result_mtime": (run_dir / "results" / MODEL / f"{SCENE}.json").stat().st_mtime,
        "event_profile": (run_dir / "embeddings" / MODEL / EVENT / "profile.embeddings.json").read_text(),
    }
    time.sleep(2)
    killed["worker_alive"] = pid_alive(killed["status"]["pid"])
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return {"run_dir": run_dir, "killed": killed, "resumed": resumed, "seconds": time.time() - start}


def test_kill_minus_9_takes_the_worker_down_and_resume_finishes(interrupted_run):
    killed, resumed, run_dir = interrupted_run["killed"], interrupted_run["resumed"], interrupted_run["run_dir"]
    assert not killed["worker_alive"], "the worker outlived its killed orchestrator"
    assert killed["status"]["status"] == "running"
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    scene_result = run_dir / "results" / MODEL / f"{SCENE}.json"
    assert scene_result.stat().st_mtime == killed["scene_result_mtime"], "a finished task was redone"
    event_dir = run_dir / "embeddings" / MODEL / EVENT
    assert (event_dir / "profile.embeddings.json").read_text() == killed["event_profile"], (
        "finished embeddings were redone"
    )
    event_status = status(run_dir, EVENT)
    assert event_status["status"] == "done" and event_status["attempts"] == 2
    assert status(run_dir, SCENE)["attempts"] == 1
    assert not (run_dir / "lightning").exists(), "Lightning checkpoints were left behind"
    print(f"pipeline with kill and resume: {interrupted_run['seconds']:.0f} s")


def test_results_and_table(interrupted_run):
    run_dir = interrupted_run["run_dir"]
    scene = read_json(run_dir / "results" / MODEL / f"{SCENE}.json")
    event = read_json(run_dir / "results" / MODEL / f"{EVENT}.json")
    top1 = scene["metrics"]["top1_acc"]
    assert set(top1["folds"]) == {f"fold0{i}" for i in range(5)}
    assert top1["mean"] > 0.25, "BYOL-A should beat chance (1/9) on drum strokes by far"  # about 0.45 measured
    assert top1["std"] > 0
    onset = event["metrics"]["event_onset_200ms_fms"]
    assert list(onset["folds"]) == ["test"] and 0.0 <= onset["mean"] <= 1.0 and onset["std"] is None
    assert event["metrics"]["segment_1s_er"]["higher_is_better"] is False
    assert scene["embedding_size"] == 512 and scene["grid"] == "faster" and scene["grid_points"] == 3
    table = (run_dir / "report" / "results.md").read_text()
    scene_row, event_row = SCENE.split("-")[0], EVENT.split("-")[0]  # rows drop the version suffix
    row = next(line for line in table.splitlines() if line.startswith(f"| {scene_row} "))
    assert f"{top1['mean']:.3f} ± {top1['std']:.3f}" in row
    assert f"| {event_row} | event_onset_200ms_fms | {onset['mean']:.3f} |" in table
    assert "Logitech AI SERAB BYOL-S" in table  # published columns, from the leaderboard CSV
    for name in ("results.csv", "results.html", "results.png"):
        assert (run_dir / "report" / name).stat().st_size > 0
    assert interrupted_run["resumed"].stdout.count(f"| {scene_row} ") >= 1  # the table is printed at the end


def test_kill_during_embeddings_with_two_workers(tmp_path, hear_tasks_dir, byola_d512_checkpoint):
    tasks = tmp_path / "tasks"
    subset_task(hear_tasks_dir / SCENE, tasks, per_split=12)
    subset_task(hear_tasks_dir / "gm_pitch-v1.0.0-full", tasks, per_split=20)
    (tasks / "notes.txt").write_text("a stray file the harness must ignore")
    run_dir = tmp_path / "run"
    cmd = evaluate_cmd(byola_d512_checkpoint, tasks, run_dir, "--jobs", "2", "--grid-points", "1", "--no-report")

    def some_embeddings_written():
        return (
            any((run_dir / "embeddings" / MODEL).glob("*/*/*.embedding.npy"))
            if (run_dir / "embeddings").exists()
            else False
        )

    kill9_when(cmd, run_dir, some_embeddings_written, "the first embeddings")
    partial = [d for d in (run_dir / "embeddings" / MODEL).iterdir() if not (d / ".done.embeddings").exists()]
    assert partial, "expected an interrupted embedding folder"
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "ignoring" in resumed.stderr and "notes.txt" in resumed.stderr
    for task in (SCENE, "gm_pitch-v1.0.0-full"):
        result = read_json(run_dir / "results" / MODEL / f"{task}.json")
        assert 0.0 <= result["metrics"][result["primary_metric"]]["mean"] <= 1.0
        embed_dir = run_dir / "embeddings" / MODEL / task
        metadata = json.loads((embed_dir / "task_metadata.json").read_text())
        for split in metadata["splits"]:  # the redone embeddings are complete: one file per clip
            n_clips = len(json.loads((embed_dir / f"{split}.json").read_text()))
            assert len(list((embed_dir / split).glob("*.embedding.npy"))) == n_clips
