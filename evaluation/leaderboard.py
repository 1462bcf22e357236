"""The published HEAR leaderboard and how the 19 official task folders map onto its columns.

The leaderboard is the CSV the HEAR organisers publish with the benchmark website (repository
`hearbenchmark/hearbenchmark.com`, `docs/leaderboard.csv`): one row per model (`Model`, `URL`,
`Submission Date`, then one primary score per task column). It is loaded from a path or URL given
by the user; nothing is fetched implicitly.
"""

import csv
import io
import math
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .official_tasks import OFFICIAL, official_task

# Task folder -> leaderboard column (facts in `official_tasks`). Beehive has two folds as separate
# folders; the leaderboard publishes one Beehive column.
OFFICIAL_TASKS = {task.folder: task.column for task in OFFICIAL}
_NON_TASK_COLUMNS = ("Model", "URL", "Submission Date")


def leaderboard_column(task_folder):
    """The leaderboard column for a task folder name, or None for a task outside the HEAR benchmark.

    A resampled or renamed copy keeps working if its name starts with the official folder name
    followed by `-` (e.g. `esc50-v2.0.0-full-16000`).
    """
    task = official_task(task_folder)
    return task.column if task else None


@dataclass
class Leaderboard:
    """Published scores: `scores[model][column]` (floats; missing entries absent)."""

    source: str
    scores: dict

    def column(self, column):
        """`{model: score}` for one task column, models without a score left out."""
        return {m: s[column] for m, s in self.scores.items() if column in s}

    def best(self, column):
        """`(model, score)` of the best published score on a column, or None. All columns are maximised."""
        col = self.column(column)
        if not col:
            return None
        model = max(col, key=col.get)
        return model, col[model]


def load_leaderboard(source):
    """Load the published leaderboard CSV from a file path or an http(s) URL.

    Raises
    ------
    ValueError
        If the CSV lacks the `Model` column or has no task column this module knows.
    """
    source = str(source)
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:
            text = response.read().decode("utf-8")
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"leaderboard CSV not found: {path}")
        text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "Model" not in rows[0]:
        raise ValueError(f"{source}: not a HEAR leaderboard CSV (no 'Model' column)")
    known = set(OFFICIAL_TASKS.values())
    columns = [c for c in rows[0] if c not in _NON_TASK_COLUMNS]
    if not known & set(columns):
        raise ValueError(f"{source}: none of its columns {columns} is a HEAR task column ({sorted(known)})")
    scores = {}
    for row in rows:
        values = {}
        for column in columns:
            text_value = (row.get(column) or "").strip()
            if text_value:
                value = float(text_value)
                if math.isfinite(value):
                    values[column] = value
        scores[row["Model"]] = values
    return Leaderboard(source=source, scores=scores)
