"""A built wheel, installed non-editable into a fresh environment, works on its own from any folder.

`pip install hear-ssl` must not add a top-level `evaluation` package (it would shadow a user's own
module of that name): the repository's `evaluation/` and `weights/` folders are installed as
`hear_ssl.evaluation` and `hear_ssl.weights_bundle` (setup.py `package_dir`).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK_INSTALLED = """
import importlib.util, sys
from pathlib import Path
import hear_ssl, hear_ssl.tempo
import hear_ssl.evaluation.commands.evaluate, hear_ssl.evaluation.downstream.run, hear_ssl.evaluation.worker
import torch

prefix = Path(sys.prefix).resolve()
assert Path(hear_ssl.__file__).resolve().is_relative_to(prefix), hear_ssl.__file__
assert Path(hear_ssl.evaluation.worker.__file__).resolve().is_relative_to(prefix), hear_ssl.evaluation.worker.__file__
assert importlib.util.find_spec("evaluation") is None, importlib.util.find_spec("evaluation")
assert importlib.util.find_spec("weights_bundle") is None
model = hear_ssl.tempo.load_model("")  # the one bundled file (hear_ssl.weights_bundle)
scene = hear_ssl.tempo.get_scene_embeddings(0.1 * torch.randn(1, 44100), model)
print("bundled", model.name, tuple(scene.shape))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy: setuptools writes build/ and *.egg-info beside setup.py, and a stale build/ in the
    # checkout would both litter it and leak deleted modules into later wheels.
    source = tmp_path_factory.mktemp("source") / "hear-ssl"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(REPO, source, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        cwd=source,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=600,
    )
    (path,) = out.glob("hear_ssl-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_the_harness_and_weights_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"hear_ssl"}, top_level
    for required in (
        "hear_ssl/evaluation/run.py",
        "hear_ssl/evaluation/downstream/run.py",
        "hear_ssl/evaluation/commands/evaluate.py",
        "hear_ssl/py.typed",
    ):
        assert required in names, required
    bundled = {Path(name).name for name in names if name.startswith("hear_ssl/weights_bundle/")}
    assert bundled >= {path.name for path in (REPO / "weights").glob("*.safetensors")}, bundled


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_imports_loads_and_runs(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    venv_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies (torch, numpy, ...) come from this environment's site-packages. A path line in a
    # .pth file does not run that folder's own .pth files, so this environment's editable hear_ssl stays out.
    (Path(venv_site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)],
        check=True,
        env=env,
        timeout=600,
    )
    clean = tmp_path / "elsewhere"
    clean.mkdir()
    run = subprocess.run(
        [python, "-c", CHECK_INSTALLED], cwd=clean, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    import hear_ssl.tempo

    here = hear_ssl.tempo.load_model("")  # the same default, from the checkout
    assert f"bundled {here.name} (1, {here.scene_embedding_size})" in run.stdout, run.stdout
    cli = subprocess.run(
        [venv / "bin" / "hear-ssl", "evaluate", "--help"], cwd=clean, env=env, capture_output=True, text=True
    )
    assert cli.returncode == 0 and "--modules" in cli.stdout, cli.stdout + cli.stderr
