"""benchmarks/embed_speed.py benchmarks every registry architecture by name, each against its official call."""

import dataclasses
import json

import pytest
import torch

from hear_ssl.beats_config import BEATS_BASE
from hear_ssl.embedders.beats import BEATsEmbedder
from hear_ssl.models.beats import BEATs
from hear_ssl.registry import available_models, get_architecture

from .benchmark_scripts import load_benchmark


@pytest.mark.parametrize("name", available_models())
def test_every_architecture_builds_at_its_official_size(name):
    """A new family without a builder fails here, as does a builder that builds another size."""
    bench = load_benchmark("embed_speed")
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = bench.random_model(name)
    assert sum(p.numel() for p in model.parameters()) == get_architecture(name).config.num_parameters()


def test_default_is_one_model_per_family():
    bench = load_benchmark("embed_speed")
    families = [get_architecture(name).family for name in bench.default_models()]
    assert sorted(families) == sorted({get_architecture(name).family for name in available_models()})


def test_zoo_rows_time_engine_and_official_pattern_in_one_run(tmp_path, capsys):
    bench = load_benchmark("embed_speed")
    out = tmp_path / "speed.json"
    models = ["tempo-tcn", "delores-s", "decar"]
    argv = "--devices cpu --cpu-clips 2 --cpu-seconds 1 --repeats 1 --naive-clips 2 --models".split() + models
    assert bench.main(argv + ["--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(f"| cpu | fp32 | {name} |" in printed for name in models)
    rows = {row["model"]: row for row in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == sorted(models)
    for row in rows.values():
        for kind in ("scene", "timestamp"):
            assert row[f"{kind}_x_realtime"] > 0 and row[f"naive_{kind}_x_realtime"] > 0
            assert row[f"{kind}_speedup_vs_naive"] == row[f"{kind}_x_realtime"] / row[f"naive_{kind}_x_realtime"]
        # One clip per call gives what the batch gives: the baseline computes the same embeddings.
        assert row["naive_max_abs_diff"] < 1e-4


def test_official_beats_call_is_the_engines_scene_embedding():
    """The BEATs baseline (per-clip fbank loop, one encoder pass) computes what the engine returns."""
    bench = load_benchmark("embed_speed")
    torch.manual_seed(0)
    small = dataclasses.replace(BEATS_BASE, encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128,
                                encoder_attention_heads=2, embed_dim=64)  # fmt: skip
    model = BEATsEmbedder(BEATs(small)).eval()
    audio = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    official = bench.official_beats_call(model, audio)
    assert official.shape[:2] == (2, 6 * 8)  # 98 fbank frames -> 6 time x 8 frequency patches
    torch.testing.assert_close(official.mean(dim=1), model.scene_embeddings(audio), rtol=1e-5, atol=1e-5)
