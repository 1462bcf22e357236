"""The report's figure: primary score per task, models side by side, published scores as markers."""

import io

_COMPARE_MARKERS = ("o", "^", "s", "v", "P", "X")


def primary_figure(table):
    """Render the primary-metric bar chart of a `RunTable` to PNG bytes.

    One group of bars per task row (a multi-fold column such as Beehive appears once, as the mean of
    its folds), one bar per model with its std over folds as an error bar. On rows that pass the
    comparability check, a black diamond marks the best published score and one marker per `compare`
    model its published score. Models are labelled by display name, tasks without version suffix;
    the legend sits outside the axes so it never covers a bar or a label. Uses matplotlib's Agg
    backend, so it works without a display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in (table.rows or table.tasks) if not r.get("part_of")]
    models = table.models
    n_tasks, n_models = len(rows), max(1, len(models))
    width = 0.8 / n_models
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * n_tasks * max(1.0, n_models / 1.5) + 3), 5.0), dpi=150)
    colors = plt.get_cmap("tab10").colors
    x = np.arange(n_tasks)
    for i, model in enumerate(models):
        means, stds = [], []
        for task in rows:
            cell = table.cell(model, task)
            means.append(np.nan if not cell or cell["mean"] is None else cell["mean"])
            stds.append(0.0 if not cell or cell["std"] is None else cell["std"])
        offsets = x - 0.4 + width * (i + 0.5)
        ax.bar(
            offsets,
            means,
            width,
            yerr=stds,
            capsize=2,
            label=table.label(model),
            color=colors[i % len(colors)],
            error_kw={"elinewidth": 0.8},
        )
        for xo, m, s in zip(offsets, means, stds):
            text, y = (f"{m:.2f}", min(m + s, 1.0) + 0.01) if np.isfinite(m) else ("no score", 0.01)
            ax.text(xo, y, text, ha="center", va="bottom", fontsize=6, rotation=90)
    published = [table.published_best(task) for task in rows]
    if any(published):
        px = [xi for xi, p in zip(x, published) if p]
        py = [p[1] for p in published if p]
        ax.scatter(px, py, marker="D", color="black", zorder=5, s=26, label="best published (HEAR leaderboard)")
    for j, name in enumerate(table.compare):
        points = [(xi, v) for xi, task in zip(x, rows) if (v := table.published(name, task)) is not None]
        if points:
            ax.scatter(
                [p[0] for p in points],
                [p[1] for p in points],
                marker=_COMPARE_MARKERS[j % len(_COMPARE_MARKERS)],
                facecolors="none",
                edgecolors="dimgray",
                zorder=5,
                s=30,
                label=f"{name} (published)",
            )
    labels = [table.task_label(t) + ("" if t["higher_is_better"] else "\n(lower is better)") for t in rows]
    ax.set_xticks(x)
    rotate = n_tasks > 4
    ax.set_xticklabels(labels, rotation=35 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_xlim(-0.6, n_tasks - 0.4)
    ax.set_ylabel("primary metric (mean ± std over folds)")
    ax.set_title(f"HEAR evaluation: {table.run_dir.name} (grid {table.config.get('grid')})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
