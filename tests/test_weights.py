"""Weights from a local file, the Hub (offline cache), or the bundle; every failure names its fix."""

import os

import pytest
import torch

import hear_ssl.barlow_twins as barlow_twins
import hear_ssl.byol_a as byol_a
from hear_ssl.config import NormConfig
from hear_ssl.io import sha256_file
from hear_ssl.models import build_encoder
from hear_ssl.pretrain.export import write_weights
from hear_ssl.registry import HubFile, Weights, get_spec, get_weights
from hear_ssl.weights import CheckpointError, parse_hub_reference, resolve_weights

from .weights_support import write_random_weights


def random_checkpoint(tmp_path, name, suffix=".safetensors", seed=0):
    spec = get_spec(name)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".safetensors":
        encoder = write_random_weights(path, spec.encoder, seed=seed, frontend=spec.frontend, norm=spec.norm)
    else:
        torch.manual_seed(seed)
        encoder = build_encoder(spec.encoder)
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
    configs = {"encoder": spec.encoder.to_dict(), "frontend": spec.frontend.to_dict(), "norm": norm.to_dict()}
    digest = write_weights(path, encoder.state_dict(), configs, dtype="float16")
    assert digest == sha256_file(path)
    model = byol_a.load_model(path)
    assert model.norm == norm and model.name == "byol-a-512"
    assert model.encoder.fc[0].weight.dtype == torch.float32  # fp16 on disk, fp32 in memory
    torch.testing.assert_close(model.encoder.fc[0].weight, encoder.fc[0].weight.half().float())


def hub_cache(hf_home, repo_id, files, commit="0123456789abcdef0123456789abcdef01234567"):
    """huggingface_hub's cache layout under `hf_home`: blobs by content hash, a snapshot per commit, refs/main."""
    repo_dir = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        blob = repo_dir / "blobs" / sha256_file(source)
        blob.write_bytes(source.read_bytes())
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return commit


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """A tmp HF_HOME with HF_HUB_OFFLINE=1 (huggingface_hub reads both at import, so its constants follow)."""
    from huggingface_hub import constants

    hf_home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hf_home


def hub_entry(path, repo_id, commit, bundled=False, sha256=None):
    """A registry entry for a file published on the Hub (as `hear-ssl export --push-to-hub` prints one)."""
    spec = get_spec("audio-barlow-twins-2048")
    return Weights(
        architecture="audio-barlow-twins-2048", tag="test", format="hear-ssl", license="test", redistributable=True,
        processing=spec.weights.processing, description="test", filename=path.name, num_bytes=path.stat().st_size,
        sha256=sha256 or sha256_file(path), hub=HubFile(repo_id, commit), bundled=bundled,
    )  # fmt: skip


def test_hub_reference_offline_from_local_cache(tmp_path, offline_hub):
    """hf://owner/repo/file@rev resolves through huggingface_hub's cache with HF_HUB_OFFLINE=1."""
    path, encoder = random_checkpoint(tmp_path, "audio-barlow-twins")
    commit = hub_cache(offline_hub, "hear-ssl/test-weights", {"model.safetensors": path})
    model = barlow_twins.load_model(f"hf://hear-ssl/test-weights/model.safetensors@{commit}")
    torch.testing.assert_close(model.encoder.fc[0].weight, encoder.fc[0].weight)
    model = barlow_twins.load_model("hf://hear-ssl/test-weights/model.safetensors")  # refs/main
    assert model.scene_embedding_size == 3072
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        barlow_twins.load_model("hf://hear-ssl/other-repo/model.safetensors")


def test_resolution_order_path_then_hub_then_bundled(tmp_path, offline_hub, monkeypatch):
    bundled_dir = tmp_path / "bundle"
    bundled_dir.mkdir()
    file = bundled_dir / "w.safetensors"
    write_random_weights(file, get_spec("audio-barlow-twins-2048").encoder)
    monkeypatch.setenv("HEAR_SSL_WEIGHTS_DIR", str(bundled_dir))
    commit = hub_cache(offline_hub, "hear-ssl/pinned", {"w.safetensors": file})
    entry = hub_entry(file, "hear-ssl/pinned", commit, bundled=True)
    hub = resolve_weights("", entry)
    assert (
        hub.origin == "hub"
        and hub.path.is_relative_to(offline_hub / "hub")
        and hub.path.read_bytes() == file.read_bytes()
    )
    other = tmp_path / "mine.pth"
    other.write_bytes(b"x")
    assert resolve_weights(other, entry) == type(hub)(other, "path")  # an explicit path always wins
    # Not in the cache and offline: the bundled copy is used.
    missing = hub_entry(file, "hear-ssl/unpublished", "f" * 40, bundled=True)
    assert resolve_weights("", missing).origin == "bundled"
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        resolve_weights("", hub_entry(file, "hear-ssl/unpublished", "f" * 40))


def test_hub_file_with_another_sha256_is_refused(tmp_path, offline_hub):
    file = tmp_path / "w.safetensors"
    write_random_weights(file, get_spec("audio-barlow-twins-2048").encoder)
    commit = hub_cache(offline_hub, "hear-ssl/pinned", {"w.safetensors": file})
    entry = hub_entry(file, "hear-ssl/pinned", commit, bundled=False, sha256="0" * 64)
    with pytest.raises(CheckpointError, match=f"expected sha256 0{{64}}, found {sha256_file(file)}"):
        resolve_weights("", entry)


def test_registry_entries_are_validated():
    with pytest.raises(ValueError, match="40-hex commit"):
        HubFile("owner/repo", "main")
    with pytest.raises(ValueError, match="owner/name"):
        HubFile("just-a-name", "0" * 40)
    base = get_weights("tempo-tcn.bundled")
    with pytest.raises(ValueError, match="need filename, num_bytes and sha256"):
        Weights(**{**base.__dict__, "sha256": None})
    with pytest.raises(ValueError, match="cannot be bundled"):
        Weights(**{**base.__dict__, "redistributable": False})
    with pytest.raises(ValueError, match="format must be one of"):
        Weights(**{**base.__dict__, "format": "pickle"})


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


def test_missing_bundled_file_is_a_clear_error(monkeypatch, tmp_path):
    import hear_ssl.tempo as tempo

    monkeypatch.setenv("HEAR_SSL_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(CheckpointError, match="bundled weights for tempo-tcn.bundled are missing"):
        tempo.load_model()


def test_byol_s_has_no_bundled_default_and_says_how_to_pass_one():
    import hear_ssl.byol_s as byol_s

    entry = get_weights("byol-s")
    assert entry.name == "byol-s.serab" and not entry.bundled
    with pytest.raises(CheckpointError, match="hear_ssl.byol_s ships no bundled default weights") as info:
        byol_s.load_model()
    assert entry.filename in str(info.value) and entry.url in str(info.value)
    assert "model_name='byol-s.serab'" in str(info.value)
    assert "hear_ssl.byol_s.load_model('path/to/encoder.safetensors')" in str(info.value)
    assert "hear-ssl export" in str(info.value)


def test_a_file_that_disagrees_with_the_requested_entry_is_refused(tmp_path):
    spec = get_spec("byol-a-2048.official")
    own_norm = NormConfig(mode="fixed", mean=-1.8957760, std=5.5373589)  # hear-ssl statistics, not NTT's
    path = tmp_path / "byol-2048.safetensors"
    write_random_weights(path, spec.encoder, frontend=spec.frontend, norm=own_norm, framing=spec.framing)
    with pytest.raises(
        CheckpointError, match="does not match the registry entry byol-a-2048.official: its embedded norm"
    ):
        byol_a.load_model(path, model_name="byol-a-2048.official")
    # Untagged, the file's own configs are used.
    assert byol_a.load_model(path, model_name="byol-a-2048").norm.mean == pytest.approx(-1.8957760)


def test_wrong_official_file_names_both_hashes(tmp_path):
    fake = tmp_path / get_weights("byol-a-512").filename
    torch.save(build_encoder(get_spec("byol-a-512").encoder).state_dict(), fake)
    with pytest.raises(CheckpointError, match="expected sha256 6cc64226.*found"):
        byol_a.load_model(fake, model_name="byol-a-512")
    renamed = fake.rename(tmp_path / "my-copy.pth")
    with pytest.raises(CheckpointError, match="not the byol-a-512.official weights file"):
        byol_a.load_model(renamed, model_name="byol-a-512.official")  # a tag claims the file, whatever its name


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
    with pytest.raises(ValueError, match="not served by this module .* served by hear_ssl.hybrid"):
        byol_a.load_model("x.pth", model_name="byol-s-cvt")
    with pytest.raises(ValueError, match="unknown model"):
        from hear_ssl import load_model

        load_model("x.pth", model_name="no-such-model")


def test_official_checkpoint_loads_and_verifies(byola_d512_checkpoint):
    model = byol_a.load_model(byola_d512_checkpoint)
    assert model.name == "byol-a-512" and model.scene_embedding_size == 512
