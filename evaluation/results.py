"""Turn heareval's `test.predicted-scores.json` into the harness's per-(model, task) result record.

heareval writes one entry per test split (`"test"`, or `"fold00"`, `"fold01"`, ... for k-fold tasks)
with `test_<metric>` values, plus `aggregated_scores` holding `test_<metric>_mean` / `_std` (pandas,
ddof=1) across folds. The record keeps, for every metric the task lists, the per-fold values and
heareval's mean and std, so the report only reads and never recomputes.
"""

from .tasks import MINIMISED_SCORES


def summarize_scores(scores, metadata):
    """Summarise heareval's scores for the metrics a task lists.

    Parameters
    ----------
    scores : dict
        Parsed `test.predicted-scores.json` (non-finite values already None).
    metadata : dict
        The task's `task_metadata.json`.

    Returns
    -------
    dict
        `{metric: {"mean", "std", "folds": {split: value}, "higher_is_better"}}`, metrics in the
        task's order (the first is the primary one). `std` is None for a single test split.

    Raises
    ------
    KeyError
        If heareval's file lacks a metric the task lists (names the metric and the keys found).
    """
    splits = [k for k, v in scores.items() if isinstance(v, dict) and k not in ("aggregated_scores", "hparams")]
    aggregated = scores.get("aggregated_scores") or {}
    summary = {}
    for metric in metadata["evaluation"]:
        key = f"test_{metric}"
        folds = {}
        for split in splits:
            if key not in scores[split]:
                raise KeyError(f"heareval's scores have no {key!r} for split {split}; keys: {sorted(scores[split])}")
            folds[split] = scores[split][key]
        if len(folds) > 1:
            mean, std = aggregated.get(f"{key}_mean"), aggregated.get(f"{key}_std")
        else:
            mean, std = next(iter(folds.values()), None), None
        summary[metric] = {
            "mean": mean,
            "std": std,
            "folds": folds,
            "higher_is_better": metric not in MINIMISED_SCORES,
        }
    return summary
