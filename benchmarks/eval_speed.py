"""Downstream evaluation speed and parity: heareval 2021.1.3 vs the fast engine, same embeddings, same run.

For every task, the same heareval-format embeddings are copied twice; heareval's prediction runner
(through the harness's compatibility layer) and `hear_ssl.evaluation.downstream.run_task` each train, select
and test on their copy, in the same process, alternating when `--repeats` > 1 so that load changes on a
shared machine hit both. Prints per task the wall times (medians), the ratio heareval / fast (median
over repeats of the ratio within a repeat), both
primary test scores, the parity verdict (within max(0.01, fold std), same or equally-scored grid point)
and writes everything to `--json`.

Embeddings come either from existing folders (`--embeddings-dir`, holding one folder per task) or
are computed first with a HEAR module (`--module`, with the harness's embedding stage; cached in
`--cache-dir`, not timed):

    python benchmarks/eval_speed.py --module hear_ssl.byol_a:../shared/reference/AudioNTT2020-BYOLA-64x96d512.pth
    python benchmarks/eval_speed.py --embeddings-dir runs/demo/embeddings/<model> --tasks drum_strokes* --repeats 3
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
from hear_ssl.evaluation.downstream.reference import (  # noqa: E402
    heareval_grid_summary,
    parity,
    primary_score,
    run_heareval,
)
from hear_ssl.io import atomic_write_text  # noqa: E402

SHARED = Path(os.environ.get("HEAR_SSL_SHARED", REPO.parent / "shared"))
TARGET_RATIO = 10.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--embeddings-dir", type=Path, help="folder of task embedding folders (heareval format)")
    source.add_argument("--module", help="HEAR module spec MODULE[:WEIGHTS][?k=v] to embed the tasks with first")
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
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each backend per task (median kept)")
    parser.add_argument("--device", default="cpu", help="fast engine device (heareval runs on the CPU here)")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=("fp32", "bf16"),
        help="run the fast engine once per precision (default fp32)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument("--skip-heareval", action="store_true", help="time only the fast engine")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="also run the fast engine (fp32, untimed) with this many seeds in all, to measure its spread",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all measurements here")
    return parser.parse_args(argv)


def embedding_folders(args):
    """The task embedding folders to benchmark, computing them with --module when asked."""
    if args.embeddings_dir:
        root = args.embeddings_dir
    else:
        from hear_ssl.evaluation.embeddings import HearModel, compute_task_embeddings, is_done
        from hear_ssl.evaluation.modules import parse_module_spec
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
            compute_task_embeddings(hear_model, task_dir, root / task_dir.name)
    folders = sorted(
        p for p in root.iterdir() if (p / "task_metadata.json").is_file() and _selected(p.name, args.tasks)
    )
    if not folders:
        raise SystemExit(f"no task embedding folders matching {args.tasks} under {root}")
    return folders


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
    """Time both backends on one task; returns one table row per fast-engine precision."""
    backends = ([] if args.skip_heareval else ["heareval"]) + [f"fast-{p}" for p in args.precisions]
    times = {b: [] for b in backends}
    runs = {}
    for repeat in range(args.repeats):
        for backend in backends:
            dst = _fresh_copy(folder, scratch, f"{backend}{repeat}")
            if backend == "heareval":
                results, seconds = run_heareval(dst, grid=args.grid, grid_points=args.grid_points)
                runs[backend] = (results, heareval_grid_summary(dst))
            else:
                start = time.time()
                results = run_task(
                    dst,
                    grid=args.grid,
                    grid_points=args.grid_points,
                    device=args.device,
                    precision=backend.split("-")[1],
                    progress=False,
                )
                seconds = time.time() - start
                runs[backend] = (results, None)
            times[backend].append(seconds)
            print(f"   {backend}: {seconds:.1f} s", flush=True)
    seed_scores = None
    if args.seeds > 1:
        seed_scores = [primary_score(runs[f"fast-{args.precisions[0]}"][0])[0]]
        for seed in range(1, args.seeds):
            dst = _fresh_copy(folder, scratch, f"seed{seed}")
            results = run_task(
                dst, grid=args.grid, grid_points=args.grid_points, device=args.device, seed=seed, progress=False
            )
            seed_scores.append(primary_score(results)[0])
            print(f"   fast seed {seed}: {seed_scores[-1]:.4f}", flush=True)
    rows = []
    for precision in args.precisions:
        fast = f"fast-{precision}"
        row = {"task": folder.name, "precision": precision, "times_s": times, "fast_s": statistics.median(times[fast])}
        if not args.skip_heareval:
            row["heareval_s"] = statistics.median(times["heareval"])
            # Runs of one repeat are adjacent in time: their ratio is the least disturbed by load changes.
            row["ratio"] = statistics.median(h / f for h, f in zip(times["heareval"], times[fast]))
            row["parity"] = parity(
                runs["heareval"][0],
                runs[fast][0],
                runs["heareval"][1],
                seed_scores if precision == args.precisions[0] else None,
            )
            row["heareval_results"] = runs["heareval"][0]
        row["fast_results"] = runs[fast][0]
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folders = embedding_folders(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as scratch:
        for folder in folders:
            print(f"== {folder.name}", flush=True)
            rows += benchmark_task(folder, args, Path(scratch))
    machine = f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(
        f"\nDownstream evaluation, grid={args.grid}, {args.grid_points} grid points, fast engine on "
        f"{args.device}; {machine}; medians of {args.repeats} run(s)"
    )
    header = (
        f"{'task':34} {'prec':>4} {'heareval s':>10} {'fast s':>8} {'ratio':>6}  {'heareval':>8} {'fast':>8} "
        f"{'tol':>6}  parity"
    )
    print(header)
    for row in rows:
        if "parity" in row:
            p = row["parity"]
            grid_ok = p["same_hparams"] or p.get("equal_validation")
            verdict = ("ok" if p["within"] else "SCORE OFF") + ("" if grid_ok else ", other grid point")
            if "seed_std" in p:
                spread_ok = "within" if p["within_seed_spread"] else "outside"
                verdict += f"; fast over seeds {p['seed_mean']:.4f} +- {p['seed_std']:.4f}: heareval {spread_ok}"
            print(
                f"{row['task']:34} {row['precision']:>4} {row['heareval_s']:10.1f} {row['fast_s']:8.1f} "
                f"{row['ratio']:6.1f}  {p['heareval']:8.4f} {p['fast']:8.4f} {p['tolerance']:6.3f}  {verdict}"
            )
        else:
            print(f"{row['task']:34} {row['precision']:>4} {'-':>10} {row['fast_s']:8.1f}")
    for precision in args.precisions:
        sel = [r for r in rows if r["precision"] == precision and "ratio" in r]
        if sel:
            total_ratio = sum(r["heareval_s"] for r in sel) / sum(r["fast_s"] for r in sel)
            median_ratio = statistics.median(r["ratio"] for r in sel)
            print(
                f"{precision}: total time ratio {total_ratio:.1f}x, median per-task ratio {median_ratio:.1f}x "
                f"(target >= {TARGET_RATIO:.0f}x)"
            )
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine, "rows": rows}
        atomic_write_text(args.json, json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
