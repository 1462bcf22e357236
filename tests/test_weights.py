"""Weights from a local file, the Hub (offline cache), or the bundle; every failure names its fix."""

import pytest
import torch

import hear_ssl.barlow_twins as barlow_twins
import hear_ssl.byol_a as byol_a
import hear_ssl.hybrid as hybrid
from hear_ssl.models import build_encoder
from hear_ssl.registry import get_spec
from hear_ssl.weights import CheckpointError, parse_hub_reference, save_checkpoint, sha256_of


def random_checkpoint(tmp_path, name, suffix=".safetensors", seed=0):
    torch.manual_seed(seed)
    spec = get_spec(name)
    encoder = build_encoder(spec.encoder)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".safetensors":
        save_checkpoint(path, encoder, {"encoder": spec.encoder, "frontend": spec.frontend, "norm": spec.norm})
    else:
        torch.save(encoder.state_dict(), path)
    return path, encoder


def test_bare_state_dict_infers_variant(tmp_path):
    for name in ("byol-a-1024", "byol-a2-2048"):
        path, encoder = random_checkpoint(tmp_path, name, suffix=".pth")
        model = byol_a.load_model(path)
        assert model.name == name
        assert model.scene_embedding_size == get_spec(name).embedding_size
        for key, value in encoder.state_dict().items():
            torch.testing.assert_close(model.encoder.state_dict()[key], value)


def test_safetensors_round_trip_keeps_configs(tmp_path):
    from hear_ssl.config import NormConfig

    spec = get_spec("byol-a-512")
    encoder = build_encoder(spec.encoder)
    norm = NormConfig(mean=-3.0, std=2.0)
    path = tmp_path / "ours.safetensors"
    digest = save_checkpoint(
        path, encoder, {"encoder": spec.encoder, "frontend": spec.frontend, "norm": norm}, dtype=torch.float16
    )
    assert digest == sha256_of(path)
    model = byol_a.load_model(path)
    assert model.norm == norm and model.name == "byol-a-512"
    assert model.encoder.fc[0].weight.dtype == torch.float32  # fp16 on disk, fp32 in memory
    torch.testing.assert_close(model.encoder.fc[0].weight, encoder.fc[0].weight.half().float())


def test_hub_reference_offline_from_local_cache(tmp_path, monkeypatch):
    """hf://owner/repo/file@rev resolves through huggingface_hub's cache with HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants

    path, encoder = random_checkpoint(tmp_path, "audio-barlow-twins")
    cache = tmp_path / "hub"
    repo_dir = cache / "models--hear-ssl--test-weights"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(path.read_bytes())
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    model = barlow_twins.load_model(f"hf://hear-ssl/test-weights/model.safetensors@{commit}")
    torch.testing.assert_close(model.encoder.fc[0].weight, encoder.fc[0].weight)
    model = barlow_twins.load_model("hf://hear-ssl/test-weights/model.safetensors")  # refs/main
    assert model.scene_embedding_size == 3072
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        barlow_twins.load_model("hf://hear-ssl/other-repo/model.safetensors")


def test_hub_reference_parsing():
    assert parse_hub_reference("hf://a/b/c/d.safetensors@v1") == ("a/b", "c/d.safetensors", "v1")
    assert parse_hub_reference("hf://a/b/w.pth") == ("a/b", "w.pth", None)
    with pytest.raises(CheckpointError, match="malformed"):
        parse_hub_reference("hf://just-a-repo")


def test_missing_file_and_repo_like_string():
    with pytest.raises(CheckpointError, match="not found"):
        byol_a.load_model("/nonexistent/weights.pth")
    with pytest.raises(CheckpointError, match="hf://owner/repo"):
        byol_a.load_model("owner/repo")


def test_no_bundled_default_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HEAR_SSL_WEIGHTS_DIR", str(tmp_path))
    spec = get_spec("byol-s-cvt")
    if spec.bundled is None:
        with pytest.raises(CheckpointError, match="no bundled default"):
            hybrid.load_model()
    else:
        with pytest.raises(CheckpointError, match="missing"):
            hybrid.load_model()


def test_wrong_official_file_names_both_hashes(tmp_path):
    fake = tmp_path / get_spec("byol-a-512").official.filename
    torch.save(build_encoder(get_spec("byol-a-512").encoder).state_dict(), fake)
    with pytest.raises(CheckpointError, match="expected sha256 6cc64226.*found"):
        byol_a.load_model(fake, model_name="byol-a-512")


def test_truncated_checkpoint(tmp_path):
    path, _ = random_checkpoint(tmp_path, "byol-a-512", suffix=".pth")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        byol_a.load_model(path)
    safetensors_path, _ = random_checkpoint(tmp_path, "byol-a-512")
    safetensors_path.write_bytes(safetensors_path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cannot read"):
        byol_a.load_model(safetensors_path)


def test_checkpoint_of_another_model(tmp_path):
    cvt_path, _ = random_checkpoint(tmp_path, "byol-s-cvt", suffix=".pth")
    with pytest.raises(CheckpointError, match="matches none of this module's models"):
        byol_a.load_model(cvt_path)
    with pytest.raises(CheckpointError, match="missing keys .*unexpected keys"):
        byol_a.load_model(cvt_path, model_name="byol-a-512")
    d512_path, _ = random_checkpoint(tmp_path, "byol-a-512", suffix=".pth")
    with pytest.raises(CheckpointError, match="shape mismatches"):
        byol_a.load_model(d512_path, model_name="byol-a-2048")
    ours, _ = random_checkpoint(tmp_path, "byol-s-cvt")
    with pytest.raises(CheckpointError, match="holds a cvt encoder"):
        byol_a.load_model(ours)


def test_model_name_outside_module():
    with pytest.raises(ValueError, match="not served by this module"):
        byol_a.load_model("x.pth", model_name="byol-s-cvt")
    with pytest.raises(ValueError, match="unknown model"):
        from hear_ssl import load_model

        load_model("x.pth", model_name="no-such-model")


def test_official_checkpoint_loads_and_verifies(byola_d512_checkpoint):
    model = byol_a.load_model(byola_d512_checkpoint)
    assert model.name == "byol-a-512" and model.scene_embedding_size == 512
