"""`hear-ssl tasks synth`: official-shaped synthetic stand-ins of the HEAR 2021 tasks, for trying a run.

    hear-ssl tasks synth --like hear2021 --out synth-tasks/ [--scale 0.1] [--tasks 'beehive*,fsd50k*']

Writes all 20 official task folders (19 tasks; Beehive has two) with the official metadata, 48 kHz
audio whose labels are learnable, and far fewer clips (see `hear_ssl.evaluation.synth`).
"""

import sys


def add_arguments(parser):
    parser.add_argument("--like", default="hear2021", choices=("hear2021",), help="benchmark to copy the shapes of")
    parser.add_argument("--out", required=True, help="tasks folder to write into")
    parser.add_argument(
        "--scale",
        type=float,
        default=0.1,
        help="share of each official label vocabulary used, and clips per label (default: %(default)s; 1: all labels)",
    )
    parser.add_argument("--tasks", default=None, help="comma-separated patterns on official folder names")
    parser.add_argument(
        "--max-duration",
        type=float,
        default=None,
        help="cap clip length in seconds (departs from the official durations; quick tests only)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")


def main(args):
    from ..synth import synth_suite

    try:
        paths = synth_suite(
            args.out,
            like=args.like,
            scale=args.scale,
            seed=args.seed,
            tasks=args.tasks,
            max_duration=args.max_duration,
            progress=not args.quiet,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} task folders to {args.out}")
    return 0
