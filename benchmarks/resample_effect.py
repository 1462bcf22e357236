"""The effect of the resampling path on a HEAR score: the harness's soxr vs SoX, same module, seeds and grid.

The harness converts a task's 48 kHz audio to a module's rate with `hear_ssl.audio.resample` (python-soxr,
VHQ, float32 output; `hear_ssl.evaluation.resample.audio_dir_for`). The HEAR organisers made each rate from
the source audio with hear-preprocess (ffmpeg's `aresample` filter with `resampler=soxr`, 16-bit PCM
output). This script resamples one 48 kHz task three ways into three task folders:

- `soxr-vhq-f32`: the harness's own path (`audio_dir_for`, exactly what `hear-ssl evaluate` runs);
- `sox-v-f32`: SoX's `rate -v` (its own resampler, not libsoxr), float32 output: an independent
  high-quality reference;
- `sox-h-s16`: SoX's `rate -h`, 16-bit PCM output without dither: the organisers' kind of output (high,
  not very high, quality and 16-bit samples), not their exact pipeline.

It compares the signals (SNR of each path against `sox-v-f32`, max abs difference), then embeds each
folder with the same HEAR module (harness embedding stage) and runs the fast downstream engine
(`hear_ssl.evaluation.downstream.run_task`) with the same seeds and grid on each, and prints the primary
test score per path and seed, the paired score differences and the seed-to-seed std.

Without `--task-dir` it writes the synthetic 48 kHz stand-in of `nsynth_pitch-v2.2.3-5h`
(`hear-ssl tasks synth`): harmonic notes up to MIDI 108 whose harmonics reach far above 8 kHz, so the
resamplers' anti-aliasing filters matter. SoX comes from its Debian package without root, e.g.:

    apt-get download sox libsox3 libsox-fmt-base libltdl7 libgsm1
    for f in *.deb; do dpkg-deb -x "$f" sox-root; done
    LD_LIBRARY_PATH=$PWD/sox-root/usr/lib/x86_64-linux-gnu python benchmarks/resample_effect.py \\
        --sox sox-root/usr/bin/sox --seeds 5 --json runs/resample_effect.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from hear_ssl.evaluation.downstream import run_task  # noqa: E402
from hear_ssl.evaluation.downstream.reference import primary_score  # noqa: E402
from hear_ssl.io import atomic_write_text  # noqa: E402

DEFAULT_TASK = "nsynth_pitch-v2.2.3-5h"
REFERENCE_PATH = "sox-v-f32"
# SoX effect chains and output encodings of the SoX paths; `-D`: no dither (ffmpeg adds none either).
SOX_PATHS = {
    "sox-v-f32": (["-e", "floating-point", "-b", "32"], ["rate", "-v"]),
    "sox-h-s16": (["-e", "signed-integer", "-b", "16"], ["rate", "-h"]),
}
HARNESS_PATH = "soxr-vhq-f32"
PATHS = (HARNESS_PATH, *SOX_PATHS)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sox", required=True, help="the SoX binary (set LD_LIBRARY_PATH for a local copy)")
    parser.add_argument(
        "--task-dir",
        type=Path,
        default=None,
        help=f"48 kHz task folder (default: synthesize {DEFAULT_TASK})",
    )
    parser.add_argument("--scale", type=float, default=0.5, help="`hear-ssl tasks synth --scale` without --task-dir")
    parser.add_argument("--module", default="hear_ssl.byol_a", help="HEAR module spec MODULE[:WEIGHTS][?k=v]")
    parser.add_argument("--rate", type=int, default=None, help="target rate (default: the module's)")
    parser.add_argument(
        "--score-paths",
        default=",".join(PATHS),
        help="comma-separated paths to embed and score (all are resampled and compared; default: all)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=5,
        help="N downstream seeds (from --first-seed), the same for every path (0: compare signals and embeddings only)",
    )
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST..FIRST+N-1 (to add seeds later)")
    parser.add_argument(
        "--check-determinism",
        action="store_true",
        help=f"also run seed 0 of {REFERENCE_PATH} twice more: does one seed on one set of embeddings repeat exactly?",
    )
    parser.add_argument("--grid", default="default", choices=("default", "fast", "faster"))
    parser.add_argument("--grid-points", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--work-dir", type=Path, default=REPO / "runs" / "resample_effect", help="task copies and embeddings"
    )
    parser.add_argument("--json", type=Path, default=None, help="write all measurements here")
    return parser.parse_args(argv)


def sox_version(sox):
    """SoX's version line; fails clearly if the binary cannot run (missing libraries)."""
    try:
        done = subprocess.run([sox, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or err
        raise SystemExit(
            f"cannot run SoX at {sox}: {detail}; a local Debian copy needs "
            "LD_LIBRARY_PATH=<root>/usr/lib/x86_64-linux-gnu"
        ) from None
    return done.stdout.strip()


def task_source(args):
    """The 48 kHz task folder: --task-dir, or the synthetic stand-in written once under the work dir."""
    if args.task_dir is not None:
        return args.task_dir
    from hear_ssl.evaluation.synth import synth_suite

    folder = args.work_dir / "source" / DEFAULT_TASK
    if not folder.is_dir():
        synth_suite(args.work_dir / "source", scale=args.scale, seed=0, tasks=DEFAULT_TASK)
    return folder


def copy_task_files(task_dir, dst):
    """The task's metadata, vocabulary and split files (not its audio) into `dst`."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in task_dir.iterdir():
        if path.is_file():
            shutil.copy2(path, dst / path.name)


def resample_paths(task_dir, rate, sox, work_dir):
    """Write one task folder per path with `<rate>/<split>/*.wav`; returns {path: audio dir}, source rate."""
    from hear_ssl.evaluation.resample import audio_dir_for

    metadata = json.loads((task_dir / "task_metadata.json").read_text())
    source_rates = sorted(int(p.name) for p in task_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not source_rates or source_rates[-1] <= rate:
        raise SystemExit(f"{task_dir}: needs audio above {rate} Hz to resample from, has rates {source_rates}")
    source_rate = source_rates[-1]
    dirs = {}
    # The harness's path, through the harness's own function (it picks the lowest rate above the target).
    harness_task = work_dir / HARNESS_PATH / "task" / task_dir.name
    copy_task_files(task_dir, harness_task)
    if not (harness_task / str(source_rate)).exists():
        (harness_task / str(source_rate)).symlink_to((task_dir / str(source_rate)).resolve())
    dirs[HARNESS_PATH] = audio_dir_for(harness_task, rate, work_dir / HARNESS_PATH / "cache", progress=False)
    for name, (encoding, effect) in SOX_PATHS.items():
        out_task = work_dir / name / "task" / task_dir.name
        copy_task_files(task_dir, out_task)
        for split in metadata["splits"]:
            out_split = out_task / str(rate) / split
            out_split.mkdir(parents=True, exist_ok=True)
            for clip in json.loads((task_dir / f"{split}.json").read_text()):
                out = out_split / clip
                if out.exists():
                    continue
                tmp = out.with_name(out.stem + ".tmp.wav")
                source = task_dir / str(source_rate) / split / clip
                cmd = [sox, "-D", "-V1", str(source), *encoding, str(tmp), *effect, str(rate)]
                subprocess.run(cmd, check=True)
                os.replace(tmp, out)
        dirs[name] = out_task / str(rate)
    return dirs, source_rate


def signal_difference(reference_dir, other_dir, splits_and_clips):
    """SNR (dB) of `other` against `reference` per clip, and the max abs sample difference over all clips."""
    snrs, max_abs, length_mismatch = [], 0.0, 0
    for split, clip in splits_and_clips:
        ref, _ = sf.read(str(reference_dir / split / clip), dtype="float64")
        other, _ = sf.read(str(other_dir / split / clip), dtype="float64")
        if len(ref) != len(other):
            length_mismatch += 1
        n = min(len(ref), len(other))
        diff = ref[:n] - other[:n]
        max_abs = max(max_abs, float(np.abs(diff).max()))
        noise = float(np.sum(diff**2))
        snrs.append(float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref[:n] ** 2)) / noise))
    return {
        "snr_db_median": float(np.median(snrs)),
        "snr_db_min": float(np.min(snrs)),
        "snr_db_max": float(np.max(snrs)),
        "max_abs_diff": max_abs,
        "clips": len(snrs),
        "length_mismatches": length_mismatch,
    }


def embedding_difference(reference_dir, other_dir, splits):
    """Relative L2 difference of each embedding row (heareval's raw float32 memmaps, same row order)."""
    rel, max_abs = [], 0.0
    for split in splits:
        shape = tuple(json.loads((reference_dir / f"{split}.embedding-dimensions.json").read_text()))
        ref = np.fromfile(reference_dir / f"{split}.embeddings.npy", dtype=np.float32).reshape(shape)
        other = np.fromfile(other_dir / f"{split}.embeddings.npy", dtype=np.float32).reshape(shape)
        diff = (ref - other).astype(np.float64)
        rel.extend(np.linalg.norm(diff, axis=-1).ravel() / np.maximum(np.linalg.norm(ref, axis=-1).ravel(), 1e-12))
        max_abs = max(max_abs, float(np.abs(diff).max()))
    return {"relative_l2_median": float(np.median(rel)), "relative_l2_max": float(np.max(rel)), "max_abs_diff": max_abs}


def embed(hear_model, task_dir, audio_dir, out_dir):
    from hear_ssl.evaluation.embeddings import compute_task_embeddings, is_done

    if not is_done(out_dir):
        compute_task_embeddings(hear_model, task_dir, out_dir, audio_dir=audio_dir, progress=False)
    return out_dir


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    version = sox_version(args.sox)
    from hear_ssl.evaluation.embeddings import HearModel
    from hear_ssl.evaluation.modules import parse_module_spec

    spec = parse_module_spec(args.module)
    module, model = spec.load()
    hear_model = HearModel(module, model, device=args.device)
    rate = args.rate or hear_model.sample_rate
    task_dir = task_source(args)
    metadata = json.loads((task_dir / "task_metadata.json").read_text())
    clips = [(s, c) for s in metadata["splits"] for c in json.loads((task_dir / f"{s}.json").read_text())]

    start = time.time()
    audio_dirs, source_rate = resample_paths(task_dir, rate, args.sox, args.work_dir)
    print(f"resampled {len(clips)} clips {source_rate} -> {rate} Hz three ways in {time.time() - start:.0f} s")
    signals = {
        name: signal_difference(audio_dirs[REFERENCE_PATH], audio_dirs[name], clips)
        for name in PATHS
        if name != REFERENCE_PATH
    }
    for name, sig in signals.items():
        print(
            f"{name} vs {REFERENCE_PATH}: SNR {sig['snr_db_median']:.1f} dB median, {sig['snr_db_min']:.1f} dB min; "
            f"max abs diff {sig['max_abs_diff']:.2e} over {sig['clips']} clips"
        )

    scored = args.score_paths.split(",")
    unknown = sorted(set(scored) - set(PATHS))
    if unknown or REFERENCE_PATH not in scored:
        raise SystemExit(f"--score-paths: unknown {unknown} or missing {REFERENCE_PATH}; paths: {', '.join(PATHS)}")
    embeddings = {}
    for name in scored:
        embeddings[name] = args.work_dir / name / "embeddings" / spec.slug / task_dir.name
        start = time.time()
        embed(hear_model, args.work_dir / name / "task" / task_dir.name, audio_dirs[name], embeddings[name])
        print(f"{name}: embeddings in {time.time() - start:.0f} s", flush=True)
    embedding_diffs = {
        name: embedding_difference(embeddings[REFERENCE_PATH], embeddings[name], metadata["splits"])
        for name in scored
        if name != REFERENCE_PATH
    }
    for name, diff in embedding_diffs.items():
        print(
            f"{name} vs {REFERENCE_PATH}: embeddings differ by {diff['relative_l2_median']:.1e} (median relative L2, "
            f"max {diff['relative_l2_max']:.1e})",
            flush=True,
        )
    scores = {name: [] for name in scored}
    # Seed by seed over the paths, so that a run cut short still has paired scores.
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in scored:
            results = run_task(
                embeddings[name],
                grid=args.grid,
                grid_points=args.grid_points,
                device=args.device,
                seed=seed,
                write=False,
                progress=False,
            )
            scores[name].append(primary_score(results)[0])
            print(f"seed {seed} {name}: {scores[name][-1]:.4f}", flush=True)
        if args.json:
            write_json(args, task_dir, metadata, source_rate, rate, version, scores, signals, embedding_diffs)

    repeats = None
    if args.check_determinism:
        repeats = [
            primary_score(
                run_task(
                    embeddings[REFERENCE_PATH],
                    grid=args.grid,
                    grid_points=args.grid_points,
                    device=args.device,
                    seed=0,
                    write=False,
                    progress=False,
                )
            )[0]
            for _ in range(2)
        ]
        print(f"{REFERENCE_PATH} seed 0 run twice more: {repeats}", flush=True)
    if args.json:
        write_json(args, task_dir, metadata, source_rate, rate, version, scores, signals, embedding_diffs, repeats)
    if args.seeds == 0:
        return 0
    summary = summarise(scores)
    metric = metadata["evaluation"][0]
    print(
        f"\n{task_dir.name}, {source_rate} -> {rate} Hz, module {args.module}, fast engine, grid {args.grid} "
        f"({args.grid_points} points), seeds {args.first_seed}-{args.first_seed + args.seeds - 1}; {version}"
    )
    diff_head, snr_head = f"diff vs {REFERENCE_PATH}", "SNR dB (median/min)"
    print(f"{'path':14} {metric + ' mean':>16} {'seed std':>9} {diff_head:>18}  {snr_head:>20}")
    for name in scores:
        row = summary[name]
        diff = "-" if name == REFERENCE_PATH else f"{row['paired_diff_mean']:+.4f} +- {row['paired_diff_std']:.4f}"
        snr = (
            "reference"
            if name == REFERENCE_PATH
            else (f"{signals[name]['snr_db_median']:.1f} / {signals[name]['snr_db_min']:.1f}")
        )
        print(f"{name:14} {row['mean']:16.4f} {row['std']:9.4f} {diff:>18}  {snr:>20}")
    return 0


def write_json(args, task_dir, metadata, source_rate, rate, version, scores, signals, embedding_diffs, repeats=None):
    payload = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "task": task_dir.name,
        "metric": metadata["evaluation"][0],
        "source_rate": source_rate,
        "target_rate": rate,
        "sox": version,
        "soxr": _soxr_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scores": scores,
        "summary": summarise(scores),
        "signal_vs_reference": signals,
        "embeddings_vs_reference": embedding_diffs,
        "reference_seed0_repeats": repeats,
    }
    atomic_write_text(args.json, json.dumps(payload, indent=2))


def summarise(scores):
    """Per path: mean and std over seeds, and the seed-paired difference to the reference path."""
    out = {}
    for name, values in scores.items():
        if not values:
            continue
        row = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
        if name != REFERENCE_PATH:
            diffs = [a - b for a, b in zip(values, scores[REFERENCE_PATH])]
            row["paired_diffs"] = diffs
            row["paired_diff_mean"] = statistics.fmean(diffs)
            row["paired_diff_std"] = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        out[name] = row
    return out


def _soxr_version():
    try:
        import soxr
    except ImportError:
        return None
    return soxr.__version__


if __name__ == "__main__":
    sys.exit(main())
