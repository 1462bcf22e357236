"""Turn heareval's `test.predicted-scores.json` into the harness's per-(model, task) result record.

heareval writes one entry per test split (`"test"`, or `"fold00"`, `"fold01"`, ... for k-fold tasks)
with `test_<metric>` values, plus `aggregated_scores` holding `test_<metric>_mean` / `_std` (pandas,
ddof=1) across folds. The record keeps, for every metric the task lists, the per-fold values and
heareval's mean and std, so the report only reads and never recomputes.
"""

import json
import math
import numbers
from pathlib import Path

from .tasks import MINIMISED_SCORES

_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def read_scores(path):
    """heareval's score file with its `NaN`/`Infinity` tokens kept as floats (`summarize_scores` labels them)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(), parse_constant=_CONSTANTS.__getitem__)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def nonfinite_label(value):
    """`"+inf"`, `"-inf"` or `"nan"` for a non-finite float, else None."""
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
    return None


def summarize_scores(scores, metadata):
    """Summarise heareval's scores for the metrics a task lists.

    Parameters
    ----------
    scores : dict
        Parsed `test.predicted-scores.json` (`read_scores`; non-finite values as floats or None).
    metadata : dict
        The task's `task_metadata.json`.

    Returns
    -------
    dict
        `{metric: {"mean", "std", "folds": {split: value}, "higher_is_better"}}`, metrics in the
        task's order (the first is the primary one). `std` is None for a single test split. Strict
        JSON has no infinities: a non-finite mean, std or fold value is stored as None and named in
        `"nonfinite": {"mean": "+inf", "folds": {"test": "+inf"}, ...}` (e.g. `d_prime` when a class
        has AUC 1), so the report can tell +inf from a failed metric.

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
        nonfinite = {k: label for k, v in (("mean", mean), ("std", std)) if (label := nonfinite_label(v))}
        fold_labels = {split: label for split, v in folds.items() if (label := nonfinite_label(v))}
        if fold_labels:
            nonfinite["folds"] = fold_labels
        summary[metric] = {
            "mean": None if nonfinite_label(mean) else mean,
            "std": None if nonfinite_label(std) else std,
            "folds": {split: None if nonfinite_label(v) else v for split, v in folds.items()},
            "higher_is_better": metric not in MINIMISED_SCORES,
        }
        if nonfinite:
            summary[metric]["nonfinite"] = nonfinite
    return summary
