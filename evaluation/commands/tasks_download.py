"""`hear-ssl tasks download`: fetch the official HEAR 2021 tasks (48 kHz) from their Zenodo record.

    hear-ssl tasks download --out tasks/ --tasks 'esc50*,dcase2016*'
    hear-ssl tasks download --out tasks/ --list

Resumable (rerun the same command), md5-verified, extracted to tasks/<task folder>/. The harness
resamples 48 kHz to each model's rate on the fly.
"""

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=False, help="tasks folder to extract into")
    parser.add_argument(
        "--tasks",
        default="all",
        help="comma-separated patterns on task folder names (default: all 20 folders of the 19 tasks)",
    )
    parser.add_argument("--record-url", default=None, help="Zenodo records API URL (default: record 6332517)")
    parser.add_argument("--keep-archives", action="store_true", help="keep the .tar.gz files under OUT/.downloads")
    parser.add_argument("--list", action="store_true", help="list the known task archives and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    from ..download import ARCHIVES, ZENODO_API, DownloadError, download_tasks

    if args.list:
        for archive in ARCHIVES.values():
            print(f"{archive.folder:40s} {archive.filename}" + (f"  md5 {archive.md5}" if archive.md5 else ""))
        return 0
    if not args.out:
        print("error: --out TASKS_DIR is required", file=sys.stderr)
        return 2
    try:
        paths = download_tasks(
            args.out,
            args.tasks,
            api_url=args.record_url or ZENODO_API,
            keep_archives=args.keep_archives,
            progress=not args.quiet,
        )
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0
