"""`hear-ssl export CHECKPOINT`: HEAR-ready encoder weights (safetensors) plus a model card.

    hear-ssl export runs/byol/ckpt.pt --out weights/hear-ssl-byol-audiontt2020-d2048.safetensors
    hear-ssl export runs/byol/ckpt.pt --push-to-hub me/my-encoder

The file loads with the HEAR module of its architecture, e.g. `hear_ssl.byol_a.load_model(PATH)`. After an
upload the command prints the registry entry (repo, pinned commit, sha256) to add to `hear_ssl/registry.py`.
BEATs runs export the official `{'cfg', 'model'}` .pt instead (`hear_ssl.beats.load_model(PATH)`; a tokenizer
run's file is the next iteration's `--tokenizer`); tempo runs export the TCN in float32 with the keys of the
bundled published weights (`hear_ssl.tempo.load_model(PATH)`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="ckpt.pt written by `hear-ssl pretrain`")
    parser.add_argument(
        "--out", type=Path, help="output .safetensors path (.pt for BEATs; default beside the checkpoint)"
    )
    parser.add_argument("--name", help="model name stored in the file and card")
    parser.add_argument("--network", choices=("online", "target"), default="online", help="which encoder to export")
    parser.add_argument(
        "--dtype",
        choices=("float16", "bfloat16", "float32"),
        help="stored precision (default float16; float32 for the tempo TCN, as its published weights)",
    )
    parser.add_argument("--push-to-hub", metavar="REPO", help="also upload weights and card to this Hub model repo")
    parser.add_argument("--revision", help="Hub branch to upload to")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def main(args: argparse.Namespace) -> int:
    from ..pretrain.export import export_checkpoint, push_to_hub, registry_entry

    try:
        result = export_checkpoint(args.checkpoint, args.out, name=args.name, which=args.network, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as err:
        print(f"hear-ssl export: {err}", file=sys.stderr)
        return 2
    print(f"{result.weights}\t{result.num_bytes} bytes\tsha256 {result.sha256}")
    print(f"{result.card}")
    if args.push_to_hub:
        commit = push_to_hub(
            args.push_to_hub, [result.weights, result.card], revision=args.revision, private=args.private
        )
        print(f"uploaded to {args.push_to_hub} at commit {commit}")
        print(registry_entry(result, args.push_to_hub, commit))
    return 0
