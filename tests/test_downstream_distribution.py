"""Parity as a distribution: the two-sample rule of `parity_distribution` and eval_speed.py's seed tables."""

import json

import numpy as np
import pytest

from hear_ssl.evaluation.downstream.reference import parity_distribution

from .benchmark_scripts import load_benchmark


def test_same_distribution_passes_and_a_shift_fails():
    rng = np.random.default_rng(0)
    heareval = list(0.80 + 0.02 * rng.standard_normal(6))
    same = list(0.80 + 0.02 * rng.standard_normal(6))
    shifted = [s - 0.08 for s in same]
    ok = parity_distribution(heareval, same)
    assert ok["passed"] and ok["welch_p"] >= 0.05 and abs(ok["difference"]) <= ok["tolerance"]
    bad = parity_distribution(heareval, shifted)
    assert not bad["passed"] and bad["welch_p"] < 0.05
    assert bad["difference"] == pytest.approx(np.mean(shifted) - np.mean(heareval))
    assert bad["mean"]["fast"] == pytest.approx(np.mean(shifted)) and bad["std"]["heareval"] == pytest.approx(
        np.std(heareval, ddof=1)
    )


def test_identical_constant_scores_pass_and_different_constants_fail():
    assert parity_distribution([0.5, 0.5], [0.5, 0.5])["passed"]
    assert not parity_distribution([0.5, 0.5], [0.6, 0.6])["passed"]


def test_needs_two_scores_per_backend():
    with pytest.raises(ValueError, match="need >= 2 scores"):
        parity_distribution([0.5], [0.5, 0.6])


def _run(task, backend, seed, seconds, score):
    hparams = {"lr": 0.001}
    results = {"test": {"test_score": score}, "hparams": hparams, "score_mode": "max"}
    return {
        "task": task,
        "backend": backend,
        "seed": seed,
        "seconds": seconds,
        "load_average": 1.0,
        "score": score,
        "fold_std": None,
        "results": results,
        "heareval_grid": [[0.9, 3, hparams, []]] if backend == "heareval" else None,
    }


def test_eval_speed_merges_one_backend_per_file_into_ratio_and_distribution(tmp_path, capsys):
    """A long parity run split into a heareval-only and a fast-only run gives the tables of one run."""
    bench = load_benchmark("eval_speed")
    heareval = [_run("t-v1", "heareval", s, 30.0, 0.70 + 0.01 * i) for i, s in enumerate(bench.run_seeds(3))]
    fast = [_run("t-v1", "fast-fp32", s, 10.0, x) for s, x in zip(bench.run_seeds(3), (0.705, 0.715, 0.695))]
    paths = []
    for name, runs in (("h", heareval), ("f", fast)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({"runs": runs}))
    assert bench.main(["--merge", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    rows = bench.summarize(heareval + fast)
    assert len(rows) == 1 and rows[0]["ratio"] == 3.0 and rows[0]["seeds"]["fast"] == [1, 2, 42]
    assert rows[0]["distribution"]["passed"] and rows[0]["parity"]["within"]
    assert "Parity distribution" in out and "all tasks pass" in out and "3.0" in out


def test_eval_speed_compares_equal_work_and_bounds_the_gain_by_the_product_rate(capsys):
    """Runs of a seed stop at other epochs: the products per second compare the engines at equal work."""
    bench = load_benchmark("eval_speed")
    # heareval: 30 s for 60 GFLOP (2 GFLOP/s); fast: 10 s for 40 GFLOP (4 GFLOP/s); best product rate 8.
    heareval = [{**_run("t-v1", "heareval", 42, 30.0, 0.7), "flops": 60e9}]
    fast = [{**_run("t-v1", "fast-fp32", 42, 10.0, 0.7), "flops": 40e9, "matmul_flop_per_s": 8e9}]
    (row,) = bench.summarize(heareval + fast)
    assert row["ratio"] == 3.0 and row["equal_work_ratio"] == 2.0 and row["max_ratio"] == 4.0
    bench.print_tables([row], "t")
    assert "GFLOP/s heareval 2.0, fast 4.0, best product 8.0" in capsys.readouterr().out
