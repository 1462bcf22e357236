"""CI smoke test of the seed objectives (DINO, DECAR, VIbCReg, equivariant tempo), as test_pretrain_smoke does
for the first four: a few steps on generated audio, SIGKILL after a checkpoint, resume with the same command to
the same loss log and weights as an uninterrupted run, export, and load through the encoder's HEAR module.
The tempo objective trains the zoo's TCN on its own 44.1-kHz features: its kill/resume test, export and
hearvalidator run are in tests/test_pretrain_tempo.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from hear_ssl import cli

from .resume_support import REPO, env, killed_and_resumed
from .test_pretrain_smoke import command, corpus  # noqa: F401  (corpus: fixture)

TINY = ["--arch", "audiontt2020", "--d", "32"]
OBJECTIVES = {
    # Last layer frozen for 2 of the 6 steps and the teacher temperature warming up over 3, so both schedules run.
    "dino": "--dino-out-dim 32 --dino-hidden-dim 16 --dino-bottleneck-dim 8 --dino-freeze-last-layer 0.34 "
    "--dino-teacher-temp-warmup 0.5".split(),
    # Re-clustered every 2 steps: the kill lands between clusterings, the resume must re-cluster identically.
    "decar": "--decar-clusters 4 --decar-pca-dim 8 --decar-recluster-every 2".split(),
    "vibcreg": ["--expander-dims", "32", "32", "--vibcreg-iternorm-groups", "4"],
}


@pytest.mark.slow  # about a minute each (three training processes); byol's plain-pytest twin is in test_pretrain_smoke
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_seed_objective_kill_resume_matches_uninterrupted_run_and_exports(objective, corpus, tmp_path):  # noqa: F811
    audio, cache = corpus
    args = ["--objective", objective, *TINY, *OBJECTIVES[objective]]
    killed_and_resumed(lambda out_dir: command(args, out_dir, audio, cache), tmp_path, wait_s=90)
    interrupted = tmp_path / "interrupted"

    weights = tmp_path / f"{objective}.safetensors"
    assert cli.main(["export", str(interrupted / "ckpt.pt"), "--out", str(weights)]) == 0
    assert objective in weights.with_suffix(".md").read_text()
    import hear_ssl.byol_a  # the HEAR module serving AudioNTT2020 encoders

    model = hear_ssl.byol_a.load_model(str(weights))
    clips = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1)
    embeddings = hear_ssl.byol_a.get_scene_embeddings(clips, model)
    assert embeddings.shape == (2, 32) and torch.isfinite(embeddings).all()


@pytest.mark.parametrize("objective", [*OBJECTIVES, "tempo"])
def test_seed_objective_trains_and_exports_with_only_the_basic_flags(objective, tmp_path):
    """`hear-ssl pretrain --objective X --data --out-dir --max-steps --batch-size --checkpoint-every` works."""
    from .pretrain_corpus import write_corpus

    write_corpus(tmp_path / "audio")
    basic = ["--data", str(tmp_path / "audio"), "--out-dir", str(tmp_path / "run"), "--max-steps", "1",
             "--batch-size", "4", "--checkpoint-every", "1"]  # fmt: skip
    cmd = [sys.executable, "-m", "hear_ssl.cli", "pretrain", "--objective", objective, *basic]
    done = subprocess.run(cmd, env={**env(), "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exported" in done.stdout
    assert list((tmp_path / "run").glob(f"hear-ssl-{objective}-*.safetensors"))
