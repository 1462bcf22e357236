"""Collect a run's result files into one table: tasks x models, with the published scores beside them.

Only reads `results/<model>/<task>.json` (written by the worker from heareval's scores) and the
published leaderboard; nothing is recomputed. The same `RunTable` renders to Markdown, CSV (long
format, one row per task x model x metric, published rows included) and the HTML page.
"""

import csv
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .columns import BEEHIVE_RULE, combined_label, rank_among
from .comparability import Comparability, check_task, protocol_differences, read_task_facts
from .display import model_display_name, task_display_name
from .jsonio import read_json
from .leaderboard import leaderboard_column
from .official_tasks import COLUMNS, folders_of_column

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
    rows : list of dict
        The rows of the primary and normalised tables: `tasks`, plus one combined row per leaderboard
        column made of several folders (Beehive), placed after its folders. A folder row that is part of
        a combined row has `part_of` (the combined row's name); a combined row has `combined` (folders).
    labels : dict
        Model slug -> the readable name the tables and the figure show (unique within the run).
    """

    run_dir: Path
    models: list
    tasks: list
    results: dict
    missing: list = field(default_factory=list)
    leaderboard: object = None
    compare: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)

    def label(self, model):
        """The model's readable name (its slug when it has none)."""
        return self.labels.get(model, model)

    @staticmethod
    def task_label(task):
        """A row's task as the tables show it: the leaderboard column or task name, no version suffix."""
        return task_display_name(task)

    def cell(self, model, task, metric=None):
        """`{"mean", "std", "folds", "higher_is_better"}` or None (a combined row: the folds' mean)."""
        if task.get("combined"):
            parts = [self.cell(model, {"task": f, "metric": task["metric"]}, metric) for f in task["combined"]]
            if any(not c or c.get("mean") is None for c in parts):
                return None
            mean = sum(c["mean"] for c in parts) / len(parts)
            return {"mean": mean, "std": None, "folds": {}, "higher_is_better": task["higher_is_better"]}
        result = self.results.get((model, task["task"]))
        if result is None:
            return None
        return result["metrics"].get(metric or task["metric"])

    @property
    def protocol_differences(self):
        """Sentences naming where this run's protocol differs from the published one (empty: same)."""
        return protocol_differences(self.config)

    def comparable(self, task):
        """True when published scores may be shown beside this row (official, same task, not a fold part)."""
        comparability = task.get("comparability")
        return bool(comparability and comparability.comparable and not task.get("part_of"))

    def published_best(self, task):
        """`(model, score)` of the best published score for a comparable row, else None."""
        if self.leaderboard is None or not self.comparable(task):
            return None
        return self.leaderboard.best(task["column"])

    def published(self, model, task):
        if self.leaderboard is None or not self.comparable(task):
            return None
        return self.leaderboard.scores.get(model, {}).get(task["column"])

    def rank(self, model, task):
        """`(rank, n_published)` of a model's score among the published rows of a comparable row."""
        if self.leaderboard is None or not self.comparable(task):
            return None
        cell = self.cell(model, task)
        values = list(self.leaderboard.column(task["column"]).values())
        return rank_among(cell and cell.get("mean"), values, task["higher_is_better"])

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
                "task_name": record.get("task_name"),
            }
    for task in tasks.values():
        task["comparability"] = check_task(task["task"], _task_facts(run_dir, config, models, task["task"]))
    missing = []
    for path in sorted((run_dir / "status").glob("*/*.json")):
        status = read_json(path)
        if (status["model"], status["task"]) not in results:
            missing.append((status["model"], status["task"], status.get("status", "pending")))
    shown = [m for m in compare if leaderboard is not None and m in leaderboard.scores]
    task_list = list(tasks.values())
    return RunTable(
        run_dir,
        models,
        task_list,
        results,
        missing,
        leaderboard,
        shown,
        config,
        rows=_display_rows(task_list),
        labels=_model_labels(models, config.get("models", {})),
    )


def _model_labels(models, specs):
    """Readable names of the run's models; a name two models would share falls back to their slugs."""
    names = {m: model_display_name(m, specs.get(m)) for m in models}
    uses = Counter(names.values())
    return {m: (m if uses[n] > 1 else n) for m, n in names.items()}


def _task_facts(run_dir, config, models, task):
    """Clip counts and vocabulary of the task a run used: the embedding stage's copies, else the tasks folder."""
    for model in models:
        facts = read_task_facts(run_dir / "embeddings" / model / task)
        if facts is not None:
            return facts
    if config.get("tasks_dir"):
        return read_task_facts(Path(config["tasks_dir"]) / task)
    return None


def _display_rows(tasks):
    """`tasks` plus a combined row after the last folder of each multi-folder column present (Beehive)."""
    rows, by_task = [], {t["task"]: t for t in tasks}
    for task in tasks:
        column = task["column"]
        folders = folders_of_column(column) if column else []
        if len(folders) < 2 or task["task"] not in folders:
            rows.append(task)
            continue
        label = combined_label(column, folders)
        rows.append({**task, "part_of": label})
        if task["task"] == folders[-1] and all(f in by_task for f in folders):
            parts = [by_task[f]["comparability"] for f in folders]
            merged = Comparability(parts[0].official, list(dict.fromkeys(r for p in parts for r in p.reasons)))
            rows.append({**task, "task": label, "combined": folders, "comparability": merged})
    return rows


def fmt(cell, digits=3):
    """`mean ± std` (or `mean` for a single split; `∞`/`-∞` for an infinite mean; `—` when missing or failed)."""
    if cell and cell.get("mean") is None:
        label = (cell.get("nonfinite") or {}).get("mean")
        if label in ("+inf", "-inf"):
            return "∞" if label == "+inf" else "-∞"
    if not cell or cell.get("mean") is None:
        return "—"
    if cell.get("std") is None:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def _num(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def _not_comparable_text(table, task):
    if task.get("part_of"):
        return f"compared in {task['part_of']} (needs every fold)"
    comparability = task.get("comparability")
    if comparability is None or comparability.official is None:
        return "—"
    return "not comparable: " + "; ".join(comparability.reasons)


def primary_rows(table):
    """Header and rows of the main table (strings), best of the run's models in `**bold**`.

    With a leaderboard: the best published score, each model's rank among the published rows and the
    `compare` rows, for rows that pass the comparability check; other official rows say why not.
    """
    labels = [table.label(m) for m in table.models]
    header = ["task", "metric"] + labels
    if table.leaderboard is not None:
        header += ["published best"] + [f"rank of {m}" for m in labels] + list(table.compare)
    rows = []
    for task in table.rows:
        cells = [table.cell(m, task) for m in table.models]
        means = [c["mean"] for c in cells if c and c["mean"] is not None]
        best = (max(means) if task["higher_is_better"] else min(means)) if len(means) > 1 else None
        row = [table.task_label(task), task["metric"] + ("" if task["higher_is_better"] else " (lower is better)")]
        row += [f"**{fmt(c)}**" if best is not None and c and c["mean"] == best else fmt(c) for c in cells]
        if table.leaderboard is not None:
            published = table.published_best(task)
            if published:
                row.append(f"{published[1]:.3f} ({published[0]})")
                ranks = [table.rank(m, task) for m in table.models]
                row += [f"{r[0]} of {r[1] + 1}" if r else "—" for r in ranks]
                row += [_num(table.published(m, task)) for m in table.compare]
            else:
                row.append(_not_comparable_text(table, task))
                row += ["—"] * (len(table.models) + len(table.compare))
        rows.append(row)
    return header, rows


def normalised_rows(table):
    header = ["task", "reference"] + [table.label(m) for m in table.models]
    rows = []
    for task in table.rows:
        ref = table.reference(task)
        row = [table.task_label(task), f"{ref[0]:.3f}, {ref[1]}" if ref else "—"]
        row += [_num(table.normalised(m, task)) for m in table.models]
        rows.append(row)
    counted = [t for t in table.rows if not t.get("part_of")]  # a multi-fold column counts once
    if counted:
        means = []
        for m in table.models:
            values = [v for t in counted if (v := table.normalised(m, t)) is not None]
            means.append(_num(sum(values) / len(values)) if len(values) == len(counted) else "—")
        rows.append([f"**mean** ({len(counted)} columns)", ""] + means)
    return header, rows


def leaderboard_rows(table):
    """The 19 leaderboard columns as the leaderboard reads them: one row per model, ours and published.

    Our values are the primary score of the task (both folds' mean for Beehive); `(n/c)` marks a value
    whose task failed the comparability check, `—` a column without a result.
    """
    by_column = {t["column"]: t for t in table.rows if t.get("column") and not t.get("part_of")}
    header = ["model"] + list(COLUMNS)
    rows = []
    for model in table.models:
        row = [table.label(model)]
        for column in COLUMNS:
            task = by_column.get(column)
            cell = table.cell(model, task) if task else None
            text = fmt(cell) if cell else "—"
            row.append(text + ("" if text == "—" or table.comparable(task) else " (n/c)"))
        rows.append(row)
    if table.leaderboard is not None:
        for name in list(table.compare):
            rows.append([f"{name} (published)"] + [_num(table.leaderboard.scores[name].get(c)) for c in COLUMNS])
        best = [table.leaderboard.best(c) for c in COLUMNS]
        rows.append(["best published"] + [_num(b[1]) if b else "—" for b in best])
    return header, rows


def secondary_rows(table):
    header = ["task", "metric"] + [table.label(m) for m in table.models]
    rows = []
    for task in table.tasks:
        for metric in task["metrics"][1:]:
            rows.append([table.task_label(task), metric] + [fmt(table.cell(m, task, metric)) for m in table.models])
    return header, rows


def timing_rows(table):
    header = ["task"] + [f"{table.label(m)} (embed + predict = total, s)" for m in table.models]
    rows = []
    for task in table.tasks:
        row = [table.task_label(task)]
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


def protocol_warning(table):
    """The warning shown when the run's protocol is not the published one (None when it is)."""
    differences = table.protocol_differences
    if not differences or table.leaderboard is None:
        return None
    return (
        "**Warning: this run's protocol differs from the one the published scores were computed with: "
        + "; ".join(differences)
        + ". Published rows are shown for orientation only.**"
    )


def comparability_notes(table):
    """One line per official task that failed the comparability check or left facts unchecked."""
    lines = []
    for task in table.tasks:
        comparability = task.get("comparability")
        if comparability is None or comparability.official is None:
            continue
        if comparability.reasons:
            lines.append(f"- {_named_folder(task)}: not comparable ({'; '.join(comparability.reasons)})")
        elif comparability.unchecked:
            lines.append(f"- {_named_folder(task)}: comparable; not checked: {', '.join(comparability.unchecked)}")
    return lines


def _named_folder(task):
    """`ESC-50 (esc50-v2.0.0-full)`: the row's name and the folder whose facts were checked."""
    return f"{task_display_name(task)} ({task['task']})"


def model_key(table):
    """Which run folder each readable model name stands for (shown under the tables)."""
    return [f"- {table.label(m)}: `{m}`" for m in table.models if table.label(m) != m]


def to_markdown(table, figure_name=None):
    """The whole report as Markdown."""
    parts = [f"# HEAR evaluation: {table.run_dir.name}", "", _protocol_line(table), ""]
    warning = protocol_warning(table)
    if warning:
        parts += [warning, ""]
    if not table.tasks:
        parts.append("No finished (model, task) results yet.")
    else:
        parts += ["## Primary metric", "", _md_table(*primary_rows(table)), ""]
        key = model_key(table)
        if key:
            parts += ["Models (run folder of each):", ""] + key + [""]
        if any(t.get("combined") for t in table.rows):
            parts += [BEEHIVE_RULE, ""]
        notes = comparability_notes(table)
        if notes and table.leaderboard is not None:
            parts += ["Comparability with the official tasks (clip counts per split, vocabulary, metadata):", ""]
            parts += notes + [""]
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
        if any(t.get("column") for t in table.tasks):
            parts += [
                "## Leaderboard columns",
                "",
                "The HEAR leaderboard's 19 columns, primary score; `(n/c)`: not comparable (see above).",
                "",
                _md_table(*leaderboard_rows(table)),
                "",
            ]
        header, rows = secondary_rows(table)
        if rows:
            parts += ["## Secondary metrics", "", _md_table(header, rows), ""]
        parts += ["## Wall time", "", _md_table(*timing_rows(table)), ""]
    if table.missing:
        parts += ["## Not finished", ""] + [f"- {table.label(m)} / {t}: {s}" for m, t, s in table.missing] + [""]
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
            "model_label",
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
                        table.label(model),
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
                    [task["task"], task["column"], task["metric"], model, model, "published", value, "", "", "", "", ""]
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
    warning = protocol_warning(table)
    if warning:
        parts.append(f"<p style='color:#a00'><b>{html.escape(warning.strip('*').replace('`', ''))}</b></p>")
    if table.tasks:
        parts += ["<h2>Primary metric</h2>", _html_table(*primary_rows(table))]
        key = model_key(table)
        if key:
            items = "".join(f"<li>{html.escape(line[2:].replace('`', ''))}</li>" for line in key)
            parts.append(f"<p>Models (run folder of each):</p><ul>{items}</ul>")
        if any(t.get("combined") for t in table.rows):
            parts.append(f"<p>{html.escape(BEEHIVE_RULE)}</p>")
        notes = comparability_notes(table)
        if notes and table.leaderboard is not None:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n[2:])}</li>" for n in notes) + "</ul>")
        if figure_png:
            data = base64.b64encode(figure_png).decode()
            parts.append(f"<img alt='primary metric per task' src='data:image/png;base64,{data}'>")
        parts += ["<h2>Normalised score</h2>", _html_table(*normalised_rows(table))]
        if any(t.get("column") for t in table.tasks):
            parts += ["<h2>Leaderboard columns</h2>", _html_table(*leaderboard_rows(table))]
        header, rows = secondary_rows(table)
        if rows:
            parts += ["<h2>Secondary metrics</h2>", _html_table(header, rows)]
        parts += ["<h2>Wall time</h2>", _html_table(*timing_rows(table))]
    else:
        parts.append("<p>No finished (model, task) results yet.</p>")
    if table.missing:
        parts += (
            ["<h2>Not finished</h2><ul>"]
            + [f"<li>{html.escape(f'{table.label(m)} / {t}: {s}')}</li>" for m, t, s in table.missing]
            + ["</ul>"]
        )
    if table.leaderboard is not None:
        parts.append(
            f"<p>Published scores: HEAR leaderboard CSV ({html.escape(table.leaderboard.source)}), as published.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
