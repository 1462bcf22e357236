"""Downstream evaluation speed and parity: heareval 2021.1.3 vs the fast engine, same embeddings, same run.

For every task, the same heareval-format embeddings are copied fresh for each run; heareval's prediction
runner (through the harness's compatibility layer) and `hear_ssl.evaluation.downstream.run_task` each
train, select and test on their copy, in the same process, seed by seed: with `--seeds N` each backend
runs with seeds 42, 1, ..., N-1 (heareval: 42 is its own published run; other seeds reseed torch and numpy
for the same sampled grid points), the two runs of a seed adjacent in time so that load changes on a
shared machine hit both. Every run is timed (whole predict stage: load, train, select, test, write) and
prints the 1-minute load average. The tables: per task the median wall times, the ratio heareval / fast
(median over seeds of the ratio within a seed), the single-run parity of seed 42 (within max(0.01, fold
std), same or equally-scored grid point) and, with N >= 2, the parity distribution: mean +- std per
backend, Welch's t-test and Mann-Whitney U, passed when Welch's p >= 0.05 and |difference of means| <=
max(0.01, pooled std). Everything goes to `--json`, written after every task; `--merge` rebuilds the
tables from such files (e.g. a long run split into one process per backend or per task).

Embeddings come either from existing folders (`--embeddings-dir`, holding one folder per task) or
are computed first with a HEAR module (`--module`, with the harness's embedding stage; cached in
`--cache-dir`, not timed):

    python benchmarks/eval_speed.py --module hear_ssl.byol_a:../shared/reference/AudioNTT2020-BYOLA-64x96d512.pth
    python benchmarks/eval_speed.py --module hear_ssl.byol_a:../shared/reference/AudioNTT2020-BYOLA-64x96d512.pth \\
        --grid faster --seeds 5 --json parity.json
    python benchmarks/eval_speed.py --embeddings-dir runs/demo/embeddings/<model> --tasks 'drum_strokes*' --seeds 3
    python benchmarks/eval_speed.py --merge heareval.json fast.json
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from hear_ssl.evaluation.downstream import run_task  # noqa: E402
from hear_ssl.evaluation.downstream.arithmetic import heareval_run_flops, run_flops  # noqa: E402
from hear_ssl.evaluation.downstream.reference import (  # noqa: E402
    MIN_P_VALUE,
    MIN_TOLERANCE,
    heareval_grid_summary,
    parity,
    parity_distribution,
    primary_score,
    run_heareval,
)
from hear_ssl.io import atomic_write_text  # noqa: E402

SHARED = Path(os.environ.get("HEAR_SSL_SHARED", REPO.parent / "shared"))
TARGET_RATIO = 3.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--embeddings-dir", type=Path, help="folder of task embedding folders (heareval format)")
    source.add_argument("--module", help="HEAR module spec MODULE[:WEIGHTS][?k=v] to embed the tasks with first")
    source.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="run nothing: combine the runs stored in these --json files (e.g. one backend each) into the tables",
    )
    parser.add_argument("--tasks-dir", type=Path, default=SHARED / "hear-tasks", help="HEAR tasks (with --module)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO / "runs" / "eval_speed_embeddings",
        help="where --module embeddings are cached between runs",
    )
    parser.add_argument("--tasks", nargs="+", default=["*"], metavar="PATTERN", help="task folder name patterns")
    parser.add_argument("--grid", default="default", choices=("default", "fast", "faster"))
    parser.add_argument("--grid-points", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="fast engine device (heareval runs on the CPU here)")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=("fp32", "bf16"),
        help="run the fast engine once per precision (default fp32)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["heareval", "fast"],
        choices=("heareval", "fast"),
        help="which backends to run (default both; one only to split a long parity run, see --merge)",
    )
    parser.add_argument("--skip-heareval", action="store_true", help="same as --backends fast")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="runs per backend and task, seeds 42, 1, ..., N-1 (heareval: 42 is its published seed, others "
        "reseed torch/numpy, same grid points); every run is timed; N >= 2 adds the parity-distribution test",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all measurements here")
    args = parser.parse_args(argv)
    if args.skip_heareval:
        args.backends = ["fast"]
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    return args


def run_seeds(n):
    """The seeds of n runs: 42 first (heareval's own and the fast engine's default), then 1, 2, ..."""
    return [42] + list(range(1, n))


def embedding_folders(args):
    """The task embedding folders to benchmark, computing them with --module when asked."""
    if args.embeddings_dir:
        root = args.embeddings_dir
    else:
        from hear_ssl.evaluation.embeddings import HearModel, compute_task_embeddings, is_done
        from hear_ssl.evaluation.modules import parse_module_spec
        from hear_ssl.evaluation.resample import audio_dir_for
        from hear_ssl.evaluation.tasks import discover_tasks

        spec = parse_module_spec(args.module)
        root = args.cache_dir / spec.slug
        hear_model = None
        for task_dir in discover_tasks(args.tasks_dir):
            if not _selected(task_dir.name, args.tasks) or is_done(root / task_dir.name):
                continue
            if hear_model is None:
                module, model = spec.load()
                hear_model = HearModel(module, model, device=args.device)
            # Tasks without the model's rate (the organisers' archives are 48 kHz only) are resampled as
            # the harness does it, into a cache beside the embeddings.
            audio_dir = audio_dir_for(task_dir, hear_model.sample_rate, args.cache_dir / "resampled")
            compute_task_embeddings(hear_model, task_dir, root / task_dir.name, audio_dir)
    folders = sorted(
        p for p in root.iterdir() if (p / "task_metadata.json").is_file() and _selected(p.name, args.tasks)
    )
    if not folders:
        raise SystemExit(f"no task embedding folders matching {args.tasks} under {root}")
    return folders


def peak_matmul_rate(n_in, repeats=5):
    """Best float32 matrix-product rate (FLOP/s) here now, over the shapes a downstream run multiplies.

    The shapes: a full 1024-row batch against all 8 stacked first layers (n_in x 8192), a hidden layer
    (1024 x 1024) and a large square product; the median of `repeats` timings each, the best shape's
    rate. A floor computed with the best rate is a lower bound for every engine.
    """
    best = 0.0
    for m, k, n in ((1024, n_in, 8192), (1024, 1024, 1024), (2048, 2048, 2048)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        best = max(best, 2 * m * k * n / statistics.median(times))
    return best


def _selected(name, patterns):
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _fresh_copy(src, scratch, tag):
    """The task folder's top-level files (all either backend reads; not the per-clip folders or old outputs)."""
    dst = scratch / tag / src.name
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for path in src.iterdir():
        old_output = path.name.startswith(("prediction", "test.predicted")) or "predictions" in path.name
        if path.is_file() and not old_output:
            shutil.copy2(path, dst / path.name)
    return dst


def benchmark_task(folder, args, scratch):
    """Run the backends on one task, seed by seed (runs of one seed adjacent in time); returns its run records."""
    backends = (["heareval"] if "heareval" in args.backends else []) + (
        [f"fast-{p}" for p in args.precisions] if "fast" in args.backends else []
    )
    runs = []
    for seed in run_seeds(args.seeds):
        for backend in backends:
            dst = _fresh_copy(folder, scratch, f"{backend}-{seed}")
            load_before = os.getloadavg()[0]
            if backend == "heareval":
                # seed None: heareval exactly as published (its seed_everything(42)).
                results, seconds = run_heareval(
                    dst, grid=args.grid, grid_points=args.grid_points, seed=None if seed == 42 else seed
                )
                grid_summary = heareval_grid_summary(dst)
                work = {"flops": heareval_run_flops(dst, grid_summary, results)}
            else:
                start = time.time()
                results = run_task(
                    dst,
                    grid=args.grid,
                    grid_points=args.grid_points,
                    device=args.device,
                    seed=seed,
                    precision=backend.split("-")[1],
                    progress=False,
                )
                seconds, grid_summary = time.time() - start, None
                # The run's products and, for fp32 (the bound is an fp32 one), the best product rate of this
                # machine measured right after it.
                work = {"flops": run_flops(dst)}
                if backend == "fast-fp32":
                    n_in = json.loads((dst / "prediction-done.json").read_text())["embedding_size"]
                    work["matmul_flop_per_s"] = peak_matmul_rate(n_in)
            load = (load_before + os.getloadavg()[0]) / 2
            score, fold_std = primary_score(results)
            runs.append(
                {
                    "task": folder.name,
                    "backend": backend,
                    "seed": seed,
                    "seconds": seconds,
                    "load_average": load,
                    "score": score,
                    "fold_std": fold_std,
                    "results": results,
                    "heareval_grid": grid_summary,
                    **work,
                }
            )
            print(f"   {backend} seed {seed}: {seconds:.1f} s, score {score:.4f}, load average {load:.2f}", flush=True)
    return runs


def summarize(runs):
    """Per task and fast precision: times, the paired speed ratio, single-run parity and the distribution test."""
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        mine = [r for r in runs if r["task"] == task]
        heareval = {r["seed"]: r for r in mine if r["backend"] == "heareval"}
        for backend in dict.fromkeys(r["backend"] for r in mine if r["backend"] != "heareval"):
            fast = {r["seed"]: r for r in mine if r["backend"] == backend}
            row = {
                "task": task,
                "precision": backend.split("-")[1],
                "fast_s": statistics.median(r["seconds"] for r in fast.values()),
                "load_average": statistics.mean(r["load_average"] for r in mine),
            }
            paired = sorted(set(heareval) & set(fast))
            if paired:
                row["heareval_s"] = statistics.median(heareval[s]["seconds"] for s in paired)
                # Runs of one seed are adjacent in time: their ratio is the least disturbed by load changes.
                row["ratio"] = statistics.median(heareval[s]["seconds"] / fast[s]["seconds"] for s in paired)
                row["ratios"] = [heareval[s]["seconds"] / fast[s]["seconds"] for s in paired]
                # The two runs of a seed stop at other epochs (other random draws): compare products per second
                # too, and bound what any fp32 engine could reach: the best product rate / heareval's.
                counted = [s for s in paired if heareval[s].get("flops") and fast[s].get("matmul_flop_per_s")]
                if counted:
                    rates = {s: (_rate(heareval[s]), _rate(fast[s]), fast[s]["matmul_flop_per_s"]) for s in counted}
                    row["equal_work_ratio"] = statistics.median(f / h for h, f, _ in rates.values())
                    row["max_ratio"] = statistics.median(peak / h for h, _, peak in rates.values())
                    row["gflop_per_s"] = {
                        "heareval": statistics.median(h for h, _, _ in rates.values()) / 1e9,
                        "fast": statistics.median(f for _, f, _ in rates.values()) / 1e9,
                        "peak": statistics.median(p for _, _, p in rates.values()) / 1e9,
                    }
            if 42 in heareval and 42 in fast:
                row["parity"] = parity(heareval[42]["results"], fast[42]["results"], heareval[42]["heareval_grid"])
            if len(heareval) >= 2 and len(fast) >= 2:
                row["distribution"] = parity_distribution(
                    [r["score"] for r in heareval.values()], [r["score"] for r in fast.values()]
                )
            row["seeds"] = {"heareval": sorted(heareval), "fast": sorted(fast)}
            rows.append(row)
    return rows


def _rate(run):
    """Matrix-product FLOPs per second of wall time the run achieved."""
    return run["flops"] / run["seconds"]


def print_tables(rows, header):
    print(f"\n{header}")
    print(
        f"{'task':34} {'prec':>4} {'heareval s':>10} {'fast s':>8} {'ratio':>6} {'work':>5} {'max':>5} "
        f"{'load':>5}  {'heareval':>8} {'fast':>8} {'tol':>6}  single-run parity (seed 42)"
    )
    for row in rows:
        line = f"{row['task']:34} {row['precision']:>4} "
        line += f"{row['heareval_s']:10.1f} " if "heareval_s" in row else f"{'-':>10} "
        line += f"{row['fast_s']:8.1f} " + (f"{row['ratio']:6.1f} " if "ratio" in row else f"{'-':>6} ")
        has_work = "equal_work_ratio" in row
        line += f"{row['equal_work_ratio']:5.1f} {row['max_ratio']:5.1f} " if has_work else f"{'-':>5} {'-':>5} "
        line += f"{row['load_average']:5.2f}"
        if "parity" in row:
            p = row["parity"]
            grid_ok = p["same_hparams"] or p.get("equal_validation")
            verdict = ("ok" if p["within"] else "SCORE OFF") + ("" if grid_ok else ", other grid point")
            line += f"  {p['heareval']:8.4f} {p['fast']:8.4f} {p['tolerance']:6.3f}  {verdict}"
        print(line)
    for precision in dict.fromkeys(r["precision"] for r in rows):
        sel = [r for r in rows if r["precision"] == precision and "ratio" in r]
        if sel:
            print(
                f"{precision}: per-task ratio heareval/fast min {min(r['ratio'] for r in sel):.1f}x, median "
                f"{statistics.median(r['ratio'] for r in sel):.1f}x (target >= {TARGET_RATIO:.0f}x on 2 CPU cores)"
            )
    if any("equal_work_ratio" in r for r in rows):
        print(
            "work: the ratio at equal work (matrix-product FLOPs per second, each run's products counted from the "
            "epochs it trained: the seeds' runs stop at other epochs); max: the best product rate measured here / "
            "heareval's rate, the most any fp32 engine could gain over heareval on this machine"
        )
        for row in rows:
            if "gflop_per_s" in row:
                g = row["gflop_per_s"]
                print(
                    f"  {row['task']}: GFLOP/s heareval {g['heareval']:.1f}, fast {g['fast']:.1f}, "
                    f"best product {g['peak']:.1f}"
                )
    dist = [r for r in rows if "distribution" in r]
    if dist:
        print(
            f"\nParity distribution: primary test score over seeds, mean +- sample std (n); pass when Welch's t-test "
            f"p >= {MIN_P_VALUE} and |fast - heareval| <= max({MIN_TOLERANCE}, pooled std)"
        )
        print(
            f"{'task':34} {'prec':>4} {'heareval':>19} {'fast':>19} {'diff':>7} {'tol':>6} {'Welch p':>7} "
            f"{'MWU p':>6}  verdict"
        )
        for row in dist:
            d = row["distribution"]
            cells = [f"{d['mean'][b]:.4f} +- {d['std'][b]:.4f} ({d['n'][b]})" for b in ("heareval", "fast")]
            print(
                f"{row['task']:34} {row['precision']:>4} {cells[0]:>19} {cells[1]:>19} {d['difference']:+7.4f} "
                f"{d['tolerance']:6.4f} {d['welch_p']:7.3f} {d['mannwhitney_p']:6.3f}  "
                + ("pass" if d["passed"] else "FAIL")
            )
        failed = [r["task"] for r in dist if not r["distribution"]["passed"]]
        print("all tasks pass" if not failed else f"failed: {', '.join(failed)}")


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if args.merge:
        runs = []
        for path in args.merge:
            payload = json.loads(path.read_text())
            runs += [r for r in payload["runs"] if _selected(r["task"], args.tasks)]
        header = f"Merged from {', '.join(str(p) for p in args.merge)}"
    else:
        folders = embedding_folders(args)
        runs = []
        with tempfile.TemporaryDirectory(prefix="eval-speed-") as scratch:
            for folder in folders:
                print(f"== {folder.name}", flush=True)
                runs += benchmark_task(folder, args, Path(scratch))
                if args.json:  # after every task, so a long run can be merged or inspected while it goes on
                    _write_json(args, machine, runs)
        header = (
            f"Downstream evaluation (whole predict stage), grid={args.grid}, {args.grid_points} grid points, fast "
            f"engine on {args.device}; {machine}; seeds {run_seeds(args.seeds)}; medians over seeds"
        )
    rows = summarize(runs)
    print_tables(rows, header)
    if args.json and not args.merge:
        _write_json(args, machine, runs, rows)
    return 0


def _write_json(args, machine, runs, rows=None):
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine, "runs": runs}
    if rows is not None:
        payload["rows"] = rows
    atomic_write_text(args.json, json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
