"""Export of pretraining checkpoints: metadata that rebuilds the model, model card, Hub upload, bad input."""

import json
import shutil

import pytest
import torch

from hear_ssl import cli
from hear_ssl.config import EncoderConfig
from hear_ssl.pretrain.checkpoint import save_atomic
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.export import export_checkpoint, push_to_hub
from hear_ssl.pretrain.learner import Learner
from hear_ssl.ssl.ema import make_target
from hear_ssl.weights import CONFIG_METADATA_KEY


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


def test_push_to_hub_uploads_weights_and_card_to_the_repo(checkpoint, tmp_path):
    path, _, _ = checkpoint
    result = export_checkpoint(path, tmp_path / "m.safetensors")

    class LocalHub:
        """Stands in for the Hub's HTTP API: stores uploads in a folder per repo."""

        def __init__(self, root):
            self.root, self.created = root, []

        def create_repo(self, repo_id, repo_type, private, exist_ok):
            self.created.append((repo_id, repo_type, private, exist_ok))
            (self.root / repo_id).mkdir(parents=True, exist_ok=True)

        def upload_file(self, path_or_fileobj, path_in_repo, repo_id, repo_type, revision, commit_message):
            shutil.copy(path_or_fileobj, self.root / repo_id / path_in_repo)
            return f"commit:{repo_id}/{path_in_repo}"

    hub = LocalHub(tmp_path / "hub")
    url = push_to_hub("me/encoder", [result.weights, result.card], api=hub)
    assert hub.created == [("me/encoder", "model", False, True)]
    assert (tmp_path / "hub" / "me/encoder" / "m.safetensors").read_bytes() == result.weights.read_bytes()
    assert (tmp_path / "hub" / "me/encoder" / "m.md").exists()
    assert url.endswith("m.md")


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
