"""Collect a run's result files into one table: tasks x models, with the published scores beside them.

Only reads `results/<model>/<task>.json` (written by the worker from heareval's scores) and the
published leaderboard; nothing is recomputed. The same `RunTable` renders to Markdown, CSV (long
format, one row per task x model x metric, published rows included) and the HTML page.
"""

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from .jsonio import read_json
from .leaderboard import leaderboard_column

DEFAULT_COMPARE = ("Logitech AI SERAB BYOL-S",)  # the published BYOL-family entry of HEAR 2021


@dataclass
class RunTable:
    """Everything the report shows, gathered from one run directory.

    Attributes
    ----------
    run_dir : Path
    models : list of str
        Model slugs, in the order of `run.json`.
    tasks : list of dict
        One per task with a result: `task`, `metric` (primary), `metrics` (all), `column`
        (leaderboard column or None), `higher_is_better`.
    results : dict
        `(model, task) -> result record`.
    missing : list of tuple
        `(model, task, status)` for units of the run without a result yet.
    leaderboard : Leaderboard or None
    compare : list of str
        Published models shown as extra columns.
    config : dict
        `run.json`.
    """

    run_dir: Path
    models: list
    tasks: list
    results: dict
    missing: list = field(default_factory=list)
    leaderboard: object = None
    compare: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def cell(self, model, task, metric=None):
        """`{"mean", "std", "folds", "higher_is_better"}` or None."""
        result = self.results.get((model, task["task"]))
        if result is None:
            return None
        return result["metrics"].get(metric or task["metric"])

    def published_best(self, task):
        if self.leaderboard is None or task["column"] is None:
            return None
        return self.leaderboard.best(task["column"])

    def published(self, model, task):
        if self.leaderboard is None or task["column"] is None:
            return None
        return self.leaderboard.scores.get(model, {}).get(task["column"])

    def reference(self, task):
        """The score a task's scores are normalised by: best published, else best of this run.

        Returns
        -------
        tuple or None
            `(value, label)`.
        """
        best = self.published_best(task)
        if best is not None:
            return best[1], f"published best ({best[0]})"
        values = [c["mean"] for m in self.models if (c := self.cell(m, task)) and c["mean"] is not None]
        if not values:
            return None
        value = max(values) if task["higher_is_better"] else min(values)
        return value, "best of this run"

    def normalised(self, model, task):
        """Score relative to `reference` (1.0 = as good as the reference; larger is better)."""
        cell, ref = self.cell(model, task), self.reference(task)
        if not cell or cell["mean"] is None or not ref or not ref[0]:
            return None
        return cell["mean"] / ref[0] if task["higher_is_better"] else ref[0] / cell["mean"] if cell["mean"] else None


def collect(run_dir, leaderboard=None, compare=DEFAULT_COMPARE):
    """Read a run directory's results into a `RunTable`.

    Parameters
    ----------
    run_dir : str or Path
    leaderboard : Leaderboard, optional
    compare : iterable of str
        Published model names to show as columns (those absent from the leaderboard are ignored).

    Raises
    ------
    FileNotFoundError
        If `run_dir` is not a run directory.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "run.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a run directory (no run.json); pass the --run-dir of `hear-ssl evaluate`"
        )
    config = read_json(config_path)
    models = list(config.get("models", {}))
    results = {}
    for path in sorted((run_dir / "results").glob("*/*.json")):
        record = read_json(path)
        results[(record["model"], record["task"])] = record
        if record["model"] not in models:
            models.append(record["model"])
    tasks = {}
    for (_, task), record in sorted(results.items(), key=lambda kv: kv[0][1]):
        if task not in tasks:
            metric = record["primary_metric"]
            tasks[task] = {
                "task": task,
                "metric": metric,
                "metrics": list(record["metrics"]),
                "column": leaderboard_column(task),
                "higher_is_better": record["metrics"][metric]["higher_is_better"],
                "embedding_type": record["embedding_type"],
            }
    missing = []
    for path in sorted((run_dir / "status").glob("*/*.json")):
        status = read_json(path)
        if (status["model"], status["task"]) not in results:
            missing.append((status["model"], status["task"], status.get("status", "pending")))
    shown = [m for m in compare if leaderboard is not None and m in leaderboard.scores]
    return RunTable(run_dir, models, list(tasks.values()), results, missing, leaderboard, shown, config)


def fmt(cell, digits=3):
    """`mean ± std` (or `mean` for a single split; `—` when missing)."""
    if not cell or cell.get("mean") is None:
        return "—"
    if cell.get("std") is None:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def _num(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def primary_rows(table):
    """Header and rows of the main table (strings), best of the run's models in `**bold**`."""
    header = ["task", "metric"] + table.models
    if table.leaderboard is not None:
        header += ["published best"] + list(table.compare)
    rows = []
    for task in table.tasks:
        cells = [table.cell(m, task) for m in table.models]
        means = [c["mean"] for c in cells if c and c["mean"] is not None]
        best = (max(means) if task["higher_is_better"] else min(means)) if len(means) > 1 else None
        row = [task["task"], task["metric"] + ("" if task["higher_is_better"] else " (lower is better)")]
        row += [f"**{fmt(c)}**" if best is not None and c and c["mean"] == best else fmt(c) for c in cells]
        if table.leaderboard is not None:
            published = table.published_best(task)
            row.append(f"{published[1]:.3f} ({published[0]})" if published else "—")
            row += [_num(table.published(m, task)) for m in table.compare]
        rows.append(row)
    return header, rows


def normalised_rows(table):
    header = ["task", "reference"] + table.models
    rows = []
    for task in table.tasks:
        ref = table.reference(task)
        row = [task["task"], f"{ref[0]:.3f}, {ref[1]}" if ref else "—"]
        row += [_num(table.normalised(m, task)) for m in table.models]
        rows.append(row)
    if table.tasks:
        means = []
        for m in table.models:
            values = [v for t in table.tasks if (v := table.normalised(m, t)) is not None]
            means.append(_num(sum(values) / len(values)) if len(values) == len(table.tasks) else "—")
        rows.append(["**mean**", ""] + means)
    return header, rows


def secondary_rows(table):
    header = ["task", "metric"] + table.models
    rows = []
    for task in table.tasks:
        for metric in task["metrics"][1:]:
            rows.append([task["task"], metric] + [fmt(table.cell(m, task, metric)) for m in table.models])
    return header, rows


def timing_rows(table):
    header = ["task"] + [f"{m} (embed + predict = total, s)" for m in table.models]
    rows = []
    for task in table.tasks:
        row = [task["task"]]
        for m in table.models:
            r = table.results.get((m, task["task"]))
            s = r["seconds"] if r else None
            row.append(f"{s.get('embeddings', 0):.0f} + {s.get('predictions', 0):.0f} = {s['total']:.0f}" if s else "—")
        rows.append(row)
    return header, rows


def _md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _protocol_line(table):
    c = table.config
    return (
        f"Protocol: heareval 2021.1.3 downstream evaluation, grid `{c.get('grid')}` with "
        f"{c.get('grid_points')} grid points, backend `{c.get('backend')}`; primary metric (first of each "
        "task's `evaluation`), mean ± std over folds (std only for k-fold tasks)."
    )


def to_markdown(table, figure_name=None):
    """The whole report as Markdown."""
    parts = [f"# HEAR evaluation: {table.run_dir.name}", "", _protocol_line(table), ""]
    if not table.tasks:
        parts.append("No finished (model, task) results yet.")
    else:
        parts += ["## Primary metric", "", _md_table(*primary_rows(table)), ""]
        if figure_name:
            parts += [f"![primary metric per task]({figure_name})", ""]
        parts += [
            "## Normalised score",
            "",
            "Score divided by the reference (error rates: reference divided by score), "
            "so 1.0 means as good as the reference.",
            "",
            _md_table(*normalised_rows(table)),
            "",
        ]
        header, rows = secondary_rows(table)
        if rows:
            parts += ["## Secondary metrics", "", _md_table(header, rows), ""]
        parts += ["## Wall time", "", _md_table(*timing_rows(table)), ""]
    if table.missing:
        parts += ["## Not finished", ""] + [f"- {m} / {t}: {s}" for m, t, s in table.missing] + [""]
    if table.leaderboard is not None:
        parts += [
            f"Published scores: HEAR leaderboard CSV ({table.leaderboard.source}), as published; "
            "only tasks of the official benchmark have them.",
            "",
        ]
    return "\n".join(parts)


def to_csv(table):
    """Long format: one row per task x model x metric, run results and published scores."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "task",
            "leaderboard_column",
            "metric",
            "model",
            "source",
            "mean",
            "std",
            "n_splits",
            "normalised",
            "embeddings_s",
            "predictions_s",
        ]
    )
    for task in table.tasks:
        for model in table.models:
            result = table.results.get((model, task["task"]))
            if result is None:
                continue
            for metric in task["metrics"]:
                cell = result["metrics"][metric]
                writer.writerow(
                    [
                        task["task"],
                        task["column"] or "",
                        metric,
                        model,
                        "run",
                        cell["mean"],
                        "" if cell["std"] is None else cell["std"],
                        len(cell["folds"]),
                        table.normalised(model, task) if metric == task["metric"] else "",
                        result["seconds"].get("embeddings", ""),
                        result["seconds"].get("predictions", ""),
                    ]
                )
        if table.leaderboard is not None and task["column"]:
            for model, value in table.leaderboard.column(task["column"]).items():
                writer.writerow(
                    [task["task"], task["column"], task["metric"], model, "published", value, "", "", "", "", ""]
                )
    return out.getvalue()


def _html_table(header, rows):
    def cell(text):
        text = str(text)
        if text.startswith("**") and text.endswith("**"):
            return f"<td><b>{html.escape(text[2:-2])}</b></td>"
        return f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
    "tr:nth-child(even){background:#fafafa}img{max-width:100%}"
)


def to_html(table, figure_png=None):
    """A self-contained HTML page (inline CSS, figure embedded as a data URI)."""
    import base64

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>HEAR evaluation: {html.escape(table.run_dir.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>HEAR evaluation: {html.escape(table.run_dir.name)}</h1>",
        f"<p>{html.escape(_protocol_line(table)).replace('`', '')}</p>",
    ]
    if table.tasks:
        parts += ["<h2>Primary metric</h2>", _html_table(*primary_rows(table))]
        if figure_png:
            data = base64.b64encode(figure_png).decode()
            parts.append(f"<img alt='primary metric per task' src='data:image/png;base64,{data}'>")
        parts += ["<h2>Normalised score</h2>", _html_table(*normalised_rows(table))]
        header, rows = secondary_rows(table)
        if rows:
            parts += ["<h2>Secondary metrics</h2>", _html_table(header, rows)]
        parts += ["<h2>Wall time</h2>", _html_table(*timing_rows(table))]
    else:
        parts.append("<p>No finished (model, task) results yet.</p>")
    if table.missing:
        parts += (
            ["<h2>Not finished</h2><ul>"]
            + [f"<li>{html.escape(f'{m} / {t}: {s}')}</li>" for m, t, s in table.missing]
            + ["</ul>"]
        )
    if table.leaderboard is not None:
        parts.append(
            f"<p>Published scores: HEAR leaderboard CSV ({html.escape(table.leaderboard.source)}), as published.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
