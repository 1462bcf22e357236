"""`hear-ssl report RUN_DIR`: rebuild a run's tables and figure from its result files.

    hear-ssl report runs/byola --leaderboard hear-leaderboard.csv

Writes RUN_DIR/report/results.{md,csv,html,png} (or --out) and prints the Markdown table.
"""

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `hear-ssl evaluate`")
    parser.add_argument(
        "--leaderboard",
        default=None,
        help="published HEAR leaderboard CSV, path or URL (default: $HEAR_SSL_LEADERBOARD; none: no published columns)",
    )
    parser.add_argument(
        "--compare",
        default=None,
        help="comma-separated published models to show as columns (default: Logitech AI SERAB BYOL-S)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")


def main(args: argparse.Namespace) -> int:
    from ..aggregate import DEFAULT_COMPARE
    from ..report import write_report

    compare = DEFAULT_COMPARE if args.compare is None else [c.strip() for c in args.compare.split(",") if c.strip()]
    try:
        paths = write_report(args.run_dir, leaderboard=args.leaderboard, out_dir=args.out, compare=compare)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values() if p))
    return 0
