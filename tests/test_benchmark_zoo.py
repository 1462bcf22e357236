"""benchmarks/embed_speed.py reports the encoder-zoo models (no registry weights) beside the registry ones."""

import json

from .benchmark_scripts import load_benchmark


def test_zoo_rows(tmp_path, capsys):
    bench = load_benchmark("embed_speed")
    out = tmp_path / "speed.json"
    argv = "--devices cpu --models delores-s decar --cpu-clips 2 --cpu-seconds 1 --repeats 1 --naive-clips 2".split()
    assert bench.main(argv + ["--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| cpu | fp32 | delores-s |" in printed and "| cpu | fp32 | decar |" in printed
    rows = {row["model"]: row for row in json.loads(out.read_text())["rows"]}
    for row in rows.values():
        assert row["scene_x_realtime"] > 0 and row["timestamp_x_realtime"] > 0 and row["naive_scene_x_realtime"] > 0
        assert row["scene_speedup_vs_naive"] == row["scene_x_realtime"] / row["naive_scene_x_realtime"]
