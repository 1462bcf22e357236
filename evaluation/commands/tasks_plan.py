"""`hear-ssl tasks plan`: expected disk, memory and embedding time of a run, before starting it.

    hear-ssl tasks plan TASKS_DIR --modules hear_ssl.byol_a:AudioNTT2020-BYOLA-64x96d512.pth
    hear-ssl tasks plan --official --modules hear_ssl.tempo?model_name=tempo-tcn

Each module is loaded once and timed on this machine (see `hear_ssl.evaluation.plan`).
"""

import sys


def add_arguments(parser):
    parser.add_argument("tasks_dir", nargs="?", default=None, help="folder of HEAR tasks")
    parser.add_argument("--official", action="store_true", help="plan the official 20 folders from their facts")
    parser.add_argument("--modules", nargs="+", required=True, metavar="MODULE[:WEIGHTS][?k=v,...]")
    parser.add_argument("--tasks", default=None, help="patterns on task folder names")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this file")


def main(args):
    from hear_ssl.io import atomic_write_json

    from ..modules import parse_module_spec
    from ..plan import plan, to_markdown

    if (args.tasks_dir is None) == (not args.official):
        print("error: pass TASKS_DIR or --official (one of them)", file=sys.stderr)
        return 2
    try:
        specs = [parse_module_spec(text) for text in args.modules]
        costs, rows = plan(None if args.official else args.tasks_dir, specs, tasks=args.tasks)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_markdown(costs, rows))
    if args.json:
        atomic_write_json(args.json, {"modules": [vars(c) for c in costs], "rows": rows})
    return 0
