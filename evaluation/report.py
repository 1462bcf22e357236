"""Write a run's report: `report/results.md`, `results.csv`, `results.html` and `results.png`."""

import os
from pathlib import Path

from hear_ssl.io import atomic_write_bytes, atomic_write_text

from .aggregate import DEFAULT_COMPARE, collect, to_csv, to_html, to_markdown
from .figure import primary_figure
from .leaderboard import load_leaderboard

LEADERBOARD_ENV = "HEAR_SSL_LEADERBOARD"


def write_report(run_dir, leaderboard=None, out_dir=None, compare=DEFAULT_COMPARE):
    """Aggregate `run_dir` and write the four report files.

    Parameters
    ----------
    run_dir : str or Path
    leaderboard : str, optional
        Path or URL of the published leaderboard CSV; defaults to `$HEAR_SSL_LEADERBOARD` if set.
        Without one the report has no published columns.
    out_dir : str or Path, optional
        Defaults to `<run_dir>/report`.
    compare : iterable of str
        Published models shown as extra columns.

    Returns
    -------
    dict
        Paths: `markdown`, `csv`, `html`, `figure` (None when the run has no result yet).
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    source = leaderboard or os.environ.get(LEADERBOARD_ENV)
    board = load_leaderboard(source) if source else None
    table = collect(run_dir, leaderboard=board, compare=compare)
    paths = {
        "markdown": out_dir / "results.md",
        "csv": out_dir / "results.csv",
        "html": out_dir / "results.html",
        "figure": None,
    }
    png = None
    if table.tasks:
        png = primary_figure(table)
        paths["figure"] = out_dir / "results.png"
        atomic_write_bytes(paths["figure"], png)
    atomic_write_text(paths["markdown"], to_markdown(table, figure_name="results.png" if png else None))
    atomic_write_text(paths["csv"], to_csv(table))
    atomic_write_text(paths["html"], to_html(table, png))
    return paths
