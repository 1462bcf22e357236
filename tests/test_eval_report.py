"""Leaderboard mapping, strict JSON, and the report built from a run directory's result files."""

import csv
import json

import pytest

from hear_ssl.evaluation.aggregate import collect
from hear_ssl.evaluation.jsonio import read_json, write_json
from hear_ssl.evaluation.leaderboard import OFFICIAL_TASKS, leaderboard_column, load_leaderboard
from hear_ssl.evaluation.official_tasks import OFFICIAL_BY_FOLDER
from hear_ssl.evaluation.report import write_report

from .eval_support import serve_files

MODEL_A, MODEL_B = "hear_ssl.byol_a-AudioNTT2020-BYOLA-64x96d512", "hearbaseline.naive"
SPEC_A = {"module": "hear_ssl.byol_a", "weights": "/data/AudioNTT2020-BYOLA-64x96d512.pth"}
LABEL_A = "byol_a · AudioNTT2020-BYOLA-64x96d512"


@pytest.fixture(scope="module")
def leaderboard_csv(shared_dir):
    return shared_dir / "leaderboard" / "hear-leaderboard.csv"


def published_column(path, column):
    with open(path, newline="") as f:
        return {row["Model"]: float(row[column]) for row in csv.DictReader(f) if row[column].strip()}


def test_folder_names_map_to_leaderboard_columns(leaderboard_csv):
    assert leaderboard_column("esc50-v2.0.0-full") == "ESC-50"
    assert leaderboard_column("speech_commands-v0.0.2-5h") == "Speech commands 5h"
    assert leaderboard_column("tfds_crema_d-1.0.0-full") == "CREMA-D"
    assert leaderboard_column("esc50-v2.0.0-full-16000") == "ESC-50"
    assert leaderboard_column("drum_strokes-v1.0.0-full") is None
    with open(leaderboard_csv, newline="") as f:
        header = next(csv.reader(f))
    assert set(OFFICIAL_TASKS.values()) == set(header[3:])  # every published column is reachable


def test_leaderboard_from_file_and_url(leaderboard_csv):
    board = load_leaderboard(leaderboard_csv)
    assert len(board.scores) == 34
    esc50 = published_column(leaderboard_csv, "ESC-50")
    assert board.best("ESC-50") == max(esc50.items(), key=lambda kv: kv[1])
    base, server = serve_files({"/leaderboard.csv": leaderboard_csv.read_bytes()})
    try:
        assert load_leaderboard(f"{base}/leaderboard.csv").scores == board.scores
    finally:
        server.shutdown()
    with pytest.raises(ValueError, match="not a HEAR leaderboard"):
        load_leaderboard(leaderboard_csv.parent / "README.md")


def test_heareval_nan_is_read_as_null(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text('{"test": {"test_segment_1s_er": NaN, "x": Infinity, "y": 0.5}}')
    assert read_json(path) == {"test": {"test_segment_1s_er": None, "x": None, "y": 0.5}}
    write_json(tmp_path / "out.json", {"a": float("nan"), "b": [float("-inf"), 1.0]})
    assert (tmp_path / "out.json").read_text().replace(" ", "").replace("\n", "") == '{"a":null,"b":[null,1.0]}'


def result(model, task, metric, mean, std, folds, extra_metrics=()):
    metrics = {metric: {"mean": mean, "std": std, "folds": folds, "higher_is_better": True}}
    for name, value, higher in extra_metrics:
        metrics[name] = {"mean": value, "std": None, "folds": {"test": value}, "higher_is_better": higher}
    return {
        "model": model,
        "task": task,
        "task_name": task.split("-")[0],
        "embedding_type": "scene",
        "primary_metric": metric,
        "metrics": metrics,
        "seconds": {"embeddings": 10.0, "predictions": 20.0, "total": 30.0},
    }


def write_task_copy(folder, official, clips=None, labels=None, synthetic=False):
    """The task files the embedding stage keeps, with the official task's facts (or the given ones)."""
    folder.mkdir(parents=True)
    metadata = official.metadata() | ({"synthetic": {"scale": 0.1}} if synthetic else {})
    write_json(folder / "task_metadata.json", metadata)
    n_labels = labels or official.n_labels
    (folder / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},l{i}\n" for i in range(n_labels)))
    per_split = clips or (
        official.split_clips or {s: official.n_clips // len(official.splits) for s in official.splits}
    )
    for split in official.splits:
        write_json(folder / f"{split}.json", {f"{split}_{i}.wav": ["l0"] for i in range(per_split[split])})


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "myrun"
    write_json(
        run / "run.json",
        {
            "models": {MODEL_A: SPEC_A, MODEL_B: {"module": "hearbaseline.naive"}},
            "grid": "default",
            "grid_points": 8,
            "backend": "heareval",
        },
    )
    records = [
        result(MODEL_A, "esc50-v2.0.0-full", "top1_acc", 0.70, 0.02, {f"fold0{i}": 0.7 for i in range(5)}),
        result(MODEL_B, "esc50-v2.0.0-full", "top1_acc", 0.40, 0.03, {f"fold0{i}": 0.4 for i in range(5)}),
        result(
            MODEL_A,
            "office_events-v1.0.0-full",
            "event_onset_200ms_fms",
            0.30,
            None,
            {"test": 0.3},
            extra_metrics=[("segment_1s_er", 0.6, False)],
        ),
    ]
    for r in records:
        write_json(run / "results" / r["model"] / f"{r['task']}.json", r)
    write_task_copy(run / "embeddings" / MODEL_A / "esc50-v2.0.0-full", OFFICIAL_BY_FOLDER["esc50-v2.0.0-full"])
    write_json(
        run / "status" / MODEL_B / "office_events-v1.0.0-full.json",
        {"model": MODEL_B, "task": "office_events-v1.0.0-full", "status": "failed"},
    )
    return run


def test_table_with_published_scores_and_normalisation(run_dir, leaderboard_csv):
    board = load_leaderboard(leaderboard_csv)
    table = collect(run_dir, leaderboard=board)
    assert table.models == [MODEL_A, MODEL_B]
    assert [t["task"] for t in table.tasks] == ["esc50-v2.0.0-full", "office_events-v1.0.0-full"]
    best_model, best = max(published_column(leaderboard_csv, "ESC-50").items(), key=lambda kv: kv[1])
    esc50 = table.tasks[0]
    assert table.normalised(MODEL_A, esc50) == pytest.approx(0.70 / best)
    office = table.tasks[1]
    assert table.reference(office) == (0.30, "best of this run")  # not an official task
    assert table.missing == [(MODEL_B, "office_events-v1.0.0-full", "failed")]

    paths = write_report(run_dir, leaderboard=str(leaderboard_csv))
    md = paths["markdown"].read_text()
    n_published = len(published_column(leaderboard_csv, "ESC-50"))
    rank_a = 1 + sum(v > 0.70 for v in published_column(leaderboard_csv, "ESC-50").values())
    # Readable names: models as the registry/weights name them, tasks as the leaderboard names its columns.
    assert f"| task | metric | {LABEL_A} | hearbaseline.naive | published best | rank of {LABEL_A} |" in md
    assert (
        f"| ESC-50 | top1_acc | **0.700 ± 0.020** | 0.400 ± 0.030 | {best:.3f} ({best_model}) "
        f"| {rank_a} of {n_published + 1} |" in md
    )
    assert f"- {LABEL_A}: `{MODEL_A}`" in md  # which run folder the name stands for
    assert "Warning" not in md  # default grid, 8 points, heareval: the published protocol
    assert "| office_events | event_onset_200ms_fms | 0.300 | — | — |" in md
    wall_time = md.split("## Wall time")[1].split("## Not finished")[0]
    assert "office_events |" in wall_time and "-v1.0.0" not in wall_time and MODEL_A not in wall_time
    assert f"{0.70 / best:.3f}" in md and "segment_1s_er" in md and "failed" in md
    rows = list(csv.DictReader(paths["csv"].open()))
    published = [r for r in rows if r["source"] == "published"]
    assert len(published) == len(published_column(leaderboard_csv, "ESC-50"))
    assert {(r["model"], r["model_label"]) for r in rows if r["source"] == "run"} == {
        (MODEL_A, LABEL_A),
        (MODEL_B, "hearbaseline.naive"),
    }
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "<script" not in page and "<link" not in page
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_models_whose_names_would_clash_keep_their_slugs(run_dir):
    config = read_json(run_dir / "run.json")
    config["models"][MODEL_B] = {**SPEC_A, "weights": "/elsewhere/AudioNTT2020-BYOLA-64x96d512.pth"}
    write_json(run_dir / "run.json", config)
    table = collect(run_dir)
    assert [table.label(m) for m in table.models] == [MODEL_A, MODEL_B]


def test_report_without_results_or_leaderboard(tmp_path):
    write_json(tmp_path / "run" / "run.json", {"models": {}, "grid": "faster", "grid_points": 8, "backend": "heareval"})
    paths = write_report(tmp_path / "run")
    assert "No finished" in paths["markdown"].read_text() and paths["figure"] is None
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        write_report(tmp_path / "elsewhere")


def test_report_cli(run_dir, leaderboard_csv, capsys):
    from hear_ssl.cli import main

    assert main(["report", str(run_dir), "--leaderboard", str(leaderboard_csv), "--compare", "wav2vec2"]) == 0
    out = capsys.readouterr().out
    assert "| task | metric |" in out and "wav2vec2" in out
    assert json.loads(json.dumps(read_json(run_dir / "run.json")))["grid"] == "default"
