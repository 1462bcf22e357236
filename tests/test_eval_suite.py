"""The whole HEAR 2021 suite's shapes end to end: `hear-ssl evaluate` over the 20 official task folders
(synthetic stand-ins from `hear-ssl tasks synth`, 48 kHz only) with both prediction backends, the
orchestrator killed with SIGKILL in the middle of the heareval run and resumed, then every report row
checked. A random-weights BYOL-A-shaped encoder (d=64) keeps the embedding stage cheap; clip lengths
are capped at 6 s for time (the synth command itself writes the official durations)."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from hear_ssl.config import EncoderConfig
from hear_ssl.evaluation.jsonio import read_json
from hear_ssl.evaluation.official_tasks import OFFICIAL

from .weights_support import write_random_weights

pytestmark = pytest.mark.slow
pytest.importorskip("heareval")

MODEL = "hear_ssl.byol_a-random-d64"
COMBINED = "Beehive (mean of fold0, fold1)"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    checkpoint = root / "random-d64.safetensors"
    write_random_weights(checkpoint, EncoderConfig(arch="audiontt2020", d=64))
    tasks = root / "tasks"
    synth = [sys.executable, "-m", "hear_ssl.cli", "tasks", "synth", "--out", str(tasks), "--scale", "0.02"]
    subprocess.run(synth + ["--max-duration", "6", "--quiet"], check=True, timeout=600)
    return {"root": root, "checkpoint": checkpoint, "tasks": tasks}


def evaluate_cmd(suite, run_dir, backend, leaderboard):
    return [
        sys.executable,
        "-m",
        "hear_ssl.cli",
        "evaluate",
        "--modules",
        f"hear_ssl.byol_a:{suite['checkpoint']}",
        "--tasks-dir",
        str(suite["tasks"]),
        "--run-dir",
        str(run_dir),
        "--grid",
        "faster",
        "--grid-points",
        "2",
        "--backend",
        backend,
        "--jobs",
        "2",
        "--threads",
        "1",
        "--leaderboard",
        str(leaderboard),
        "--quiet",
    ]


def results_of(run_dir):
    folder = run_dir / "results" / MODEL
    return {p.stem: p for p in folder.glob("*.json")} if folder.is_dir() else {}


def primary_table(markdown):
    """`{task: [cells]}` of the report's primary-metric table."""
    section = markdown.split("## Primary metric", 1)[1].split("\n\n", 2)[1]
    rows = [line.strip("|").split("|") for line in section.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def check_run(run_dir, markdown):
    results, undefined = results_of(run_dir), {}
    assert sorted(results) == sorted(t.folder for t in OFFICIAL)
    for task in OFFICIAL:
        record = read_json(results[task.folder])
        assert list(record["metrics"]) == list(task.evaluation), task.folder
        assert record["sample_rate"] == 16000 and record["embedding_size"] == 64
        primary = record["metrics"][task.evaluation[0]]
        if primary["mean"] is None:  # only where heareval's score function itself returned NaN
            assert primary["nonfinite"]["mean"] == "nan", (task.folder, primary)
        else:
            assert 0.0 <= primary["mean"] <= 1.0, (task.folder, primary)
        undefined[task.folder] = primary["mean"] is None
    # Rows are named as the leaderboard names its columns (the two Beehive folds by their folder's task).
    row_folder = {(t.column if t.column != "Beehive" else t.folder.split("-")[0]): t.folder for t in OFFICIAL}
    rows = primary_table(markdown)
    assert sorted(rows) == sorted(list(row_folder) + [COMBINED])
    for name, cells in rows.items():
        score, published = cells[1], cells[2]
        if undefined.get(row_folder.get(name)):
            assert score == "—", (name, score)
        else:
            assert re.fullmatch(r"\*{0,2}(\d\.\d{3}( ± \d\.\d{3})?|∞)\*{0,2}", score), (name, score)
        if name.startswith("beehive_states_fold"):
            assert published.startswith(f"compared in {COMBINED}"), (name, published)
        else:
            assert published.startswith("not comparable: synthetic stand-in"), (name, published)
    assert "**Warning: this run's protocol differs" in markdown
    assert "## Leaderboard columns" in markdown and "(n/c)" in markdown


def test_all_twenty_folders_with_both_backends_and_a_kill_in_the_middle(suite, shared_dir):
    leaderboard = shared_dir / "leaderboard" / "hear-leaderboard.csv"
    timings = {}
    start = time.time()
    fast_dir = suite["root"] / "run-fast"
    done = subprocess.run(evaluate_cmd(suite, fast_dir, "fast", leaderboard), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    check_run(fast_dir, (fast_dir / "report" / "results.md").read_text())
    timings["fast"] = time.time() - start

    start = time.time()
    run_dir = suite["root"] / "run-heareval"
    cmd = evaluate_cmd(suite, run_dir, "heareval", leaderboard)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 900
    while len(results_of(run_dir)) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, f"the harness ended before the kill: {proc.communicate()[1][-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    finished = {name: path.stat().st_mtime for name, path in results_of(run_dir).items()}
    assert 8 <= len(finished) < 20
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {n: p.stat().st_mtime for n, p in results_of(run_dir).items() if n in finished} == finished
    check_run(run_dir, (run_dir / "report" / "results.md").read_text())
    timings["heareval"] = time.time() - start
    print(f"suite timings (s): {timings}")
