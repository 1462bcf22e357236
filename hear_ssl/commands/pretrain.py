"""`hear-ssl pretrain`: self-supervised pretraining of an encoder on any folder (or list) of audio.

    hear-ssl pretrain --data /work/corpus/corpus.txt --cache-dir /work/corpus/cache \
        --objective byol --arch audiontt2020 --d 2048 --out-dir runs/byol --max-steps 2000

The first run decodes the audio once into a float16 log-mel shard cache (`--prepare-only` stops there);
later runs, and every rank under `torchrun`, read the cache. Rerunning the same command after an
interruption resumes from `<out-dir>/ckpt.pt`; `--max-steps` may be raised to train further. At the end the
encoder is exported to `<out-dir>/<name>.safetensors` with a model card (see `hear-ssl export`).

Settings come from the `PretrainConfig` defaults, then `--config FILE.json` (a saved config), then flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

# Flags mapped straight onto PretrainConfig fields: name -> (type, help).
SCALAR_FLAGS = {
    "objective": (str, "byol, barlow_twins, vicreg or hybrid"),
    "data": (str, "audio folder (recursive) or a text file listing audio paths"),
    "cache_dir": (str, "log-mel shard cache folder (default <out-dir>/logmel-cache)"),
    "out_dir": (str, "run folder: checkpoint, log.csv, exported weights"),
    "crop_frames": (int, "frames per training crop (96 = 0.95 s)"),
    "max_segments_per_file": (int, "cap on segments per file so long tracks cannot dominate"),
    "batch_size": (int, "crops per process and micro-step"),
    "grad_accum": (int, "micro-steps per optimiser step"),
    "max_steps": (int, "optimiser steps in total (raise it to continue a finished run)"),
    "lr": (float, "peak learning rate (AdamW)"),
    "weight_decay": (float, "AdamW weight decay"),
    "warmup_steps": (int, "linear learning-rate warm-up steps"),
    "min_lr_ratio": (float, "final lr / peak lr of a cosine decay (1 = constant)"),
    "grad_clip": (float, "clip the gradient norm to this (0 = off)"),
    "proj_hidden": (int, "BYOL projector / predictor hidden width"),
    "proj_dim": (int, "BYOL projection size"),
    "ema_decay": (float, "BYOL target EMA decay (base value for the cosine schedule)"),
    "ema_schedule": (str, "constant or cosine"),
    "bt_lambda": (float, "Barlow Twins off-diagonal weight"),
    "hybrid_base": (str, "SSL objective inside the hybrid objective"),
    "features": (str, "hybrid regression targets: torch, compare_2016 or egemaps_v02 (openSMILE)"),
    "feature_weight": (float, "weight of the feature regression loss"),
    "feature_hidden": (int, "hidden width of the feature regression head"),
    "feature_max_segments": (int, "openSMILE features are computed for at most this many segments"),
    "mixup_ratio": (float, "mixup weight upper bound (0 = no mixup)"),
    "mixup_memory": (int, "past samples kept for mixup"),
    "fader_gain": (float, "random linear fader range (0 = off)"),
    "seed": (int, "random seed"),
    "dtype": (str, "auto (bf16 autocast on CUDA, fp32 on CPU), float32, bfloat16 or float16"),
    "device": (str, "auto, cpu, cuda or cuda:N"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "log_every": (int, "steps between log.csv rows"),
}
TUPLE_FLAGS = {"expander_dims": int, "vicreg_weights": float, "crop_freq_scale": float, "crop_time_scale": float}
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON file with PretrainConfig fields (flags override it)")
    for name, (kind, help_text) in SCALAR_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=help_text)
    for name, kind in TUPLE_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, nargs="+")
    group = parser.add_argument_group("encoder and front-end")
    for name, (kind, help_text) in {**ENCODER_FLAGS, **FRONTEND_FLAGS}.items():
        flags = ["--" + name.replace("_", "-")]
        if name == "d":
            # torchrun's own parser mistakes a bare --d for an abbreviation of its options.
            flags.append("--encoder-d")
        group.add_argument(*flags, dest=name, type=kind, help=help_text)
    parser.add_argument("--prepare-only", action="store_true", help="build the log-mel cache and stop")
    parser.add_argument("--no-export", action="store_true", help="do not export the encoder at the end")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_config(args: argparse.Namespace):
    from ..config import EncoderConfig, FrontEndConfig
    from ..pretrain.config import PretrainConfig

    values = json.loads(args.config.read_text()) if args.config else {}
    for name in list(SCALAR_FLAGS) + list(TUPLE_FLAGS):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
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
