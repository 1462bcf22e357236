"""The exact-resume check every pretraining objective passes: a run SIGKILLed after a checkpoint and resumed
with the same command logs the same rows and ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TIMING_COLUMNS = ("samples_per_s", "elapsed_s")  # wall-clock columns, the only ones allowed to differ


def env() -> dict:
    # Same thread count in every run: float reductions may otherwise differ in the last bit.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def checkpoint_step(out_dir: Path) -> int:
    try:
        return json.loads((out_dir / "ckpt.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def log_rows(out_dir: Path) -> list[dict]:
    """log.csv rows without the timing columns."""
    with open(out_dir / "log.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def killed_and_resumed(
    command_for: Callable[[Path], list[str]], root: Path, steps: int = 6, wait_s: float = 120
) -> tuple[dict, dict]:
    """Run `command_for(out_dir)` uninterrupted in root/reference and, beside it, in root/interrupted killed
    with SIGKILL once its checkpoint reaches step 2, then resumed; assert both logged every step once with the
    same values and ended with the same model state.

    The command must train `steps` steps, checkpoint every 2 and log every step.

    Returns
    -------
    (reference, resumed) : the two final checkpoints (``torch.load`` of ``ckpt.pt``).
    """
    reference, interrupted = root / "reference", root / "interrupted"
    ref_proc = subprocess.Popen(command_for(reference), env=env(), stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen(command_for(interrupted), env=env(), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + wait_s
    while checkpoint_step(interrupted) < 2 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    _, victim_err = victim.communicate()
    assert victim.returncode == -signal.SIGKILL, f"run ended before it could be killed: {victim_err[-2000:]}"
    assert 2 <= checkpoint_step(interrupted) < steps
    _, ref_err = ref_proc.communicate(timeout=wait_s + 60)
    assert ref_proc.returncode == 0, ref_err[-2000:]
    resumed = subprocess.run(command_for(interrupted), env=env(), capture_output=True, text=True, timeout=wait_s + 60)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    expected = log_rows(reference)
    assert [row["step"] for row in expected] == [str(s) for s in range(1, steps + 1)]
    # Each step once (rows the killed process logged after its checkpoint are dropped), every logged term
    # equal to the last printed digit.
    assert log_rows(interrupted) == expected
    assert len({row["loss"] for row in expected}) > 1, "loss never changed: nothing was trained"
    ref_state = torch.load(reference / "ckpt.pt", weights_only=True)
    new_state = torch.load(interrupted / "ckpt.pt", weights_only=True)
    assert ref_state["model"].keys() == new_state["model"].keys()
    for key, value in ref_state["model"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, new_state["model"][key]), key
        else:
            assert repr(value) == repr(new_state["model"][key]), key  # e.g. DECAR's clustering state
    return ref_state, new_state
