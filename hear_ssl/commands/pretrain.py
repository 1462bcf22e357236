"""`hear-ssl pretrain`: self-supervised pretraining of an encoder on any folder (or list) of audio.

    hear-ssl pretrain --data /work/corpus/corpus.txt --cache-dir /work/corpus/cache \
        --objective byol --arch audiontt2020 --d 2048 --out-dir runs/byol --max-steps 2000

The first run decodes the audio once into a float16 log-mel shard cache (`--prepare-only` stops there);
later runs, and every rank under `torchrun`, read the cache. Rerunning the same command after an
interruption resumes from `<out-dir>/ckpt.pt`; `--max-steps` may be raised to train further. At the end the
encoder is exported to `<out-dir>/<name>.safetensors` with a model card (see `hear-ssl export`).

Settings come from the `PretrainConfig` defaults, then `--config FILE.json` (a saved config), then flags.
The flags are generated from `PretrainConfig`'s fields (help and choices in their metadata) and from each
objective's `Options` dataclass (`--<objective>-<setting>`, e.g. `--dino-student-temp`).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import fields
from pathlib import Path

ENCODER_FLAGS = {
    "arch": (str, "audiontt2020, audiontt2022 or cvt"),
    "d": (int, "embedding size of the AudioNTT encoders"),
    "mlp_hidden_d": (int, "AudioNTT2022 MLP width"),
    "cvt_dims": (str, "CvT stage widths, comma separated"),
    "cvt_depths": (str, "CvT stage depths, comma separated"),
    "cvt_heads": (str, "CvT stage heads, comma separated"),
    "cvt_mlp_mult": (int, "CvT MLP ratio"),
}
FRONTEND_FLAGS = {"win_length": (int, "STFT window length (1024 = BYOL-A, 400 = BYOL-S)"), "n_mels": (int, "mel bands")}


def _flag_type(hint) -> tuple[type, bool]:
    """(element type, takes several values) of a dataclass field's type hint: int, float | None, tuple[int, ...]."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return args[0], True
    if args:  # X | None
        return _flag_type(args[0])
    return hint, False


def config_flags(config_class) -> list[tuple[str, type, bool, dict]]:
    """(field name, element type, several values, metadata) of every command-line field of a dataclass."""
    hints = typing.get_type_hints(config_class)
    out = []
    for f in fields(config_class):
        if not f.metadata.get("cli", True):
            continue
        kind, several = _flag_type(hints[f.name])
        out.append((f.name, kind, several, dict(f.metadata)))
    return out


def _add(parser, flag: str, dest: str, kind: type, several: bool, metadata: dict, default) -> None:
    help_text = metadata.get("help", "")
    if metadata.get("choices"):
        # Listed, not enforced by argparse: PretrainConfig names every bad value at once, with exit status 2.
        help_text += f"; one of {', '.join(metadata['choices'])}"
    if default not in (None, "", ()):
        help_text += f" (default {default if not several else ' '.join(map(str, default))})"
    if kind is bool:
        parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, help=help_text)
        return
    parser.add_argument(flag, dest=dest, type=kind, nargs="+" if several else None, help=help_text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..pretrain.config import PretrainConfig
    from ..pretrain.objectives import OBJECTIVES, objective_class

    parser.add_argument("--config", type=Path, help="JSON file with PretrainConfig fields (flags override it)")
    defaults = PretrainConfig()
    for name, kind, several, metadata in config_flags(PretrainConfig):
        _add(parser, "--" + name.replace("_", "-"), name, kind, several, metadata, getattr(defaults, name))
    group = parser.add_argument_group("encoder and front-end")
    for name, (kind, help_text) in {**ENCODER_FLAGS, **FRONTEND_FLAGS}.items():
        flags = ["--" + name.replace("_", "-")]
        if name == "d":
            # torchrun's own parser mistakes a bare --d for an abbreviation of its options.
            flags.append("--encoder-d")
        group.add_argument(*flags, dest=name, type=kind, help=help_text)
    for objective in OBJECTIVES:
        options = objective_class(objective).Options
        flags = config_flags(options)
        if not flags:
            continue
        group = parser.add_argument_group(f"--objective {objective}")
        option_defaults = options()
        for name, kind, several, metadata in flags:
            flag = f"--{objective}-{name}".replace("_", "-")
            _add(group, flag, f"{objective}.{name}", kind, several, metadata, getattr(option_defaults, name))
            if metadata.get("alias"):  # a short name for a setting used on every run of it (--tokenizer, --teacher)
                _add(group, metadata["alias"], f"{objective}.{name}", kind, several, metadata, None)
    parser.add_argument("--prepare-only", action="store_true", help="build the log-mel cache and stop")
    parser.add_argument("--no-export", action="store_true", help="do not export the encoder at the end")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_config(args: argparse.Namespace):
    from ..config import EncoderConfig, FrontEndConfig
    from ..pretrain.config import PretrainConfig

    values = json.loads(args.config.read_text()) if args.config else {}
    for name, *_ in config_flags(PretrainConfig):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    objective = values.get("objective", PretrainConfig().objective)
    options = dict(values.get("options", {}))
    for dest, value in vars(args).items():
        if "." not in dest or value is None:
            continue
        owner, name = dest.split(".", 1)
        if owner != objective:
            flag = f"--{owner}-{name}".replace("_", "-")
            raise ValueError(f"{flag} is a setting of --objective {owner}, but this run trains {objective}")
        options[name] = value
    values["options"] = options
    encoder = dict(values.get("encoder", {}))
    frontend = dict(values.get("frontend", {}))
    for name in ENCODER_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            encoder[name] = (
                tuple(int(v) for v in value.split(",")) if name.startswith("cvt_") and name != "cvt_mlp_mult" else value
            )
    for name in FRONTEND_FLAGS:
        if getattr(args, name, None) is not None:
            frontend[name] = getattr(args, name)
    if "n_mels" in frontend:
        encoder["n_mels"] = frontend["n_mels"]
    values["encoder"] = EncoderConfig.from_dict(encoder)
    values["frontend"] = FrontEndConfig.from_dict(frontend)
    if args.no_progress:
        values["progress"] = False
    known = {f.name for f in fields(PretrainConfig)}
    return PretrainConfig.from_dict({k: v for k, v in values.items() if k in known})


def main(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        print(f"hear-ssl pretrain: {err}", file=sys.stderr)
        return 2
    try:
        return run(config, args)
    except (ValueError, FileNotFoundError) as err:
        # Bad data paths, a cache or checkpoint from other settings: say what to change, no traceback.
        print(f"hear-ssl pretrain: {err}", file=sys.stderr)
        return 2


def run(config, args: argparse.Namespace) -> int:
    import os

    from ..pretrain.distributed import init_distributed
    from ..pretrain.train import ensure_cache

    if args.prepare_only:
        from ..data.cache import cache_report

        context = init_distributed("cpu")
        out_dir = Path(config.out_dir)
        cache_dir = ensure_cache(config, context, out_dir)
        report = cache_report(cache_dir)
        print(
            f"log-mel cache {cache_dir}: {report.files} files ({report.skipped} skipped), {report.hours:.2f} h, "
            f"mean {report.mean:.6f}, std {report.std:.6f}"
        )
        return 0
    from ..pretrain.train import pretrain

    checkpoint = pretrain(config)
    if not args.no_export and int(os.environ.get("RANK", "0")) == 0:
        from ..pretrain.export import export_checkpoint

        result = export_checkpoint(checkpoint)
        print(f"exported {result.weights} ({result.num_bytes:,} bytes, sha256 {result.sha256}) and {result.card}")
    return 0
