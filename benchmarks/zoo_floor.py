"""Harness floor runs of the encoder-zoo modules: random-init weights (and tempo's real ones) on HEAR tasks.

A module with random weights shows what the harness, the front-end and the pooling alone reach: a floor,
never a score of the published model. Each zoo family's small random-init seed fixture
(`shared/reference/seeds/`, the official checkpoint layouts; DeLoRes-S and DECAR weights built by the
fixture folder's `recipe.py`) is written as the checkpoint file its module loads; the tempo TCN runs with its
real bundled weights. Then `hear-ssl evaluate` runs every (module, task) pair; its report (RUN_DIR/report/
results.md, results.csv) holds the scores, and RUN_DIR/floor-command.txt the exact command.

    OMP_NUM_THREADS=1 python benchmarks/zoo_floor.py --run-dir runs/zoo-floor --grid faster
    python benchmarks/zoo_floor.py --run-dir runs/zoo-floor --modules tempo beats --tasks 'drum_strokes*'

Rerunning with the same run dir resumes (finished units are kept by the harness).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from hear_ssl.io import atomic_torch_save, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HEAR_SSL_SHARED", REPO.parent / "shared"))
ATST_FIXTURE_HEADS = 2  # the ATST fixtures' encoders (d=96); heads cannot be read from the weights


def _load(seeds: Path, name: str) -> dict:
    return torch.load(seeds / name, map_location="cpu", weights_only=True)


def _recipe_state(seeds: Path, fixture_name: str) -> dict[str, torch.Tensor]:
    """The recipe-built state dict of a DeLoRes-S / DECAR fixture (the recipe checks its sha256)."""
    spec = importlib.util.spec_from_file_location("seed_recipe", seeds / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe.build_state_dict(_load(seeds, fixture_name))


def _official_cfg_model(seeds: Path, fixture_name: str, path: Path) -> None:
    """BEATs / WavLM: the official `{'cfg', 'model'}` file."""
    fixture = _load(seeds, fixture_name)
    atomic_torch_save({"cfg": fixture["config"], "model": fixture["state_dict"]}, path)


def _atst_lightning(seeds: Path, fixture_name: str, path: Path) -> None:
    """ATST: a Lightning checkpoint with the teacher encoder under `model.teacher.encoder.`."""
    fixture = _load(seeds, fixture_name)
    payload = {"state_dict": fixture["checkpoint_state_dict"], "hyper_parameters": {"num_heads": ATST_FIXTURE_HEADS}}
    atomic_torch_save(payload, path)


# name -> (HEAR module, checkpoint writer(seeds, path) or None for bundled weights, what the weights are)
FLOOR_MODULES = {
    "tempo": ("hear_ssl.tempo", None, "real published weights (bundled)"),
    "beats": (
        "hear_ssl.beats",
        lambda seeds, path: _official_cfg_model(seeds, "beats_fixture.pt", path),
        "random init, seed fixture",
    ),
    "atst-frame": (
        "hear_ssl.atst",
        lambda seeds, path: _atst_lightning(seeds, "atst_frame_fixture.pt", path),
        "random init, seed fixture",
    ),
    "atst-clip": (
        "hear_ssl.atst",
        lambda seeds, path: _atst_lightning(seeds, "atst_clip_fixture.pt", path),
        "random init, seed fixture",
    ),
    "delores-s": (
        "hear_ssl.delores",
        lambda seeds, path: atomic_torch_save(_recipe_state(seeds, "delores_s_fixture.pt"), path),
        "recipe weights (untrained), seed fixture",
    ),
    "decar": (
        "hear_ssl.decar",
        lambda seeds, path: atomic_torch_save(_recipe_state(seeds, "decar_fixture.pt"), path),
        "recipe weights (untrained), seed fixture",
    ),
    "wavlm-base": (
        "hear_ssl.wavlm",
        lambda seeds, path: _official_cfg_model(seeds, "wavlm_base_fixture.pt", path),
        "random init, seed fixture",
    ),
    "wavlm-large": (
        "hear_ssl.wavlm",
        lambda seeds, path: _official_cfg_model(seeds, "wavlm_large_fixture.pt", path),
        "random init, seed fixture",
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="harness run folder (rerun to resume)")
    parser.add_argument("--modules", nargs="+", default=list(FLOOR_MODULES), choices=list(FLOOR_MODULES))
    parser.add_argument("--tasks-dir", type=Path, default=SHARED / "hear-tasks")
    parser.add_argument("--seeds", type=Path, default=SHARED / "reference" / "seeds", help="seed fixture folder")
    parser.add_argument("--tasks", default=None, metavar="PATTERN[,PATTERN]", help="passed to hear-ssl evaluate")
    parser.add_argument("--grid", default="faster", choices=("default", "fast", "faster"))
    parser.add_argument("--backend", default="fast", choices=("heareval", "fast"))
    parser.add_argument("--dry-run", action="store_true", help="write the checkpoints, print the command, stop")
    return parser.parse_args(argv)


def module_specs(names: list[str], seeds: Path, folder: Path) -> list[str]:
    """`hear-ssl evaluate --modules` specs, writing each module's checkpoint into `folder` first."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for name in names:
        module, write, _ = FLOOR_MODULES[name]
        if write is None:
            specs.append(module)
            continue
        path = folder / f"{name}-floor.pt"
        if not path.is_file():
            write(seeds, path)
        specs.append(f"{module}:{path}")
    return specs


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.seeds.is_dir():
        raise SystemExit(f"seed fixtures not found at {args.seeds}; pass --seeds or set HEAR_SSL_SHARED")
    specs = module_specs(args.modules, args.seeds, args.run_dir / "checkpoints")
    command = [str(Path(sys.executable).parent / "hear-ssl"), "evaluate", "--modules", *specs]
    command += ["--tasks-dir", str(args.tasks_dir), "--run-dir", str(args.run_dir), "--jobs", "1"]
    command += ["--grid", args.grid, "--backend", args.backend]
    if args.tasks:
        command += ["--tasks", args.tasks]
    print("$", shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    atomic_write_text(args.run_dir / "floor-command.txt", shlex.join(command) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # the CPUs are shared
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
