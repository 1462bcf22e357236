"""The harness's unit of work: one `Job` dataclass crosses the process boundary intact, and the worker
records what the prediction backend returned."""

import json
import math
from pathlib import Path

import pytest

from hear_ssl.evaluation import embeddings, predictions, worker
from hear_ssl.evaluation.job import Job
from hear_ssl.evaluation.jsonio import read_json
from hear_ssl.evaluation.modules import ModuleSpec


def make_job(tmp_path, **changes):
    values = dict(
        run_dir=tmp_path / "run",
        spec=ModuleSpec("hear_ssl.byol_a", "/ckpt/AudioNTT2020-BYOLA-64x96d512.pth", {"precision": "bf16"}),
        task_dir=tmp_path / "tasks" / "speech-v1.0.0-full",
        cache_dir=tmp_path / "run" / "cache",
        grid="faster",
        grid_points=2,
        backend="fast",
        threads=3,
        use_gpu=True,
    )
    return Job(**{**values, **changes})


def test_job_round_trips_through_json_with_its_types(tmp_path):
    job = make_job(tmp_path)
    again = Job.from_json(job.to_json())
    assert again == job
    assert isinstance(again.run_dir, Path) and isinstance(again.spec, ModuleSpec)
    assert again.unit.model == job.spec.slug and again.unit.task == "speech-v1.0.0-full"
    assert again.unit.result_path == tmp_path / "run" / "results" / job.spec.slug / "speech-v1.0.0-full.json"


def test_job_json_from_another_version_is_refused(tmp_path):
    values = json.loads(make_job(tmp_path).to_json())
    with pytest.raises(ValueError, match="not a harness job.*'model'"):
        Job.from_json(json.dumps({**values, "model": "renamed-field"}))
    del values["cache_dir"]
    with pytest.raises(ValueError, match="not a harness job"):
        Job.from_json(json.dumps(values))


def test_worker_records_the_scores_the_backend_returns(tmp_path, monkeypatch):
    """Embeddings already done; the backend's return value (not a file re-read) becomes the result."""
    job = make_job(tmp_path, backend="returns-only", use_gpu=False)
    embed_dir = job.unit.embed_dir
    embed_dir.mkdir(parents=True)
    (embed_dir / embeddings.DONE).touch()
    metadata = {"task_name": "speech", "embedding_type": "scene", "evaluation": ["top1_acc"], "splits": ["train"]}
    (embed_dir / "task_metadata.json").write_text(json.dumps(metadata))
    (embed_dir / "train.embedding-dimensions.json").write_text("[10, 512]")
    calls = []

    def backend(embed_task_dir, lightning_dir, grid, grid_points, gpus, keep_logs):
        calls.append((Path(embed_task_dir), grid, grid_points, gpus, keep_logs))
        (Path(embed_task_dir) / predictions.DONE_FILE).write_text("{}")
        return {"test": {"test_top1_acc": 0.75, "test_loss": math.nan}, "hparams": {"lr": 0.001}}

    monkeypatch.setitem(worker.BACKENDS, "returns-only", backend)
    result = worker.run_unit(job)
    assert calls == [(embed_dir, "faster", 2, None, False)]
    assert not (embed_dir / predictions.SCORES_FILE).exists()  # nothing was read back from disk
    assert result["metrics"]["top1_acc"]["mean"] == 0.75 and result["hparams"] == {"lr": 0.001}
    assert result["embedding_size"] == 512 and result["backend"] == "returns-only"
    assert read_json(job.unit.result_path) == result
    assert job.unit.read_status()["status"] == "done"
