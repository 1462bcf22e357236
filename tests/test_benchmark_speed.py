"""benchmarks/embed_speed.py: its naive baseline computes real timestamp embeddings, and a tiny run reports."""

import json

import torch

from hear_ssl.hear import make_embedder
from hear_ssl.registry import get_spec

from .benchmark_scripts import load_benchmark


def test_naive_loop_equals_engine_for_window_by_window_model():
    """For CvT the engine also encodes window by window, so the baseline must give the same numbers."""
    bench = load_benchmark("embed_speed")
    torch.manual_seed(0)
    model = make_embedder(get_spec("byol-s-cvt"))
    audio = 0.1 * torch.randn(2, 4800, generator=torch.Generator().manual_seed(0))
    engine, _ = model.timestamp_embeddings(audio)
    naive = bench.naive_timestamps(model, audio, windows_per_pass=1, max_windows=None)
    assert naive.shape == engine.shape == (2, 7, model.timestamp_embedding_size)
    torch.testing.assert_close(naive, engine, rtol=1e-4, atol=1e-4)
    # Capped: the first windows only.
    capped = bench.naive_timestamps(model, audio, windows_per_pass=3, max_windows=5)
    torch.testing.assert_close(capped, engine[:, :5], rtol=1e-4, atol=1e-4)


def test_tiny_cpu_run_writes_a_table_and_json(tmp_path, capsys):
    bench = load_benchmark("embed_speed")
    out = tmp_path / "speed.json"
    argv = "--devices cpu --models byol-a-512 --cpu-clips 2 --cpu-seconds 1 --repeats 1 --naive-windows 3".split()
    argv += ["--threads", "0", "--json", str(out)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| cpu | fp32 | byol-a-512 |" in printed
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1
    row = rows[0]
    for key in ("scene_x_realtime", "timestamp_x_realtime", "naive_scene_x_realtime", "naive_timestamp_x_realtime"):
        assert row[key] > 0
    assert row["naive_timestamp_windows"] == "3/21"
    assert row["timestamp_speedup_vs_naive"] == row["timestamp_x_realtime"] / row["naive_timestamp_x_realtime"]
