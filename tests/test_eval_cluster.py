"""`hear-ssl evaluate --cluster ray`: the units of a run as Ray tasks on a real 2-node Ray cluster on 127.0.0.1.

The slow test starts a head and a second node (`ray start`, separate process trees, killed in teardown and by a
`timeout` wrapper), runs 4 (model, task) units across both, SIGKILLs the second node while one of its units is
training, and checks that every unit finishes with the results of a local `--jobs 2` run and that no finished
stage was redone. Without `--cluster` the harness must not import ray.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hear_ssl.evaluation.cluster import parse_cluster
from hear_ssl.evaluation.jsonio import read_json

from .eval_support import subset_task
from .requires import require_module
from .test_pretrain_multinode import process_tree

MODEL = "hear_ssl.tempo"  # a small real HEAR module with bundled weights
TASKS = (
    "drum_strokes-v1.0.0-full",
    "gm_pitch-v1.0.0-full",
    "fsdd_digits-v1.0.0-full",
    "speech_commands_12-v1.0.0-full",
)
RAY = Path(sys.executable).with_name("ray")


def test_cluster_addresses():
    assert parse_cluster("ray") is None  # a local Ray instance for this run
    assert parse_cluster("ray:auto") == "auto"
    assert parse_cluster("ray:10.0.0.1:6379") == "10.0.0.1:6379"
    assert parse_cluster("ray://head:10001") == "ray://head:10001"
    for bad in ("dask", "ray:", "ray://"):
        with pytest.raises(ValueError, match="use ray, ray:ADDRESS"):
            parse_cluster(bad)


def test_local_mode_does_not_import_ray(tmp_path):
    code = (
        "import sys\n"
        "from hear_ssl import cli\n"
        "from hear_ssl.evaluation import run, worker\n"
        f"assert cli.main(['evaluate', '--modules', 'hear_ssl.tempo', '--tasks-dir', {str(tmp_path)!r}, "
        f"'--run-dir', {str(tmp_path / 'run')!r}, '--quiet']) == 2\n"
        "assert 'ray' not in sys.modules, 'ray was imported without --cluster'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no valid task to run" in done.stderr  # it got as far as looking for tasks


def test_unknown_cluster_is_a_clear_error(tmp_path, capsys):
    from hear_ssl import cli

    args = ["evaluate", "--modules", "hear_ssl.tempo", "--tasks-dir", str(tmp_path), "--run-dir", str(tmp_path / "r")]
    assert cli.main([*args, "--cluster", "dask"]) == 2
    assert "unknown --cluster 'dask'" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_env() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "RAY_AUTH_MODE": "disabled",  # loopback-only test cluster
        "RAY_USAGE_STATS_ENABLED": "0",
        # Notice the killed node within seconds instead of the default ~30 s.
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
        "RAY_health_check_initial_delay_ms": "1000",
    }


class Node:
    """One `ray start --block` process tree, at most `lifetime` seconds (a `timeout` wrapper kills it)."""

    def __init__(self, args: list[str], temp_dir: str, lifetime: int = 600):
        cmd = ["timeout", "-s", "KILL", str(lifetime), str(RAY), "start", "--block", "--disable-usage-stats",
               "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--memory", str(2 << 30),
               "--object-store-memory", str(80 << 20), "--temp-dir", temp_dir, *args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=cluster_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pids(self) -> set[int]:
        return set(process_tree(self.proc.pid))

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)


def wait_for_nodes(address: str, count: int, timeout: float = 180) -> None:
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='ERROR')\n"
        f"deadline = time.time() + {timeout}\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
        "    assert time.time() < deadline, ray.nodes()\n"
        "    time.sleep(0.5)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=cluster_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"the Ray cluster did not come up: {done.stderr[-2000:]}"


def evaluate_cmd(tasks: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hear_ssl.cli", "evaluate", "--modules", MODEL, "--tasks-dir", str(tasks),
            "--run-dir", str(run_dir), "--grid", "faster", "--grid-points", "1", "--backend", "fast", "--quiet",
            "--no-report", *extra]  # fmt: skip


def statuses(run_dir: Path) -> dict[str, dict]:
    return {p.stem: read_json(p) for p in (run_dir / "status" / MODEL).glob("*.json")}


def finished_stages(run_dir: Path) -> dict[str, float]:
    """mtime of every finished stage's marker: `task/embeddings` and `task/result`."""
    out = {}
    for task in TASKS:
        marker = run_dir / "embeddings" / MODEL / task / ".done.embeddings"
        result = run_dir / "results" / MODEL / f"{task}.json"
        for name, path in (("embeddings", marker), ("result", result)):
            if path.exists():
                out[f"{task}/{name}"] = path.stat().st_mtime_ns
    return out


@pytest.fixture
def tasks(tmp_path, hear_tasks_dir):
    for task in TASKS:
        subset_task(hear_tasks_dir / task, tmp_path / "tasks", per_split=8)
    return tmp_path / "tasks"


@pytest.fixture
def ray_cluster():
    require_module("ray", "pip install 'hear-ssl[cluster]' (make install-eval installs it)")
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    nodes = []
    try:
        nodes.append(Node(["--head", "--port", str(port), "--include-dashboard", "false"], temp_dir))
        wait_for_nodes(f"127.0.0.1:{port}", 1)
        nodes.append(Node(["--address", f"127.0.0.1:{port}"], temp_dir))
        wait_for_nodes(f"127.0.0.1:{port}", 2)
        yield {"address": f"127.0.0.1:{port}", "head": nodes[0], "worker": nodes[1]}
    finally:
        for node in reversed(nodes):
            node.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_ray_cluster_survives_a_node_death_with_local_results(tasks, ray_cluster, tmp_path):
    require_module("heareval", "installed by `make install-eval`")
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    start = time.time()
    # The local reference, through the CLI in a process that then checks that the local mode never imported ray.
    argv = evaluate_cmd(tasks, local_dir, "--jobs", "2")[3:]
    code = (
        f"import sys\nfrom hear_ssl import cli\nassert cli.main({argv!r}) == 0\n"
        "assert 'ray' not in sys.modules, 'the local mode imported ray'\n"
    )
    local = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    local_seconds = time.time() - start
    assert local.returncode == 0, local.stderr[-3000:]

    start = time.time()
    harness = subprocess.Popen(
        evaluate_cmd(tasks, ray_dir, "--cluster", f"ray:{ray_cluster['address']}"), env=cluster_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    head, worker = ray_cluster["head"], ray_cluster["worker"]
    ran_on = {}  # task -> "head" / "worker", from the worker pids the units record
    victim = None
    deadline = time.time() + 400
    while victim is None:
        assert harness.poll() is None, f"the harness ended before the kill: {harness.communicate()[1][-3000:]}"
        assert time.time() < deadline, "no unit reached its prediction stage on the second node"
        head_pids, worker_pids = head.pids(), worker.pids()
        for task, status in statuses(ray_dir).items():
            if status.get("status") == "running" and status.get("pid"):
                node = "worker" if status["pid"] in worker_pids else "head" if status["pid"] in head_pids else None
                ran_on.setdefault(task, node)
                # Kill the node while one of its units trains, its embeddings finished.
                if node == "worker" and status.get("stage") == "predictions":
                    victim = task
        time.sleep(0.2)
    before = finished_stages(ray_dir)
    worker.kill()
    assert f"{victim}/embeddings" in before
    out, err = harness.communicate(timeout=600)
    ray_seconds = time.time() - start
    assert harness.returncode == 0, err[-3000:]

    assert "head" in ran_on.values(), f"no unit was seen on the head node: {ran_on}"
    after = finished_stages(ray_dir)
    for stage, mtime in before.items():
        assert after[stage] == mtime, f"{stage} was finished before the node died, and was redone"
    final = statuses(ray_dir)
    assert final[victim]["status"] == "done" and final[victim]["attempts"] == 2, final[victim]
    for task in TASKS:
        result = read_json(ray_dir / "results" / MODEL / f"{task}.json")
        expected = read_json(local_dir / "results" / MODEL / f"{task}.json")
        assert result["metrics"] == expected["metrics"], task
        assert result["embedding_size"] == expected["embedding_size"]
    assert all(final[t]["attempts"] == 1 for t in TASKS if t != victim), json.dumps(final)
    print(f"4 units: local --jobs 2 {local_seconds:.0f} s; 2-node Ray with a node killed {ray_seconds:.0f} s")
