"""`hear-ssl evaluate`: benchmark HEAR modules on a folder of HEAR tasks with heareval, resumably.

Rerun the same command to resume after an interruption. `hear-ssl report RUN_DIR` rebuilds the tables.
"""

from __future__ import annotations

import argparse
import logging
import sys

EXAMPLES = """examples:
  hear-ssl evaluate --modules hear_ssl.byol_a:AudioNTT2020-BYOLA-64x96d512.pth hearbaseline.naive \\
      --tasks-dir tasks/ --run-dir runs/byola --grid faster --tasks 'office*,esc50*' --jobs 2
  hear-ssl evaluate --modules hear_ssl.hybrid:runs/hybrid/hybrid.safetensors --tasks-dir tasks/ --run-dir runs/cvt

Rerun the same command to resume after an interruption; `hear-ssl report RUN_DIR` rebuilds the tables.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' line breaks
    parser.epilog = EXAMPLES
    parser.add_argument(
        "--modules",
        nargs="+",
        required=True,
        metavar="MODULE[:WEIGHTS][?k=v,...]",
        help="HEAR modules to evaluate, e.g. hear_ssl.byol_a:/path/AudioNTT2020-BYOLA-64x96d512.pth "
        "or hear_ssl.tempo?model_name=tempo-tcn; any importable HEAR module works",
    )
    parser.add_argument("--tasks-dir", required=True, help="folder of HEAR task folders (or one task folder)")
    parser.add_argument("--run-dir", required=True, help="output folder; rerun with the same one to resume")
    parser.add_argument(
        "--grid", default="default", choices=("default", "fast", "faster"), help="heareval grid (default: %(default)s)"
    )
    parser.add_argument(
        "--grid-points", type=int, default=8, help="grid settings heareval samples (default: %(default)s)"
    )
    parser.add_argument(
        "--tasks", default=None, metavar="PATTERN[,PATTERN]", help="only tasks whose folder name matches a pattern"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="(model, task) units run in parallel (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per worker (default: CPU cores / jobs)"
    )
    parser.add_argument(
        "--backend",
        default="heareval",
        choices=("heareval", "fast"),
        help="downstream training: heareval itself, or `fast`, the batched re-implementation of its protocol "
        "(same grids, splits and output files; scores agree in distribution, not digit for digit; faster in "
        "wall time, by how much and why not more on CPUs: evaluation/downstream/README.md) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="ray[:ADDRESS|://ADDRESS]",
        help="run the units as Ray tasks: 'ray' starts a local Ray instance for the run, 'ray:auto' or "
        "'ray:HEAD:6379' joins a running cluster, 'ray://HEAD:10001' uses Ray Client; RUN_DIR and the tasks must "
        "be on a filesystem every node sees at the same path (pip install 'hear-ssl[cluster]'; docs/scale-out.md)",
    )
    parser.add_argument(
        "--devices", default=None, help="comma-separated GPU indices to spread workers over (default: all visible)"
    )
    parser.add_argument("--cache-dir", default=None, help="resampled-audio cache (default: RUN_DIR/cache)")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep Lightning logs and checkpoints under RUN_DIR/lightning"
    )
    parser.add_argument("--skip-invalid", action="store_true", help="run the valid tasks when some fail validation")
    parser.add_argument(
        "--no-audio-check", action="store_true", help="skip reading every audio header during validation"
    )
    parser.add_argument("--min-free-gb", type=float, default=2.0, help="start no further worker below this free memory")
    parser.add_argument("--leaderboard", default=None, help="published leaderboard CSV (path or URL) for the report")
    parser.add_argument("--no-report", action="store_true", help="do not write RUN_DIR/report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from ..modules import parse_module_spec
    from ..run import TaskProblems, evaluate

    try:
        specs = [parse_module_spec(text) for text in args.modules]
        devices = None if args.devices is None else [int(d) for d in args.devices.split(",") if d != ""]
        outcome = evaluate(
            specs,
            args.tasks_dir,
            args.run_dir,
            grid=args.grid,
            grid_points=args.grid_points,
            tasks=args.tasks,
            jobs=args.jobs,
            backend=args.backend,
            devices=devices,
            cache_dir=args.cache_dir,
            keep_logs=args.keep_logs,
            check_audio=not args.no_audio_check,
            skip_invalid=args.skip_invalid,
            min_free_gb=args.min_free_gb,
            threads=args.threads,
            progress=not args.quiet,
            cluster=args.cluster,
        )
    except TaskProblems as err:
        print("error: the tasks folder has problems; fix them or pass --skip-invalid:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.no_report:
        from ..report import write_report

        paths = write_report(args.run_dir, leaderboard=args.leaderboard)
        print(paths["markdown"].read_text())
        print(f"report written to {paths['markdown'].parent}")
    if outcome["failed"]:
        print(
            f"{len(outcome['failed'])} (model, task) units failed; see their logs under {args.run_dir}/logs "
            "and rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
