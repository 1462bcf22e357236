"""The one table: every name resolves, every bundled file is the file its entry describes, families dispatch."""

import importlib

import pytest
import torch

import hear_ssl
from hear_ssl import registry
from hear_ssl.io import sha256_file
from hear_ssl.models import build_encoder
from hear_ssl.weights import read_checkpoint, weights_dir

BUNDLED = [name for name in registry.available_weights() if registry.get_weights(name).bundled]


def test_names_and_default_tags():
    assert registry.split_name("byol-a-2048.official") == ("byol-a-2048", "official")
    assert registry.split_name("byol-a-2048") == ("byol-a-2048", None)
    assert registry.get_weights("byol-a-2048").name == "byol-a-2048.vibcreg"
    assert registry.get_weights("byol-a-512").name == "byol-a-512.official"
    assert registry.get_weights("byol-s").name == "byol-s.serab"
    for name in registry.available_models():
        arch = registry.get_architecture(name)
        assert registry.get_weights(name).name == f"{name}.{arch.default_tag}"
        assert f"{name}.{arch.default_tag}" in registry.available_weights(name)
    with pytest.raises(ValueError, match="unknown model 'nope'; available models: byol-a-512"):
        registry.get_weights("nope")
    with pytest.raises(ValueError, match="unknown weights 'byol-a-512.hear-ssl'; byol-a-512 has: byol-a-512.official"):
        registry.get_weights("byol-a-512.hear-ssl")


@pytest.mark.parametrize("name", registry.available_models())
def test_each_architecture_is_served_by_its_family_module(name):
    arch = registry.get_architecture(name)
    module = importlib.import_module(arch.module)
    assert name in module.MODEL_NAMES and module.DEFAULT_MODEL in module.MODEL_NAMES
    cfg = arch.config
    assert cfg.describe() and cfg.describe_timestamps()
    if not isinstance(cfg, registry.LogMelEncoder):  # zoo families test their own networks
        assert cfg.num_parameters() > 0 and arch.embedding_size > 0
        return
    encoder = build_encoder(cfg.encoder)
    assert cfg.num_parameters() == sum(p.numel() for p in encoder.parameters())
    assert arch.embedding_size == encoder.embedding_size


def test_every_registered_file_is_named_once():
    # A file is its name within its source (the same name in two Hub repos is two files).
    entries = [registry.get_weights(n) for n in registry.available_weights()]
    files = [(e.hub.repo_id if e.hub else e.url, e.filename) for e in entries if e.filename]
    assert len(files) == len(set(files)), "two entries claim the same file"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_file_is_the_file_its_entry_describes(name):
    """Size, sha256, and every embedded config part equal the registry's (a disagreement is a bug to fix)."""
    entry = registry.get_weights(name)
    path = weights_dir() / entry.filename
    assert path.stat().st_size == entry.num_bytes
    assert sha256_file(path) == entry.sha256
    if not isinstance(registry.get_architecture(name).config, registry.LogMelEncoder):
        return  # other families check their embedded configs in tests/test_zoo_<family>.py
    spec = registry.get_spec(name)
    _, config = read_checkpoint(path)
    assert entry.format == "hear-ssl" and config is not None
    for part in ("encoder", "frontend", "norm", "framing"):
        assert type(getattr(spec, part)).from_dict(config[part]) == getattr(spec, part), f"{name}: {part} differs"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_default_loads_by_name_through_the_top_level_loader(name):
    model = hear_ssl.load_model("", name)
    arch = registry.get_architecture(name)
    assert model.name == name and model.scene_embedding_size == arch.embedding_size
    module = importlib.import_module(arch.module)
    audio = 0.1 * torch.sin(torch.linspace(0, 3000, 16000))[None]
    assert torch.isfinite(module.get_scene_embeddings(audio, model)).all()


@pytest.mark.parametrize("family", ["barlow_twins", "hybrid"])
def test_modules_whose_default_failed_the_shipping_rule_say_so_and_how_to_pass_a_checkpoint(family):
    """docs/pretraining-defaults.md: these modules ship no default; load_model("") must not load random or stale
    weights but name the fix."""
    from hear_ssl.weights import CheckpointError

    module = importlib.import_module(f"hear_ssl.{family}")
    assert registry.get_weights(module.DEFAULT_MODEL).bundled is False
    with pytest.raises(CheckpointError, match=f"hear_ssl.{family} ships no bundled default weights") as info:
        module.load_model()
    assert f"hear_ssl.{family}.load_model('path/to/encoder.safetensors')" in str(info.value)
    assert "hf://owner/repo/file.safetensors" in str(info.value)


def test_byol_a_default_is_the_equal_budget_winner_with_its_corpus_statistics():
    import hear_ssl.byol_a

    model = hear_ssl.byol_a.load_model()
    assert model.name == "byol-a-2048.vibcreg" and model.scene_embedding_size == 2048
    assert model.norm.mean == pytest.approx(-2.308347, abs=1e-6) and model.norm.std == pytest.approx(5.253366, abs=1e-6)
    audio = 0.1 * torch.sin(torch.linspace(0, 3000, 16000))[None]
    assert torch.isfinite(hear_ssl.byol_a.get_scene_embeddings(audio, model)).all()


def test_the_bundled_files_are_exactly_the_registry_bundled_entries():
    entries = [registry.get_weights(name) for name in registry.available_weights()]
    bundled = {entry.filename: entry for entry in entries if entry.bundled}
    on_disk = {path.name for path in weights_dir().glob("*.safetensors")}
    assert on_disk == set(bundled), "weights/ must hold the registry's bundled files and nothing else"
    for filename, entry in bundled.items():
        path = weights_dir() / filename
        assert path.stat().st_size == entry.num_bytes and sha256_file(path) == entry.sha256


def test_top_level_loader_needs_a_name():
    with pytest.raises(ValueError, match="pass model_name"):
        hear_ssl.load_model("x.pth")
