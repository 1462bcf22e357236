"""`python -m hear_ssl.evaluation.downstream TASK_EMBEDDINGS_DIR...`: the fast engine on folders in heareval's format.

The counterpart of `python -m heareval.predictions.runner`: same inputs, same output files, same
`--grid` / `--grid-points` options; tasks that already have `prediction-done.json` are skipped unless
`--force`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hear_ssl.commands.options import forget_repeats, guard_repeats

from .grids import DEFAULT_GRID_POINTS, GRID_NAMES
from .reference import primary_score
from .run import DONE_FILE, run_task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hear_ssl.evaluation.downstream", description=__doc__.splitlines()[0]
    )
    parser.add_argument("task_dirs", nargs="+", type=Path, help="task embedding folders (heareval format)")
    parser.add_argument("--grid", default="default", choices=GRID_NAMES)
    parser.add_argument("--grid-points", type=int, default=DEFAULT_GRID_POINTS)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--seed", type=int, default=42, help="initialisation and dropout seed")
    parser.add_argument("--force", action="store_true", help="redo tasks that have prediction-done.json")
    args = forget_repeats(guard_repeats(parser).parse_args(argv))
    for task_dir in args.task_dirs:
        if (task_dir / DONE_FILE).exists() and not args.force:
            print(f"{task_dir.name}: done already (--force to redo)")
            continue
        results = run_task(
            task_dir,
            grid=args.grid,
            grid_points=args.grid_points,
            device=args.device,
            seed=args.seed,
            precision=args.precision,
        )
        score, std = primary_score(results)
        spread = f" ± {std:.4f}" if std is not None else ""
        print(f"{task_dir.name}: test score {score:.4f}{spread} ({results['score_mode']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
