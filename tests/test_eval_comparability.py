"""The report's honesty checks: comparability with the official task, protocol warning, Beehive's one
column, +inf shown as ∞ (a failed metric as —), ranks and the 19-column leaderboard view."""

import json

import pytest

from hear_ssl.evaluation.aggregate import collect, fmt, leaderboard_rows
from hear_ssl.evaluation.jsonio import write_json
from hear_ssl.evaluation.leaderboard import load_leaderboard
from hear_ssl.evaluation.official_tasks import COLUMNS, OFFICIAL_BY_FOLDER
from hear_ssl.evaluation.report import write_report
from hear_ssl.evaluation.results import read_scores, summarize_scores

from .test_eval_report import result, write_task_copy

MODEL = "hear_ssl.byol_a-tiny"
FOLD0, FOLD1 = "beehive_states_fold0-v2-full", "beehive_states_fold1-v2-full"


@pytest.fixture(scope="module")
def board(shared_dir):
    return load_leaderboard(shared_dir / "leaderboard" / "hear-leaderboard.csv")


def make_run(tmp_path, grid="default", grid_points=8, backend="heareval"):
    run = tmp_path / "run"
    config = {"models": {MODEL: {}}, "grid": grid, "grid_points": grid_points, "backend": backend}
    write_json(run / "run.json", config)
    return run


def add_result(run, task, metric, mean, official=None, **copy):
    record = result(MODEL, task, metric, mean, None, {"test": mean})
    write_json(run / "results" / MODEL / f"{task}.json", record)
    write_task_copy(run / "embeddings" / MODEL / task, official or OFFICIAL_BY_FOLDER[task], **copy)


def test_stand_in_with_an_official_name_is_not_compared(tmp_path, board):
    run = make_run(tmp_path)
    add_result(run, "fsd50k-v1.0-full", "mAP", 0.6, clips={"train": 30, "valid": 12, "test": 12}, labels=20)
    table = collect(run, leaderboard=board)
    task = table.tasks[0]
    assert not table.comparable(task) and table.published_best(task) is None
    reasons = task["comparability"].reasons
    assert "54 clips, official 51185" in reasons and "20 labels, official 200" in reasons
    assert table.reference(task) == (0.6, "best of this run")  # not "1.4 × published best"
    md = write_report(run, leaderboard=str(board.source))["markdown"].read_text()
    assert "not comparable: 20 labels, official 200; 54 clips, official 51185" in md


def test_official_facts_make_a_task_comparable_and_synthetic_ones_do_not(tmp_path, board):
    run = make_run(tmp_path)
    add_result(run, "esc50-v2.0.0-full", "top1_acc", 0.5)
    add_result(run, "gunshot_triangulation-v1.0-full", "top1_acc", 0.9, synthetic=True)
    table = collect(run, leaderboard=board)
    esc50, gunshot = table.tasks
    assert table.comparable(esc50) and esc50["comparability"].unchecked == ["clips per split (not published)"]
    better = sum(v > 0.5 for v in board.column("ESC-50").values())
    assert table.rank(MODEL, esc50) == (better + 1, len(board.column("ESC-50")))
    assert not table.comparable(gunshot)
    assert gunshot["comparability"].reasons[0] == "synthetic stand-in (hear-ssl tasks synth)"


def test_protocol_differences_are_warned_about(tmp_path, board):
    run = make_run(tmp_path, grid="faster", grid_points=3, backend="fast")
    add_result(run, "esc50-v2.0.0-full", "top1_acc", 0.5)
    md = write_report(run, leaderboard=str(board.source))["markdown"].read_text()
    warning = next(line for line in md.splitlines() if line.startswith("**Warning"))
    for text in ("grid `faster` (published: `default`)", "grid points `3` (published: `8`)", "backend `fast`"):
        assert text in warning


def test_beehive_folds_make_one_column_counted_once(tmp_path, board):
    run = make_run(tmp_path)
    add_result(run, FOLD0, "aucroc", 0.6)
    add_result(run, FOLD1, "aucroc", 0.8)
    add_result(run, "esc50-v2.0.0-full", "top1_acc", 0.5)
    table = collect(run, leaderboard=board)
    names = [r["task"] for r in table.rows]
    combined = "Beehive (mean of fold0, fold1)"
    assert names == [FOLD0, FOLD1, combined, "esc50-v2.0.0-full"]
    row = table.rows[2]
    assert table.cell(MODEL, row)["mean"] == pytest.approx(0.7)
    assert table.published_best(row) == board.best("Beehive")
    assert table.published_best(table.rows[0]) is None  # a single fold is never set beside the column
    md = write_report(run, leaderboard=str(board.source))["markdown"].read_text()
    assert "no published source states how the organisers combined them" in md
    assert "**mean** (2 columns)" in md
    expected = (0.7 / board.best("Beehive")[1] + 0.5 / board.best("ESC-50")[1]) / 2
    assert f"| {expected:.3f} |" in md
    header, rows = leaderboard_rows(table)
    assert header[1:] == COLUMNS and len(COLUMNS) == 19
    assert rows[0][1 + COLUMNS.index("Beehive")] == "0.700"
    # Rows of single folders keep the fold in their name (the secondary and wall-time tables list folders).
    assert [table.task_label(t) for t in table.tasks] == ["beehive_states_fold0", "beehive_states_fold1", "ESC-50"]


def test_infinite_d_prime_is_shown_as_infinity_and_a_failed_metric_as_a_dash(tmp_path):
    path = tmp_path / "test.predicted-scores.json"
    path.write_text('{"test": {"test_aucroc": 1.0, "test_d_prime": Infinity, "test_mAP": NaN}}')
    metadata = {"evaluation": ["aucroc", "d_prime", "mAP"]}
    summary = summarize_scores(read_scores(path), metadata)
    assert summary["d_prime"]["mean"] is None and summary["d_prime"]["nonfinite"]["mean"] == "+inf"
    json.dumps(summary, allow_nan=False)  # strict JSON
    assert fmt(summary["d_prime"]) == "∞"
    assert fmt(summary["mAP"]) == "—"
    assert fmt(summary["aucroc"]) == "1.000"
