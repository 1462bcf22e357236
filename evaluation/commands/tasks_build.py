"""`hear-ssl tasks build`: turn labelled audio into a HEAR task folder.

    hear-ssl tasks build --from-folders sounds/ --name my_sounds --out tasks/ [--folds 5]
    hear-ssl tasks build --from-csv events.csv --name my_events --out tasks/ --sample-rates 16000 48000

See `hear_ssl.evaluation.build` for the accepted inputs.
"""

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-folders", metavar="DIR", help="folder with one sub-folder of audio files per class")
    source.add_argument("--from-csv", metavar="CSV", help="CSV with columns file,label[,start,end][,split|fold]")
    parser.add_argument("--name", required=True, help="task name (letters, digits, underscores)")
    parser.add_argument("--out", required=True, help="tasks folder to create the task in")
    parser.add_argument("--version", default="v1.0.0")
    parser.add_argument("--sample-rates", type=int, nargs="+", default=[16000], help="rates to write (default: 16000)")
    parser.add_argument(
        "--duration", type=float, default=None, help="clip length in s (default: 95th percentile of the inputs)"
    )
    parser.add_argument(
        "--metrics", nargs="+", default=None, help="heareval metrics, primary first (default by task type)"
    )
    parser.add_argument("--folds", type=int, default=None, help="assign K folds instead of train/valid/test")
    parser.add_argument(
        "--audio-root", default=None, help="folder the CSV's file paths are relative to (default: the CSV's folder)"
    )
    parser.add_argument(
        "--time-unit", choices=("s", "ms"), default="s", help="unit of the CSV's start/end (default: s)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--description", default="")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing task of the same name")


def main(args: argparse.Namespace) -> int:
    from ..build import BuildError, build_task, clips_from_csv, clips_from_folders

    try:
        if args.from_folders:
            clips = clips_from_folders(args.from_folders)
        else:
            clips, _ = clips_from_csv(args.from_csv, audio_root=args.audio_root, time_unit=args.time_unit)
        if args.folds is not None and args.folds < 3:
            raise BuildError(
                "--folds must be at least 3 (heareval tests on one fold, validates on the next, trains on the rest)"
            )
        path = build_task(
            clips,
            args.out,
            args.name,
            version=args.version,
            sample_rates=args.sample_rates,
            duration=args.duration,
            metrics=args.metrics,
            folds=args.folds,
            seed=args.seed,
            description=args.description,
            overwrite=args.overwrite,
        )
    except (BuildError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"built {path}")
    return 0
