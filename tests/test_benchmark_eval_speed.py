"""`benchmarks/eval_speed.py --module`: embeds tasks the way the harness does, 48 kHz-only ones included."""

import json

from hear_ssl.config import EncoderConfig
from hear_ssl.evaluation.synth import synth_suite

from .benchmark_scripts import load_benchmark
from .weights_support import write_random_weights


def test_module_embeddings_of_a_48khz_only_task_are_resampled_first(tmp_path):
    # The organisers' archives are 48 kHz only; a 16 kHz module needs the harness's resampled copy.
    synth_suite(tmp_path / "tasks", scale=0.02, tasks="gunshot*", max_duration=1.0)
    (task,) = (tmp_path / "tasks").iterdir()
    assert [p.name for p in task.iterdir() if p.is_dir()] == ["48000"]
    checkpoint = tmp_path / "random-d64.safetensors"
    write_random_weights(checkpoint, EncoderConfig(arch="audiontt2020", d=64))
    bench = load_benchmark("eval_speed")
    args = bench.parse_args(
        ["--module", f"hear_ssl.byol_a:{checkpoint}", "--tasks-dir", str(tmp_path / "tasks"), "--cache-dir",
         str(tmp_path / "cache")]
    )  # fmt: skip
    (folder,) = bench.embedding_folders(args)
    metadata = json.loads((folder / "task_metadata.json").read_text())
    for split in metadata["splits"]:
        n_clips = len(json.loads((task / f"{split}.json").read_text()))
        assert json.loads((folder / f"{split}.embedding-dimensions.json").read_text()) == [n_clips, 64]
