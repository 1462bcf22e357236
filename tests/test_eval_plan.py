"""`hear-ssl tasks plan`: its disk estimate matches what the embedding stage then writes."""

import pytest

from hear_ssl.config import EncoderConfig
from hear_ssl.evaluation.embeddings import HearModel, compute_task_embeddings
from hear_ssl.evaluation.modules import parse_module_spec
from hear_ssl.evaluation.official_tasks import OFFICIAL
from hear_ssl.evaluation.plan import official_shapes, plan
from hear_ssl.evaluation.resample import audio_dir_for
from hear_ssl.evaluation.synth import synth_suite

from .weights_support import write_random_weights


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    write_random_weights(root / "tiny.safetensors", EncoderConfig(arch="audiontt2020", d=64))
    synth_suite(root / "tasks", scale=0.02, tasks="gunshot*,dcase*", max_duration=4)
    return root


def test_disk_estimate_matches_the_embedding_stage(setup):
    spec = parse_module_spec(f"hear_ssl.byol_a:{setup / 'tiny.safetensors'}")
    costs, rows = plan(setup / "tasks", [spec])
    assert costs[0].sample_rate == 16000 and costs[0].scene_size == 64 and costs[0].hop_ms == pytest.approx(50)
    assert costs[0].scene_s_per_s > 0 and costs[0].timestamp_s_per_s > 0
    module, model = spec.load()
    hear = HearModel(module, model, device="cpu")
    for row in rows:
        task = setup / "tasks" / row["task"]
        out = setup / "emb" / row["task"]
        audio = audio_dir_for(task, 16000, setup / "cache", progress=False)
        compute_task_embeddings(hear, task, out, audio, progress=False)
        written = sum(p.stat().st_size for p in out.rglob("*embedding*.npy"))
        written += sum(p.stat().st_size for p in out.rglob("*.json") if "timestamps" in p.name or "target" in p.name)
        assert 0.7 < row["disk_bytes"] / written < 1.3, (row["task"], row["disk_bytes"], written)
        cached = sum(p.stat().st_size for p in (setup / "cache").rglob(f"{row['task']}/**/*.wav"))
        assert 0.9 < row["cache_bytes"] / cached < 1.1, (row["task"], row["cache_bytes"], cached)


def test_official_suite_shapes_come_from_the_table():
    shapes = official_shapes()
    assert len(shapes) == 20 and sum(s.clips for s in shapes) == sum(t.n_clips for t in OFFICIAL)
    beehive = next(s for s in shapes if s.name.startswith("beehive"))
    assert beehive.longest_s == 600 and beehive.seconds == 576 * 600
