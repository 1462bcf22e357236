"""`make demo`: benchmark the models that have weights here on a small HEAR task suite, then print the table.

Which tasks: `--tasks-dir` (the Makefile passes `../shared/hear-tasks` when it exists), or a suite
built from `--audio DIR` (one sub-folder of audio files per class) with `hear-ssl tasks build`.
Which models: every registry model whose bundled default weights are present in `weights/`, plus the
official BYOL-A d512 checkpoint when `--reference-weights` points at it (users bring that file; its
license forbids redistribution). The demo says which models it found and why others are absent.

    python -m hear_ssl.evaluation.demo --tasks-dir ../shared/hear-tasks \
        --reference-weights AudioNTT2020-BYOLA-64x96d512.pth

By default it runs heareval's `default` grid (the protocol's, whose numbers are representative; the
`faster` grid's 10-epoch MLPs score far lower, e.g. official BYOL-A 0.48 vs 0.97 on fsdd_digits) on
the fast backend (`hear_ssl.evaluation.downstream`: same protocol, all grid points trained at once).
"""

import argparse
import logging
import sys
from pathlib import Path


def bundled_specs():
    """Module specs for every registry model whose default weights are bundled and present in `weights/`.

    Which modules those are follows the registry (a module whose default failed the shipping rule of
    docs/pretraining-defaults.md has none and is listed as not evaluated).

    Returns
    -------
    tuple of (list of ModuleSpec, list of str)
        The specs, and one line per registry model explaining why it is not evaluated.
    """
    from hear_ssl.registry import available_models, get_architecture, get_weights
    from hear_ssl.weights import weights_dir

    from .modules import ModuleSpec

    specs, absent, seen = [], [], set()
    for name in available_models():
        bundled = get_weights(name).filename if get_weights(name).bundled else None
        if bundled in seen:  # one file serving several registry names is evaluated once
            absent.append(f"{name}: same bundled weights ({bundled}) as a model already evaluated")
        elif bundled and (weights_dir() / bundled).is_file():
            seen.add(bundled)
            specs.append(ModuleSpec(module=get_architecture(name).module, options={"model_name": name}))
        else:
            absent.append(
                f"{name}: no bundled weights in {weights_dir()}" + (f" (expected {bundled})" if bundled else "")
            )
    return specs, absent


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hear_ssl.evaluation.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-dir", default=None, help="a folder of HEAR tasks to use")
    parser.add_argument("--audio", default=None, help="class sub-folders of audio to build a demo task from")
    parser.add_argument("--reference-weights", default=None, help="official BYOL-A d512 checkpoint, if you have it")
    parser.add_argument("--run-dir", default="demo/run")
    parser.add_argument("--grid", default="default", choices=("default", "fast", "faster"))
    parser.add_argument("--backend", default="fast", choices=("fast", "heareval"))
    parser.add_argument("--tasks", default=None, help="patterns on task folder names")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from .modules import ModuleSpec
    from .report import write_report
    from .run import TaskProblems, evaluate

    run_dir = Path(args.run_dir)
    if args.audio:
        from .build import build_task, clips_from_folders

        tasks_dir = run_dir.parent / "tasks"
        name = "demo_" + "".join(c if c.isalnum() else "_" for c in Path(args.audio).resolve().name)
        if not (tasks_dir / f"{name}-v1.0.0-full").is_dir():
            build_task(clips_from_folders(args.audio), tasks_dir, name, folds=3)
    elif args.tasks_dir and Path(args.tasks_dir).is_dir():
        tasks_dir = Path(args.tasks_dir)
    else:
        print(
            "error: no tasks to run. Pass DEMO_TASKS=<folder of HEAR tasks> (e.g. from `hear-ssl tasks download`)\n"
            "       or DEMO_AUDIO=<folder with one sub-folder of audio files per class> to build a demo task.",
            file=sys.stderr,
        )
        return 2

    specs, absent = bundled_specs()
    if args.reference_weights:
        if Path(args.reference_weights).is_file():
            specs.append(ModuleSpec(module="hear_ssl.byol_a", weights=str(Path(args.reference_weights).resolve())))
        else:
            print(
                f"note: reference weights {args.reference_weights} not found; skipping official BYOL-A", file=sys.stderr
            )
    from .display import model_display_name

    print("models evaluated:", ", ".join(model_display_name(s.slug, s.to_dict()) for s in specs) or "none")
    for line in absent:
        print(f"  not evaluated: {line}")
    if not specs:
        print(
            "error: no model has weights here yet: the bundled defaults are not in weights/ and no reference "
            "checkpoint was given (DEMO_WEIGHTS=/path/AudioNTT2020-BYOLA-64x96d512.pth).",
            file=sys.stderr,
        )
        return 2

    try:
        outcome = evaluate(
            specs, tasks_dir, run_dir, grid=args.grid, tasks=args.tasks, jobs=args.jobs, backend=args.backend
        )
    except TaskProblems as err:
        print("error: task problems:\n  " + "\n  ".join(err.problems), file=sys.stderr)
        return 2
    paths = write_report(run_dir)
    print(paths["markdown"].read_text())
    print(f"report: {paths['html']}")
    return 1 if outcome["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
