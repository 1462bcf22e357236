"""The default weights trained by hear-ssl and shipped in weights/: provenance and loading."""

import re
from pathlib import Path

import pytest
import torch

from hear_ssl.io import sha256_file as sha256_of
from hear_ssl.weights import read_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
# file -> HEAR module that serves its architecture
DEFAULTS = {
    "hear-ssl-byol-audiontt2020-d2048.safetensors": "byol_a",
    "hear-ssl-barlow-twins-audiontt2022-d2048.safetensors": "barlow_twins",
    "hear-ssl-hybrid-cvt.safetensors": "hybrid",
}
MAX_BYTES = 25 * 2**20  # what may be committed to git


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_model_card_records_the_files_sha256_and_the_readme_lists_it(name):
    path = WEIGHTS / name
    assert path.is_file(), f"{path} missing"
    assert path.stat().st_size < MAX_BYTES
    digest = sha256_of(path)
    card = path.with_suffix(".md").read_text()
    assert f"`{digest}`" in card, f"{name}: model card sha256 is stale (re-export the weights)"
    assert digest in (WEIGHTS / "README.md").read_text(), f"{name}: weights/README.md lists another sha256"
    steps = int(re.search(r"\| steps \| ([\d,]+) x", card).group(1).replace(",", ""))
    assert steps > 0


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_default_weights_load_and_embed(name):
    module = __import__(f"hear_ssl.{DEFAULTS[name]}", fromlist=["load_model"])
    state, config = read_checkpoint(WEIGHTS / name)
    assert config["name"] == name.removesuffix(".safetensors")
    assert config["norm"]["mode"] == "fixed" and config["norm"]["std"] > 0
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    model = module.load_model(str(WEIGHTS / name))
    assert model.name == config["name"]
    audio = torch.sin(torch.linspace(0, 2000, 16000))[None].repeat(2, 1) * 0.1
    scene = module.get_scene_embeddings(audio, model)
    assert scene.shape == (2, 2048) and torch.isfinite(scene).all()
    assert torch.allclose(scene[0], scene[1])
