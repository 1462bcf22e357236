"""Export of pretraining checkpoints: metadata that rebuilds the model, model card, Hub upload, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hear_ssl import cli
from hear_ssl.config import EncoderConfig
from hear_ssl.io import sha256_file
from hear_ssl.pretrain.checkpoint import save_atomic
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.export import export_checkpoint
from hear_ssl.pretrain.learner import Learner
from hear_ssl.ssl.ema import make_target
from hear_ssl.weights import CONFIG_METADATA_KEY

from .hub_support import local_hub


@pytest.fixture
def checkpoint(tmp_path):
    config = PretrainConfig(
        objective="byol", encoder=EncoderConfig(arch="audiontt2020", d=48), proj_hidden=32, proj_dim=16
    )
    torch.manual_seed(0)
    learner = Learner(config)
    target = make_target(learner.network)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(1.0)  # make the target distinguishable from the online network
    payload = {
        "config": config.to_dict(), "step": 12, "world_size": 1, "model": learner.state_dict(),
        "target": target.state_dict(), "norm": {"mean": -3.25, "std": 4.5},
        "corpus": {"files": 3, "hours": 0.01, "segments": 30},
    }  # fmt: skip
    path = tmp_path / "run" / "ckpt.pt"
    path.parent.mkdir()
    save_atomic(payload, path)
    return path, learner, target


def test_export_writes_fp16_encoder_with_config_and_a_card(checkpoint, tmp_path):
    from safetensors import safe_open

    path, learner, _ = checkpoint
    result = export_checkpoint(path, tmp_path / "out" / "m.safetensors", name="my-encoder")
    with safe_open(str(result.weights), framework="pt") as handle:
        meta = json.loads(handle.metadata()[CONFIG_METADATA_KEY])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    assert set(tensors) == set(learner.encoder.state_dict())
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    expected = learner.encoder.state_dict()["fc.0.weight"].half()
    assert torch.equal(tensors["fc.0.weight"], expected)
    assert meta["name"] == "my-encoder"
    assert (meta["norm"]["mode"], meta["norm"]["mean"], meta["norm"]["std"]) == ("fixed", -3.25, 4.5)
    assert meta["encoder"]["d"] == 48
    card = result.card.read_text()
    assert result.sha256 in card and "12 x batch" in card and "-3.250000" in card


def test_card_credits_the_corpus_sources_of_the_recipe(checkpoint, tmp_path):
    """A --data list written by recipes/build_corpus.py has sources.json beside it: the card credits each package."""
    path, _, _ = checkpoint
    payload = torch.load(path, weights_only=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus.txt").write_text("")
    sources = {
        "tuxpaint-stamps-default": {
            "category": "environmental", "version": "2022.06.04-1", "files": 6820, "hours": 2.74,
            "licenses": ["GPL-2"], "licence": "GPL-2", "attribution": "Tux Paint stamps contributors",
        },
        "nexuiz-music": {"category": "music", "version": "2.5.2-12", "files": 18, "hours": 1.4, "licenses": []},
    }  # fmt: skip
    (corpus / "sources.json").write_text(json.dumps(sources))
    payload["config"]["data"] = str(corpus / "corpus.txt")
    save_atomic(payload, path)
    card = export_checkpoint(path, tmp_path / "m.safetensors").card.read_text()
    assert "| tuxpaint-stamps-default 2022.06.04-1 | environmental | 6820 | 2.74 | GPL-2 | Tux Paint stamps" in card
    assert "| nexuiz-music 2.5.2-12 | music | 18 | 1.40 | see copyright file | see copyright file |" in card


def test_exported_weights_load_through_the_hear_module(checkpoint, tmp_path):
    import hear_ssl.byol_a

    path, learner, _ = checkpoint
    result = export_checkpoint(path, tmp_path / "m.safetensors", dtype="float32")
    model = hear_ssl.byol_a.load_model(str(result.weights))
    assert model.scene_embedding_size == 48
    for key, value in learner.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    audio = torch.zeros(1, 16000)
    assert hear_ssl.byol_a.get_scene_embeddings(audio, model).shape == (1, 48)


def test_export_of_the_ema_target(checkpoint, tmp_path):
    from safetensors.torch import load_file

    path, _, target = checkpoint
    result = export_checkpoint(path, tmp_path / "t.safetensors", which="target", dtype="float32")
    assert torch.equal(load_file(str(result.weights))["fc.0.weight"], target.state_dict()["encoder.fc.0.weight"])


PUSH_AND_FETCH = """
import contextlib, io, json, sys
from hear_ssl import cli, registry
from hear_ssl.weights import resolve_weights

printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    code = cli.main(sys.argv[1:])
assert code == 0, code
entry_source = printed.getvalue().split("# Add to _WEIGHTS_TABLE", 1)[1].split("\\n", 1)[1]
entry = eval(entry_source, vars(registry))  # exactly what a maintainer pastes into the table
resolved = resolve_weights("", entry)  # online: downloads into the HF_HOME cache at the pinned commit
assert resolve_weights("", entry) == resolved  # a cache hit at a pinned commit: no request
resolved.path.write_bytes(b"damaged")  # the cache blob (the snapshot entry links to it)
assert resolve_weights("", entry) == resolved  # sha256 mismatch: fetched once more
report = {"stdout": printed.getvalue(), "entry": entry_source, "path": str(resolved.path), "origin": resolved.origin}
print(json.dumps(report))
"""

RESOLVE_OFFLINE = """
import json, sys
import hear_ssl.byol_a
from hear_ssl import registry
from hear_ssl.weights import resolve_weights

resolved = resolve_weights("", eval(sys.stdin.read(), vars(registry)))
model = hear_ssl.byol_a.load_model(resolved.path)
print(json.dumps({"path": str(resolved.path), "origin": resolved.origin, "size": model.scene_embedding_size}))
"""


def test_push_to_hub_prints_the_registry_entry_the_resolver_reads(checkpoint, tmp_path):
    """`hear-ssl export --push-to-hub` against a stand-in Hub on 127.0.0.1 (HF_ENDPOINT), real huggingface_hub
    client on both sides; the printed entry then resolves from the cache with HF_HUB_OFFLINE=1."""
    path, _, _ = checkpoint
    weights = tmp_path / "m.safetensors"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    with local_hub() as (url, hub):
        argv = ["export", str(path), "--out", str(weights), "--dtype", "float32", "--push-to-hub", "me/encoder"]
        pushed = subprocess.run(
            [sys.executable, "-c", PUSH_AND_FETCH, *argv], env={**env, "HF_ENDPOINT": url},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        report = json.loads(pushed.stdout.strip().splitlines()[-1])
        commit, tree = hub.tree("me/encoder", "main")
        assert tree["m.safetensors"] == weights.read_bytes() and "m.md" in tree  # weights and card, one commit
        assert f"at commit {commit}" in report["stdout"]
        assert f"HubFile('me/encoder', '{commit}')" in report["entry"] and sha256_file(weights) in report["entry"]
        assert report["origin"] == "hub" and Path(report["path"]).read_bytes() == weights.read_bytes()
        downloads = [request for request in hub.requests if "/resolve/" in request[1]]
        assert [method for method, _ in downloads] == ["HEAD", "GET", "HEAD", "GET"], downloads
        requests_before = len(hub.requests)
        offline = subprocess.run(
            [sys.executable, "-c", RESOLVE_OFFLINE], input=report["entry"], env={**env, "HF_HUB_OFFLINE": "1"},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert offline.returncode == 0, offline.stderr[-3000:]
        assert len(hub.requests) == requests_before, "HF_HUB_OFFLINE=1 must not touch the network"
    resolved = json.loads(offline.stdout.strip().splitlines()[-1])
    assert resolved == {"path": report["path"], "origin": "hub", "size": 48}
    # The printed text also proposes the architecture this unregistered width needs, consistent with the entry.
    from hear_ssl import registry

    line = next(line for line in report["stdout"].splitlines() if line.startswith("Architecture("))
    architecture, entry = eval(line, vars(registry)), eval(report["entry"], vars(registry))
    assert (architecture.name, architecture.family) == ("hear-ssl-byol-audiontt2020-d48", "byol_a")
    assert architecture.default_tag == entry.tag and architecture.embedding_size == 48
    assert entry.architecture == architecture.name


def test_registry_entry_names_a_registered_architecture(checkpoint, tmp_path, monkeypatch):
    from hear_ssl import registry
    from hear_ssl.pretrain.export import ExportResult, registry_entry

    path, _, _ = checkpoint
    result = export_checkpoint(path, tmp_path / "m.safetensors")
    config = {**result.model_config, "encoder": EncoderConfig(arch="audiontt2022", d=2048).to_dict()}
    # The tag is `hear-ssl` unless the registry already holds `<architecture>.hear-ssl`: then `hub`.
    registered = registry.available_weights()
    monkeypatch.setattr(registry, "available_weights", lambda: [*registered, "audio-barlow-twins-2048.hear-ssl"])
    for objective, architecture, tag in (
        ("barlow_twins", "audio-barlow-twins-2048", "hub"),
        ("byol", "byol-a2-2048", "hear-ssl"),
    ):
        training = {**result.training, "objective": objective}
        entry = registry_entry(
            ExportResult(**{**result.__dict__, "model_config": config, "training": training}), "me/x", "a" * 40
        )
        assert "Architecture(" not in entry and f"architecture={architecture!r}" in entry
        assert f"tag={tag!r}" in entry


def test_export_command_reports_bad_input(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert cli.main(["export", str(junk)]) == 2
    assert "not a hear-ssl pretraining checkpoint" in capsys.readouterr().err


def test_pretrain_command_reports_bad_settings(tmp_path, capsys):
    assert cli.main(["pretrain", "--objective", "simclr", "--out-dir", str(tmp_path)]) == 2
    assert "objective must be one of" in capsys.readouterr().err
    assert cli.main(["pretrain", "--arch", "resnet", "--out-dir", str(tmp_path)]) == 2
    assert "unknown encoder arch" in capsys.readouterr().err


def test_pretrain_without_data_or_cache_explains_what_to_pass(tmp_path, capsys):
    assert cli.main(["pretrain", "--out-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "pass --data" in capsys.readouterr().err
    assert cli.main(["pretrain", "--data", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "run")]) == 2
    assert "neither a folder of audio nor a list file" in capsys.readouterr().err
