"""CI smoke test of the pretraining engine: every objective trains a few steps on generated audio, is killed
(SIGKILL) after a checkpoint, resumes with the same command to the same losses and weights as an
uninterrupted run, and exports weights that load through its HEAR module."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_ssl import cli

from .pretrain_corpus import write_corpus
from .resume_support import env, killed_and_resumed

COMMON = [
    "--batch-size", "6", "--max-steps", "6", "--crop-frames", "48", "--checkpoint-every", "2", "--log-every", "1",
    "--mixup-memory", "16", "--no-progress", "--seed", "3",
]  # fmt: skip
# Tiny members of each architecture family, so the whole test runs in well under two minutes on 2 cores.
BYOL = ["--objective", "byol", "--arch", "audiontt2020", "--d", "32", "--proj-hidden", "32", "--proj-dim", "16"]
BARLOW_TWINS = ["--objective", "barlow_twins", "--arch", "audiontt2022", "--d", "1056", "--mlp-hidden-d", "16",
                "--expander-dims", "32", "32"]  # fmt: skip
VICREG = ["--objective", "vicreg", "--arch", "audiontt2020", "--d", "32", "--expander-dims", "32", "32"]
HYBRID = ["--objective", "hybrid", "--arch", "cvt", "--cvt-dims", "8,16,32", "--cvt-heads", "1,1,1",
          "--features", "torch", "--feature-hidden", "16", "--proj-hidden", "32", "--proj-dim", "16"]  # fmt: skip
# ATST: 2 blocks x 96 wide; crops of 1.6 s (the corpus files are 0.3-4 s), ATST-Clip views of 1 s.
ATST = ["--proj-hidden", "32", "--proj-dim", "16"]
ATST_CLIP = [
    "--objective",
    "atst_clip",
    "--atst-clip-embed-dim",
    "96",
    "--atst-clip-depth",
    "2",
    "--atst-clip-num-heads",
    "4",
    "--atst-clip-crop-frames",
    "160",
    "--atst-clip-view-frames",
    "100",
    *ATST,
]
ATST_FRAME = ["--objective", "atst_frame", "--atst-frame-embed-dim", "96", "--atst-frame-depth", "2",
              "--atst-frame-num-heads", "4", "--atst-frame-crop-frames", "160", *ATST]  # fmt: skip
OBJECTIVES = {
    "atst_clip": (ATST_CLIP, "atst"),
    "atst_frame": (ATST_FRAME, "atst"),
    "byol": (BYOL, "byol_a"),
    "barlow_twins": (BARLOW_TWINS, "barlow_twins"),
    "vicreg": (VICREG, "byol_a"),
    "hybrid": (HYBRID, "hybrid"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    audio = root / "audio"
    write_corpus(audio)
    cache = root / "cache"
    # The first command builds the shared cache; later ones reuse it.
    assert (
        cli.main(["pretrain", "--data", str(audio), "--cache-dir", str(cache), "--prepare-only", "--no-progress"]) == 0
    )
    return audio, cache


def command(args: list[str], out_dir: Path, audio: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "hear_ssl.cli", "pretrain", *args, *COMMON, "--data", str(audio),
            "--cache-dir", str(cache), "--out-dir", str(out_dir), "--no-export"]  # fmt: skip


def losses(out_dir: Path) -> list[tuple[str, str, str]]:
    with open(out_dir / "log.csv", newline="") as handle:
        return [(r["step"], r["loss"], r["feature_loss"]) for r in csv.DictReader(handle)]


# About a minute each on a shared CPU: plain pytest runs BYOL's, CI and `make test` (--slow) run them all.
@pytest.mark.parametrize(
    "objective", [o if o == "byol" else pytest.param(o, marks=pytest.mark.slow) for o in OBJECTIVES]
)
def test_kill_resume_matches_uninterrupted_run_and_exports(objective, corpus, tmp_path):
    audio, cache = corpus
    args, module_name = OBJECTIVES[objective]
    killed_and_resumed(lambda out_dir: command(args, out_dir, audio, cache), tmp_path, wait_s=90)
    interrupted = tmp_path / "interrupted"

    weights = tmp_path / f"{objective}.safetensors"
    assert cli.main(["export", str(interrupted / "ckpt.pt"), "--out", str(weights)]) == 0
    card = weights.with_suffix(".md").read_text()
    assert "sha256" in card and objective in card
    module = __import__(f"hear_ssl.{module_name}", fromlist=["load_model"])
    model = module.load_model(str(weights))
    clips = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1)
    embeddings = module.get_scene_embeddings(clips, model)
    assert embeddings.shape == (2, model.scene_embedding_size)
    assert torch.isfinite(embeddings).all()


def test_ddp_run_with_two_processes_resumes_exactly(corpus, tmp_path):
    """The same loop under torchrun (2 CPU processes, gloo): global-batch Barlow Twins, exact resume."""
    audio, cache = corpus
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

    def run(out_dir, steps):
        args = [a for a in BARLOW_TWINS if a != "--d"]
        args[args.index("1056")] = "--encoder-d=1056"  # torchrun's parser rejects a bare --d
        cmd = command(args, out_dir, audio, cache)
        cmd = torchrun + cmd[2:]  # drop "python -m": torchrun runs the module itself with -m
        cmd[cmd.index("--max-steps") + 1] = str(steps)
        cmd.insert(len(torchrun), "-m")
        done = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]

    run(tmp_path / "whole", 4)
    run(tmp_path / "split", 2)
    run(tmp_path / "split", 4)  # raising --max-steps continues the finished run
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")
    saved = torch.load(tmp_path / "whole" / "ckpt.pt", weights_only=True)
    assert saved["world_size"] == 2 and len(saved["ranks"]) == 2
    assert saved["ranks"][0]["data"] == saved["ranks"][1]["data"]  # both ranks at the same place of their shares
