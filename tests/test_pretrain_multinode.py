"""Pretraining across nodes: two torchrun "nodes" on this machine (c10d rendezvous on 127.0.0.1, gloo, CPU)
train, checkpoint, are both killed (SIGKILL) mid-run, are relaunched with the same commands and finish with the
same loss log and weights as one node running 2 processes with the same global batch (docs/scale-out.md)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from .resume_support import checkpoint_step, env
from .test_pretrain_smoke import BARLOW_TWINS, command, corpus, losses  # noqa: F401

pytestmark = pytest.mark.slow
STEPS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pretrain_args(out_dir, audio, cache) -> list[str]:
    """`-m hear_ssl.cli pretrain ...` for torchrun: tiny global-batch Barlow Twins, `STEPS` steps."""
    args = [a for a in BARLOW_TWINS if a != "--d"]
    args[args.index("1056")] = "--encoder-d=1056"  # torchrun's parser rejects a bare --d
    cmd = command(args, out_dir, audio, cache)[1:]  # drop the interpreter: torchrun starts its own
    cmd[cmd.index("--max-steps") + 1] = str(STEPS)
    return cmd


def node_command(port: int, rdzv_id: str, script: list[str]) -> list[str]:
    """One node's launcher, exactly as on a cluster (docs/scale-out.md), with the head node on 127.0.0.1."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", rdzv_id,
        "--local-addr", "127.0.0.1", "--max-restarts", "0", *script,
    ]  # fmt: skip


def start_nodes(script: list[str], rdzv_id: str) -> list[subprocess.Popen]:
    port = free_port()  # a fresh port per launch: the killed store's port may still be in TIME_WAIT
    return [
        subprocess.Popen(
            node_command(port, rdzv_id, script),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants. torchrun starts its workers in their own sessions, so killing the
    launcher's process group would leave them training."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:  # the process just exited
            continue
        children.setdefault(int(rest.rsplit(") ", 1)[1].split()[1]), []).append(int(pid))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def finish(nodes: list[subprocess.Popen], timeout: float) -> None:
    for node in nodes:
        _, err = node.communicate(timeout=timeout)
        assert node.returncode == 0, err[-3000:]


def test_two_nodes_killed_and_relaunched_match_one_node_with_two_processes(corpus, tmp_path):  # noqa: F811
    audio, cache = corpus
    one_node, two_nodes = tmp_path / "one-node", tmp_path / "two-nodes"
    standalone = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    reference = subprocess.Popen(
        standalone + pretrain_args(one_node, audio, cache), env=env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    nodes = start_nodes(pretrain_args(two_nodes, audio, cache), "interrupted")
    deadline = time.time() + 150
    while checkpoint_step(two_nodes) < 2 and all(n.poll() is None for n in nodes) and time.time() < deadline:
        time.sleep(0.005)
    for pid in [p for node in nodes for p in process_tree(node.pid)]:  # the whole job dies, as a Slurm step does
        os.kill(pid, signal.SIGKILL)
    errors = [node.communicate()[1] for node in nodes]
    assert all(n.returncode == -signal.SIGKILL for n in nodes), f"a node ended before the kill: {errors}"
    killed_at = checkpoint_step(two_nodes)
    assert 2 <= killed_at < STEPS, f"killed at step {killed_at}"

    finish(start_nodes(pretrain_args(two_nodes, audio, cache), "resumed"), timeout=240)
    finish([reference], timeout=240)

    expected = losses(one_node)
    assert [row[0] for row in expected] == [str(s) for s in range(1, STEPS + 1)]
    assert losses(two_nodes) == expected  # each step once, same losses to the last printed digit
    assert len({row[1] for row in expected}) > 1, "loss never changed: nothing was trained"
    ref_state = torch.load(one_node / "ckpt.pt", weights_only=True)
    new_state = torch.load(two_nodes / "ckpt.pt", weights_only=True)
    assert new_state["world_size"] == 2 and len(new_state["ranks"]) == 2
    for key, value in ref_state["model"].items():
        assert torch.equal(value, new_state["model"][key]), key
