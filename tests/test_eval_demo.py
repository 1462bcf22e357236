"""The main job (`make demo`): it evaluates exactly the registry's bundled models and prints the results table."""

import re
import subprocess
import sys

import pytest

from hear_ssl import byol_a
from hear_ssl.evaluation.demo import bundled_specs
from hear_ssl.evaluation.display import model_display_name
from hear_ssl.registry import available_weights, get_weights

from .eval_support import subset_task


def bundled_weights() -> set[str]:
    return {name for name in available_weights() if get_weights(name).bundled}


def test_the_demo_evaluates_every_bundled_default_and_says_why_others_are_absent():
    specs, absent = bundled_specs()
    assert {get_weights(spec.options["model_name"]).name for spec in specs} == bundled_weights()
    assert absent and all("no bundled weights" in line or "same bundled weights" in line for line in absent)


def test_models_are_named_by_the_registry_weights_they_load():
    specs, _ = bundled_specs()
    names = {model_display_name(spec.slug, spec.to_dict()) for spec in specs}
    assert names == bundled_weights()  # e.g. byol-a-2048.vibcreg, tempo-tcn.bundled
    official = {"module": "hear_ssl.byol_a", "weights": "/data/AudioNTT2020-BYOLA-64x96d512.pth"}
    assert model_display_name("slug", official) == "byol_a · AudioNTT2020-BYOLA-64x96d512"
    assert model_display_name("slug", None) == "slug"
    # A module without a model name is named by the weights its default model loads.
    default = get_weights(byol_a.DEFAULT_MODEL)
    assert model_display_name("hear_ssl.byol_a", {"module": "hear_ssl.byol_a"}) == default.name


@pytest.mark.slow  # embeds a small real task with every bundled model, then trains the faster grid (~30 s)
def test_demo_runs_end_to_end_prints_the_table_and_resumes(hear_tasks_dir, tmp_path):
    subset_task(hear_tasks_dir / "drum_strokes-v1.0.0-full", tmp_path / "tasks", per_split=24)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "hear_ssl.evaluation.demo", "--tasks-dir", str(tmp_path / "tasks"),
               "--run-dir", str(run_dir), "--grid", "faster"]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    evaluated = first.stdout.splitlines()[0]
    assert evaluated.startswith("models evaluated:")
    assert all(name in evaluated for name in bundled_weights()), evaluated
    row = next(line for line in first.stdout.splitlines() if line.startswith("| drum_strokes"))
    scores = re.findall(r"\d\.\d{3} ± \d\.\d{3}", row)
    assert len(scores) == len(bundled_weights()), row  # one fold-mean score per evaluated model
    assert (run_dir / "report" / "results.html").is_file()

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert row in again.stdout  # a second run resumes and prints the same table
