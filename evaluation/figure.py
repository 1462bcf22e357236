"""The report's figure: primary score per task, models side by side, best published score as a marker."""

import io


def primary_figure(table):
    """Render the primary-metric bar chart of a `RunTable` to PNG bytes.

    One group of bars per task (the task's primary metric, 0-1 scale), one bar per model with its
    std over folds as an error bar, and for official HEAR tasks a black diamond at the best published
    score. Uses matplotlib's non-interactive Agg backend, so it works without a display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks, models = table.tasks, table.models
    n_tasks, n_models = len(tasks), max(1, len(models))
    width = 0.8 / n_models
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * n_tasks * max(1, n_models / 2) + 2), 4.8), dpi=150)
    colors = plt.get_cmap("tab10").colors
    x = np.arange(n_tasks)
    for i, model in enumerate(models):
        means, stds = [], []
        for task in tasks:
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
            label=model,
            color=colors[i % len(colors)],
            error_kw={"elinewidth": 0.8},
        )
        for xo, m, s in zip(offsets, means, stds):
            if np.isfinite(m):
                ax.text(
                    xo,
                    min(m + s, 1.0) + 0.01,
                    f"{m:.2f}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90 if n_models > 2 else 0,
                )
    published = [table.published_best(task) for task in tasks]
    if any(published):
        px = [xi for xi, p in zip(x, published) if p]
        py = [p[1] for p in published if p]
        ax.scatter(px, py, marker="D", color="black", zorder=5, s=28, label="best published (HEAR leaderboard)")
    labels = [f"{t['task']}\n{t['metric']}" + ("" if t["higher_is_better"] else " (lower is better)") for t in tasks]
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=20 if n_tasks > 4 else 0, ha="right" if n_tasks > 4 else "center", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("primary metric (mean ± std over folds)")
    ax.set_title(f"HEAR evaluation: {table.run_dir.name} (grid {table.config.get('grid')})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22 if n_tasks > 4 else -0.15),
        ncol=min(3, n_models + 1),
        frameon=False,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
