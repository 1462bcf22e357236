"""heareval itself on the same embeddings, and the parity rule between it and the fast engine.

Parity (issue 5): the fast engine's primary test score is within `max(0.01, fold std)` of heareval's
(for k-fold tasks the mean over folds and heareval's sample std across folds; single-split tasks have
no fold std, so the tolerance is 0.01), and both pick the same grid point or ones of equal validation
score. Both backends are one draw of a random process (initialisation, dropout); when the fast
engine's scores over several seeds are given, their spread (sample std) also counts as a tolerance:
heareval with other seeds moves as much (measured in tests/test_downstream_parity.py).
"""

import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from .run import SCORES_FILE

MIN_TOLERANCE = 0.01
_RESULT_LINE = re.compile(r" result: (\[.*\])\s*$")


def run_heareval(embeddings_dir, grid="default", grid_points=8, seed=None):
    """Run heareval 2021.1.3's prediction runner on a task folder (in place), via the harness.

    Uses `hear_ssl.evaluation.predictions.run_predictions`, which applies the compatibility fixes heareval needs
    on current torch / Lightning and keeps Lightning's checkpoints in a temporary folder. `seed` (None:
    heareval's own 42) seeds torch and numpy for another draw of initialisations and dropout masks; the
    grid points stay the ones heareval samples (see `hear_ssl.evaluation.compat`).

    Returns
    -------
    (dict, float)
        heareval's `test.predicted-scores.json` and the wall time in seconds.
    """
    from ..predictions import run_predictions

    lightning_dir = Path(tempfile.mkdtemp(prefix="heareval-lightning-"))
    try:
        start = time.time()
        run_predictions(embeddings_dir, lightning_dir, grid=grid, grid_points=grid_points, seed=seed)
        seconds = time.time() - start
    finally:
        shutil.rmtree(lightning_dir, ignore_errors=True)
    raw = json.loads((Path(embeddings_dir) / SCORES_FILE).read_text())  # keeps NaN as float nan
    return raw, seconds


def heareval_grid_summary(embeddings_dir):
    """heareval's grid points as its `prediction.log` records them: `[val score, epoch, hparams, pp]`."""
    log = Path(embeddings_dir) / "prediction.log"
    rows = []
    for line in log.read_text().splitlines() if log.exists() else []:
        match = _RESULT_LINE.search(line)
        if match:
            rows.append(json.loads(match.group(1)))
    return rows


def primary_score(results):
    """The primary test score of a score file: (mean over folds, fold std or None)."""
    if "aggregated_scores" in results:
        agg = results["aggregated_scores"]
        return agg["test_score_mean"], agg["test_score_std"]
    folds = [v for v in results.values() if isinstance(v, dict) and "test_score" in v]
    if len(folds) != 1:
        raise ValueError("a single-split score file should hold exactly one split's test scores")
    return folds[0]["test_score"], None


def comparable_hparams(hparams):
    """hparams without values that differ between runs for no reason (function addresses)."""
    return {k: re.sub(r" at 0x[0-9a-f]+", "", str(v)) for k, v in hparams.items()}


def parity(heareval_results, fast_results, heareval_grid=None, fast_seed_scores=None):
    """Compare two score files under the issue's parity rule.

    Parameters
    ----------
    heareval_results, fast_results : dict
        The two `test.predicted-scores.json` contents.
    heareval_grid : list, optional
        heareval's grid summary (`heareval_grid_summary`), to judge the grid point the fast engine chose.
    fast_seed_scores : list of float, optional
        The fast engine's primary score over several seeds (including `fast_results`'s).

    Returns
    -------
    dict
        `heareval`, `fast` (primary scores), `fold_std`, `tolerance`, `difference`, `within`
        (the issue's rule), `same_hparams`; with grids `equal_validation` (heareval's own validation
        score for the configuration the fast engine chose equals its best one); with seed scores
        `seed_std`, `seed_mean` and `within_seed_spread` (heareval's score within
        max(tolerance, seed std) of the fast engine's mean over seeds).
    """
    ref, ref_std = primary_score(heareval_results)
    new, _ = primary_score(fast_results)
    tolerance = max(MIN_TOLERANCE, ref_std or 0.0)
    out = {
        "heareval": ref,
        "fast": new,
        "fold_std": ref_std,
        "tolerance": tolerance,
        "difference": new - ref,
        "within": abs(new - ref) <= tolerance,
        "same_hparams": comparable_hparams(heareval_results["hparams"]) == comparable_hparams(fast_results["hparams"]),
        "heareval_hparams": comparable_hparams(heareval_results["hparams"]),
        "fast_hparams": comparable_hparams(fast_results["hparams"]),
    }
    if fast_seed_scores and len(fast_seed_scores) > 1:
        out["seed_scores"] = list(fast_seed_scores)
        out["seed_mean"] = statistics.mean(fast_seed_scores)
        out["seed_std"] = statistics.stdev(fast_seed_scores)
        out["within_seed_spread"] = abs(out["seed_mean"] - ref) <= max(tolerance, out["seed_std"])
    if heareval_grid:
        chosen = comparable_hparams(fast_results["hparams"])
        scores = [row[0] for row in heareval_grid if comparable_hparams(row[2]) == chosen]
        best = max(row[0] for row in heareval_grid) if heareval_results["score_mode"] == "max" else None
        if best is None:
            best = min(row[0] for row in heareval_grid)
        out["heareval_validation_of_fast_choice"] = scores[0] if scores else None
        out["heareval_best_validation"] = best
        out["equal_validation"] = bool(scores) and scores[0] == best
    return out


# Parity as a distribution (issue 13): both backends are random processes; over N seeds each, their
# primary scores must not be told apart by a two-sample test and their means must be close.
MIN_P_VALUE = 0.05


def parity_distribution(heareval_scores, fast_scores):
    """Compare the two backends' primary scores over seeds.

    Rule: Welch's t-test p >= 0.05 (no detectable difference of means at the 5% level) and
    `|mean(fast) - mean(heareval)| <= max(0.01, pooled std)`; the Mann-Whitney U p-value is reported
    beside it (rank-based, for scores that are not normal, e.g. a few distinct accuracies).

    Parameters
    ----------
    heareval_scores, fast_scores : sequence of float
        Primary test scores (k-fold tasks: the mean over folds), one per seed, at least 2 each.

    Returns
    -------
    dict
        `n`, `mean`, `std` (sample std) per backend, `difference` (fast - heareval), `pooled_std`,
        `tolerance`, `welch_p`, `mannwhitney_p`, `passed`.
    """
    from scipy import stats

    a, b = [float(x) for x in heareval_scores], [float(x) for x in fast_scores]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need >= 2 scores per backend, got {len(a)} (heareval) and {len(b)} (fast)")
    mean_a, mean_b = statistics.mean(a), statistics.mean(b)
    std_a, std_b = statistics.stdev(a), statistics.stdev(b)
    pooled = (((len(a) - 1) * std_a**2 + (len(b) - 1) * std_b**2) / (len(a) + len(b) - 2)) ** 0.5
    difference = mean_b - mean_a
    tolerance = max(MIN_TOLERANCE, pooled)
    if std_a == 0 and std_b == 0:  # t undefined: identical draws within each backend
        welch_p = 1.0 if difference == 0 else 0.0
    else:
        welch_p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    mannwhitney_p = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    return {
        "n": {"heareval": len(a), "fast": len(b)},
        "mean": {"heareval": mean_a, "fast": mean_b},
        "std": {"heareval": std_a, "fast": std_b},
        "difference": difference,
        "pooled_std": pooled,
        "tolerance": tolerance,
        "welch_p": welch_p,
        "mannwhitney_p": mannwhitney_p,
        "passed": welch_p >= MIN_P_VALUE and abs(difference) <= tolerance,
    }
