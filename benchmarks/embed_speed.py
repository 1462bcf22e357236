"""Embedding speed of every registry model, as a real-time factor (seconds of audio per wall-clock second).

Any registry architecture can be benchmarked by name (``--models``; default: each family module's
``DEFAULT_MODEL``): `random_model` builds it at its official size with random weights (speed does not depend
on their values). For each device (CPU, and CUDA when present), precision and model, the HEAR entry points are
timed on a batch of random clips and, in the same run, the family's official call pattern as the naive
baseline:

- log-mel models: a loop like the official serab-byols HEAR module: scene embeddings one clip at a time, and
  timestamp embeddings by encoding every 1-s window on its own, one window at a time
  (``--naive-window-batch`` sets how many windows share an encoder pass; serab-byols uses 512);
- BEATs: its own ``BEATs.preprocess`` pattern, Kaldi fbank clip by clip in a loop, then one encoder pass;
- the other zoo families (ATST, tempo, DeLoRes, DECAR, WavLM): one clip per call, as their authors'
  extraction code embeds one file at a time.

Medians over ``--repeats`` timed calls after one warm-up call. On CUDA, BYOL-S and the hybrid CvT are also
compared with the official module's H100 numbers in ``shared/reference/throughput-hear-modules.json``
(target: at least 20x).

    python benchmarks/embed_speed.py                      # CPU (+ CUDA if present)
    python benchmarks/embed_speed.py --models beats-iter3 wavlm-large --devices cuda --json runs/speed.json

The CPU default is a smaller batch (``--cpu-clips 2 --cpu-seconds 4``, one thread, naive timestamp loop timed
over its first 40 windows); CUDA runs use ``--clips 32 --seconds 10``, the batch the reference numbers were
measured on, and time every naive window.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from hear_ssl.frontends.kaldi_fbank import normalise_beats_fbank
from hear_ssl.hear import make_embedder
from hear_ssl.io import atomic_write_text, choose_device
from hear_ssl.models import mean_max_pool
from hear_ssl.registry import Architecture, LogMelEncoder, available_models, get_architecture, get_spec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = (
    Path(os.environ.get("HEAR_SSL_SHARED", REPO.parent / "shared")) / "reference" / "throughput-hear-modules.json"
)
# Registry model -> key prefix of the official module's numbers in the reference file.
OFFICIAL_COUNTERPART = {"byol-s": "serab_default", "byol-s-cvt": "serab_cvt"}
TARGET_SPEEDUP = 20.0


def _beats(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.beats import BEATsEmbedder
    from hear_ssl.models.beats import BEATs

    return BEATsEmbedder(BEATs(arch.config), name=arch.name, precision=precision)


def _atst(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.atst import ATSTEmbedder

    return ATSTEmbedder(arch.config.kind, arch.config.encoder, name=arch.name, precision=precision)


def _tempo(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.tempo import TempoEmbedder

    return TempoEmbedder(arch.config, name=arch.name, precision=precision)


def _delores(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.delores import DeLoResEmbedder

    return DeLoResEmbedder(arch.name, precision=precision)


def _decar(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.decar import DECAREmbedder

    return DECAREmbedder(precision=precision)  # one architecture: the embedder builds it


def _wavlm(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.embedders.wavlm import WavLMEmbedder
    from hear_ssl.models.wavlm import WavLM

    return WavLMEmbedder(WavLM(arch.config), name=arch.name, precision=precision)


def _conformer(arch: Architecture, precision: str) -> torch.nn.Module:
    from hear_ssl.config import FrontEndConfig, NormConfig
    from hear_ssl.embedders.conformer import ConformerEmbedder

    # No published weights or statistics: the default front-end and a unit standardisation.
    unit = NormConfig(mean=0.0, std=1.0)
    return ConformerEmbedder(arch.config, FrontEndConfig(), unit, arch.name, precision=precision)


# Zoo family -> builder(architecture, precision) of its HEAR model with random weights. Log-mel families need
# none (their registry spec builds them). A new family adds one line here.
ZOO_BUILDERS = {
    "beats": _beats, "atst": _atst, "tempo": _tempo, "delores": _delores, "decar": _decar, "wavlm": _wavlm,
    "conformer": _conformer,
}  # fmt: skip


def random_model(name: str, precision: str = "fp32") -> torch.nn.Module:
    """The HEAR model of registry architecture `name` at its official size, random weights, in eval mode."""
    arch = get_architecture(name)
    torch.manual_seed(0)
    if isinstance(arch.config, LogMelEncoder):
        return make_embedder(get_spec(name), precision=precision).eval()
    if arch.family not in ZOO_BUILDERS:
        raise ValueError(f"{name}: no random-weights builder for family {arch.family!r}; add one to ZOO_BUILDERS")
    return ZOO_BUILDERS[arch.family](arch, precision).eval()


def default_models() -> list[str]:
    """One representative per family: the `DEFAULT_MODEL` of each `hear_ssl.<family>` module."""
    families = dict.fromkeys(get_architecture(name).family for name in available_models())
    return [importlib.import_module(f"hear_ssl.{family}").DEFAULT_MODEL for family in families]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=available_models(),
        metavar="NAME",
        help="registry architectures (default: one per family, each module's DEFAULT_MODEL)",
    )
    parser.add_argument(
        "--devices", nargs="+", default=None, metavar="DEV", help="default: cpu, plus cuda when available"
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32", "bf16"],
        choices=("fp32", "bf16", "fp16"),
        help="precisions on CUDA (default fp32 bf16)",
    )
    parser.add_argument("--cpu-precisions", nargs="+", default=["fp32"], choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--clips", type=int, default=32, help="clips per call on CUDA (default 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length on CUDA (default 10 s)")
    parser.add_argument("--cpu-clips", type=int, default=2, help="clips per call on CPU (default 2)")
    parser.add_argument("--cpu-seconds", type=float, default=4.0, help="clip length on CPU (default 4 s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement; the median is kept")
    parser.add_argument(
        "--naive-clips",
        type=int,
        default=1,
        help="clips the naive loops run over (their cost is linear in clips; default 1)",
    )
    parser.add_argument("--naive-window-batch", type=int, default=1, help="windows per encoder pass in the naive loop")
    parser.add_argument(
        "--naive-windows",
        type=int,
        default=None,
        metavar="N",
        help="time only the first N windows of each naive clip and credit the audio they cover "
        "(default: every window on CUDA, 40 on CPU)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baselines")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile log-mel encoders (compile time not timed)"
    )
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="log-mel encoders: store conv weights channels-last too (inputs already are on CUDA)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: the CPUs are shared; 0 = torch's choice)"
    )
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="official throughput JSON")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    for name in ("clips", "cpu_clips", "repeats", "naive_clips", "naive_window_batch", "naive_windows"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0 or args.cpu_seconds <= 0:
        parser.error("clip lengths must be positive")
    args.models = args.models or default_models()
    if args.devices is None:
        args.devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    try:
        args.devices = [choose_device(device) for device in args.devices]
    except ValueError as err:
        parser.error(f"--devices: {err}")
    return args


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, repeats: int, warmup: int = 1):
    """Median wall time of `fn()` over `repeats` calls after `warmup` untimed calls; also its last output."""
    for _ in range(warmup):
        out = fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def naive_scene(model, audio: torch.Tensor) -> torch.Tensor:
    """One clip per encoder pass, as serab-byols' scene path does."""
    return torch.cat([model.scene_embeddings(clip.unsqueeze(0)) for clip in audio])


def window_starts(model, num_samples: int) -> list[int]:
    """Start sample (in the half-window-padded clip) of every timestamp window, one every `hop_ms`."""
    hop = model.framing.hop_ms * model.sample_rate / 1000.0
    return [round(i * hop) for i in range(int(num_samples // hop) + 1)]


def naive_timestamps(model, audio: torch.Tensor, windows_per_pass: int, max_windows: int | None) -> torch.Tensor:
    """Every timestamp window sliced out and encoded on its own: front-end, normalisation, encoder, pooling.

    Same windows as the engine (centred, zero-padded at the clip edges, one every `hop_ms`); only the first
    `max_windows` of each clip when given.
    """
    window = round(model.framing.window_ms * model.sample_rate / 1000.0)
    starts = window_starts(model, audio.shape[1])[:max_windows]
    num_windows = len(starts)
    padded = torch.nn.functional.pad(audio, (window // 2, window - window // 2))
    out = []
    with torch.no_grad():
        for clip in padded:
            rows = []
            for first in range(0, num_windows, windows_per_pass):
                windows = torch.stack([clip[s : s + window] for s in starts[first : first + windows_per_pass]])
                rows.append(mean_max_pool(model._run_encoder(model._normalise(model.frontend(windows)))))
            out.append(torch.cat(rows))
    return torch.stack(out)


def build_model(name: str, device: torch.device, precision: str, args) -> torch.nn.Module:
    model = random_model(name, precision).to(device)
    if isinstance(get_architecture(name).config, LogMelEncoder):  # the engine's options (log-mel encoders)
        if args.channels_last:
            model.encoder.to(memory_format=torch.channels_last)
        if args.compile:
            model.encoder.forward_frames = torch.compile(model.encoder.forward_frames)
    return model


def measure(name: str, device: torch.device, precision: str, args) -> dict:
    on_cpu = device.type == "cpu"
    clips, seconds = (args.cpu_clips, args.cpu_seconds) if on_cpu else (args.clips, args.seconds)
    model = build_model(name, device, precision, args)
    generator = torch.Generator().manual_seed(0)
    audio = (0.1 * torch.randn(clips, int(seconds * model.sample_rate), generator=generator)).to(device)
    audio_seconds = clips * seconds

    scene_s, scene = median_seconds(lambda: model.scene_embeddings(audio), device, args.repeats)
    stamp_s, (stamps, _) = median_seconds(lambda: model.timestamp_embeddings(audio), device, args.repeats)
    row = {
        "device": str(device),
        "precision": precision,
        "model": name,
        "clips": clips,
        "seconds": seconds,
        "scene_x_realtime": audio_seconds / scene_s,
        "timestamp_x_realtime": audio_seconds / stamp_s,
    }
    if isinstance(get_architecture(name).config, LogMelEncoder):
        row["timestamp_path"] = "pooled frames, one pass per clip" if model.framing.pool_frames else "window by window"
        if not args.no_naive:
            row.update(naive_logmel(name, model, audio, stamps, on_cpu, args))
    else:
        row["timestamp_path"] = "native frames"
        if not args.no_naive:
            row.update(naive_official(name, model, audio[: args.naive_clips], scene, device, args))
    if not args.no_naive and "naive_scene_x_realtime" in row:
        row["scene_speedup_vs_naive"] = row["scene_x_realtime"] / row["naive_scene_x_realtime"]
        row["timestamp_speedup_vs_naive"] = row["timestamp_x_realtime"] / row["naive_timestamp_x_realtime"]
    return row


def naive_logmel(name: str, model, audio: torch.Tensor, stamps: torch.Tensor, on_cpu: bool, args) -> dict:
    """serab-byols' pattern: scene one clip per pass, timestamps one window per pass (first N windows)."""
    subset = audio[: args.naive_clips]
    seconds = audio.shape[1] / model.sample_rate
    device = audio.device
    max_windows = args.naive_windows or (40 if on_cpu else None)
    total_windows = len(window_starts(model, subset.shape[1]))
    timed_windows = min(max_windows or total_windows, total_windows)
    naive_scene_s, _ = median_seconds(lambda: naive_scene(model, subset), device, args.repeats)
    naive_stamp_s, naive = median_seconds(
        lambda: naive_timestamps(model, subset, args.naive_window_batch, timed_windows), device, args.repeats
    )
    out = {}
    if not model.framing.pool_frames:
        # Window-by-window models: the naive loop must compute what the engine computes (a warning,
        # not an abort: TF32 / bf16 round differently for different batch shapes).
        error = (naive - stamps[: subset.shape[0], :timed_windows]).abs().max().item()
        out["naive_max_abs_diff"] = error
        if error > 1e-2 * max(stamps.abs().max().item(), 1.0):
            print(f"warning: {name}: naive loop and engine differ by {error:.3g}", file=sys.stderr)
    # Each window stands for one hop of audio: credit the share of the clips the timed windows cover.
    naive_stamp_audio = subset.shape[0] * seconds * timed_windows / total_windows
    out.update(
        naive_scene_x_realtime=subset.shape[0] * seconds / naive_scene_s,
        naive_timestamp_x_realtime=naive_stamp_audio / naive_stamp_s,
        naive_timestamp_windows=f"{timed_windows}/{total_windows}",
    )
    return out


def official_beats_call(embedder, audio: torch.Tensor) -> torch.Tensor:
    """BEATs' own call pattern (`BEATs.preprocess`): Kaldi fbank clip by clip in a loop, one encoder pass.

    Returns the last layer's patch features, shape (clips, patches, 768).
    """
    with torch.no_grad():
        fbank = torch.stack([normalise_beats_fbank(embedder.frontend(clip.unsqueeze(0)))[0] for clip in audio])
        with embedder._autocast(audio.device):
            return embedder.model(fbank).float()


def naive_official(name: str, model, subset: torch.Tensor, scene: torch.Tensor, device, args) -> dict:
    """A zoo family's official call pattern on `subset`: real-time factors and its distance to the engine."""
    audio_seconds = subset.numel() / model.sample_rate
    if get_architecture(name).family == "beats":
        if subset.shape[1] > 10 * model.sample_rate:  # the official call attends over the whole clip
            return {}
        official_s, official = median_seconds(lambda: official_beats_call(model, subset), device, args.repeats)
        # The official timestamp path is the same pass (then a mean over each step's 8 patches).
        naive_scene_s = naive_stamp_s = official_s
        naive = official.mean(dim=1)
    else:  # one clip per call, as the authors' extraction code embeds one file at a time
        naive_scene_s, naive = median_seconds(lambda: naive_scene(model, subset), device, args.repeats)
        naive_stamp_s, _ = median_seconds(
            lambda: [model.timestamp_embeddings(clip.unsqueeze(0)) for clip in subset], device, args.repeats
        )
    return {
        "naive_max_abs_diff": (naive - scene[: subset.shape[0]]).abs().max().item(),
        "naive_scene_x_realtime": audio_seconds / naive_scene_s,
        "naive_timestamp_x_realtime": audio_seconds / naive_stamp_s,
    }


def compare_with_official(rows: list[dict], reference: dict | None) -> None:
    if not reference:
        return
    for row in rows:
        prefix = OFFICIAL_COUNTERPART.get(row["model"])
        if prefix is None or not row["device"].startswith("cuda"):
            continue
        for kind in ("scene", "timestamp"):
            official = reference.get(f"{prefix}_{kind}_x_realtime")
            if official:
                row[f"{kind}_vs_official"] = row[f"{kind}_x_realtime"] / official


def fmt(value) -> str:
    """A real-time factor with two significant digits below 10 (slow zoo models on CPU run below 1x)."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}" if value < 10 else f"{value:.1f}"


def table(rows: list[dict]) -> str:
    header = (
        "| device | precision | model | scene ×RT | timestamp ×RT | naive scene ×RT | naive timestamp ×RT "
        "| scene speed-up | timestamp speed-up | scene vs official | timestamp vs official |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        cells = [
            r["device"],
            r["precision"],
            r["model"],
            fmt(r["scene_x_realtime"]),
            fmt(r["timestamp_x_realtime"]),
            fmt(r.get("naive_scene_x_realtime")),
            fmt(r.get("naive_timestamp_x_realtime")),
            speed(r.get("scene_speedup_vs_naive")),
            speed(r.get("timestamp_speedup_vs_naive")),
            speed(r.get("scene_vs_official")),
            speed(r.get("timestamp_vs_official")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed(value) -> str:
    return "-" if value is None else f"{value:.1f}×"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = json.loads(args.reference.read_text()) if args.reference.is_file() else None
    configs = [
        (torch.device(device), precision, name)
        for device in args.devices
        for precision in (args.cpu_precisions if torch.device(device).type == "cpu" else args.precisions)
        for name in args.models
    ]
    rows = []
    started = time.perf_counter()
    for device, precision, name in tqdm(configs, desc="benchmark", unit="config", file=sys.stderr):
        # bf16 autocast on CUDA needs hardware support; say so instead of crashing half-way.
        if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
            print(f"skipping bf16 on {device_name(device)}: not supported", file=sys.stderr)
            continue
        rows.append(measure(name, device, precision, args))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    compare_with_official(rows, reference)

    print(f"torch {torch.__version__}; " + "; ".join(sorted({f"{d}: {device_name(d)}" for d, _, _ in configs})))
    for device in sorted({d for d, _, _ in configs}, key=str):
        clips, seconds = (args.cpu_clips, args.cpu_seconds) if device.type == "cpu" else (args.clips, args.seconds)
        capped = args.naive_windows or (40 if device.type == "cpu" else None)
        windows = f", log-mel timestamps: first {capped} windows of each" if capped else ""
        naive = "" if args.no_naive else f"; naive loops over {min(args.naive_clips, clips)} clip(s){windows}"
        print(f"{device}: {clips} clips x {seconds:g} s per call, median of {args.repeats}{naive}")
    print(
        f"random weights; ×RT = seconds of audio per wall-clock second; speed-up = engine / naive loop "
        f"({args.naive_window_batch} window(s) per encoder pass); compile={args.compile} "
        f"channels_last_weights={args.channels_last}"
    )
    print(table(rows))
    if reference and any("scene_vs_official" in r for r in rows):
        print(
            f"official serab-byols module on {reference.get('device', '?')}: target ≥ {TARGET_SPEEDUP:g}× "
            "(compare on the same GPU model)"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        devices = {str(d): device_name(d) for d, _, _ in configs}
        payload = {"torch": torch.__version__, "devices": devices, "args": vars(args), "rows": rows}
        atomic_write_text(args.json, json.dumps(payload, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
