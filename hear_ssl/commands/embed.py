"""`hear-ssl embed`: scene (and optionally timestamp) embeddings of audio files, saved to one .npz.

    hear-ssl embed dog.wav rain.flac --model byol-a-512 --weights BYOLA-d512.pth --out emb.npz --timestamps

Every input is read with `hear_ssl.audio.load_audio` (any sample rate is resampled to 16 kHz, multichannel
audio is averaged to mono). `.npy` files hold raw sample arrays and need `--sample-rate`. The output holds,
for each input, `scene/<name>` (D,) and with `--timestamps` also `timestamp_embeddings/<name>` (T, D) and
`timestamps/<name>` (T,) in milliseconds; `files` lists the names in input order, `paths` the paths as
given. `<name>` is the input's path relative to the deepest folder holding all inputs (`a.wav`,
`speech/a.wav`, ...).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from ..io import atomic_open, choose_device

RAW_SUFFIX = ".npy"
# Rates outside this range are a unit slip (16 for 16 kHz) or a typo, not audio.
MIN_PLAUSIBLE_RATE, MAX_PLAUSIBLE_RATE = 1000, 1_000_000
# Audio held back while waiting for equal-length partners to batch with (samples at 16 kHz).
MAX_BUFFERED_SAMPLES = 16000 * 600


class InputError(Exception):
    """A problem with the user's input, reported as one line naming the file and the fix."""


def sample_rate_arg(text: str) -> int:
    """argparse type for --sample-rate: a plausible positive integer in Hz."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of Hz such as 16000, got {text!r}") from None
    if not math.isfinite(rate) or rate <= 0 or rate != int(rate):
        raise argparse.ArgumentTypeError(f"must be a positive whole number of Hz, got {text}")
    if not MIN_PLAUSIBLE_RATE <= rate <= MAX_PLAUSIBLE_RATE:
        hint = f" (did you mean {int(rate * 1000)}? give the rate in Hz, not kHz)" if rate < MIN_PLAUSIBLE_RATE else ""
        raise argparse.ArgumentTypeError(
            f"{text} Hz is not a plausible audio sample rate "
            f"(expected {MIN_PLAUSIBLE_RATE}..{MAX_PLAUSIBLE_RATE} Hz){hint}"
        )
    return int(rate)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..registry import available_models, available_weights

    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="sound files (wav, flac, ogg, ...) or .npy arrays")
    parser.add_argument(
        "--model",
        required=True,
        choices=available_models() + available_weights(),
        metavar="NAME",
        help="registry model name (optionally NAME.TAG, see docs/models.md): " + ", ".join(available_models()),
    )
    parser.add_argument(
        "--weights",
        default="",
        metavar="PATH|hf://owner/repo/file[@rev]",
        help="checkpoint (.pth state dict or .safetensors), or a Hub file; default: the model's bundled weights",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.npz", help="output file")
    parser.add_argument(
        "--timestamps", action="store_true", help="also save timestamp embeddings and their centre times (ms)"
    )
    parser.add_argument(
        "--sample-rate",
        type=sample_rate_arg,
        metavar="HZ",
        help="sample rate of the inputs: required for .npy arrays; for sound files it is checked against each header",
    )
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ...")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="encoder arithmetic (autocast); fp32 reproduces the reference numbers",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, metavar="N", help="files of equal length embedded together (default 16)"
    )
    parser.add_argument(
        "--serab-compat",
        action="store_true",
        help="serab-byols normalisation quirks (per-input models only); each file is its own call",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except InputError as err:
        print(f"hear-ssl embed: error: {err}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..hear import get_scene_embeddings, get_timestamp_embeddings, load_model

    out = check_output_path(args.out)
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    paths = unique_paths(args.audio)
    # Header checks first: a bad file among thousands should fail in seconds, not after the rest are done.
    problems = [problem for path in paths if (problem := check_input(path, args.sample_rate))]
    if problems:
        raise InputError(f"{len(problems)} of {len(paths)} inputs cannot be embedded:\n  " + "\n  ".join(problems))
    try:
        device = choose_device(args.device)
    except ValueError as err:
        raise InputError(f"--device: {err}") from None
    try:
        model = load_model(args.weights, args.model, precision=args.precision, serab_compat=args.serab_compat)
    except (ValueError, FileNotFoundError) as err:  # CheckpointError is a ValueError
        hint = "" if args.weights else " On the command line: --weights PATH or --weights hf://owner/repo/file."
        raise InputError(f"{err}{hint}") from None
    model = model.to(device)

    names = output_names(paths)
    results: dict[int, dict[str, np.ndarray]] = {}
    # serab_compat statistics are taken over a whole call: keep one file per call so results never depend
    # on which files happened to share a batch.
    batch_size = 1 if args.serab_compat else args.batch_size
    with tqdm(total=len(paths), desc="embedding", unit="file", disable=args.quiet) as progress:
        for batch in equal_length_batches(read_inputs(paths, args.sample_rate), batch_size):
            audio = torch.from_numpy(np.stack([clip for _, clip in batch])).to(device)
            scene = get_scene_embeddings(audio, model).float().cpu().numpy()
            if args.timestamps:
                frames, times = get_timestamp_embeddings(audio, model)
                frames, times = frames.float().cpu().numpy(), times.float().cpu().numpy()
            for row, (index, _) in enumerate(batch):
                results[index] = {"scene": scene[row]}
                if args.timestamps:
                    results[index].update(timestamp_embeddings=frames[row], timestamps=times[row])
            progress.update(len(batch))

    arrays = {"files": np.array(names), "paths": np.array([str(p) for p in paths]), "model": np.array(model.name)}
    for index, name in enumerate(names):
        for kind, value in results[index].items():
            arrays[f"{kind}/{name}"] = value
    with atomic_open(out, "wb") as handle:  # an interrupted run leaves no half file
        np.savez(handle, **arrays)
    if not args.quiet:
        print(f"wrote {len(names)} embeddings ({model.scene_embedding_size}-d, {model.name}) to {out}", file=sys.stderr)
    return 0


def check_output_path(out: Path) -> Path:
    if out.suffix != ".npz":
        raise InputError(f"--out must name a .npz file, got {out} (numpy would silently append .npz)")
    if out.is_dir():
        raise InputError(f"--out {out} is a directory; name a file such as {out / 'embeddings.npz'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder {out.parent}: {err.strerror}") from None
    return out


def unique_paths(arguments: list[str]) -> list[Path]:
    """The inputs in order, each file once (overlapping shell globs name some twice)."""
    seen, paths = set(), []
    for argument in arguments:
        resolved = Path(argument).resolve()
        if resolved not in seen:
            seen.add(resolved)
            paths.append(Path(argument))
    return paths


def check_input(path: Path, sample_rate: int | None) -> str | None:
    """A one-line description of what is wrong with an input, from its header alone, or None."""
    if not path.exists():
        return f"{path}: no such file"
    if not path.is_file():
        return f"{path}: not a file"
    if path.suffix.lower() == RAW_SUFFIX:
        if sample_rate is None:
            return f"{path}: a raw .npy array carries no sample rate; pass --sample-rate HZ"
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:  # not an .npy file, pickled objects, or cut short
            return f"{path}: cannot read as a .npy array ({err})"
        if array.ndim not in (1, 2) or not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
            return f"{path}: expected real samples of shape (N,) or (N, channels), got {array.dtype} {array.shape}"
        if array.size == 0:
            return f"{path}: the array is empty (0 samples)"
        return None
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as err:  # soundfile's LibsndfileError is a RuntimeError
        return f"{path}: cannot read as audio ({first_line(err)}); convert it to wav or flac"
    if info.frames == 0:
        return f"{path}: the file holds no audio (0 samples)"
    if sample_rate is not None and info.samplerate != sample_rate:
        return (
            f"{path}: its header says {info.samplerate} Hz but --sample-rate is {sample_rate}. Sound files carry "
            "their own rate (and are resampled to 16 kHz automatically): drop --sample-rate, which only .npy "
            "arrays need, or embed arrays and files of other rates in separate runs"
        )
    return None


def read_inputs(paths: list[Path], sample_rate: int | None):
    """Yield (index, mono float32 16-kHz waveform); a file that fails to decode stops the run with its name."""
    from ..audio import load_audio

    for index, path in enumerate(paths):
        try:
            if path.suffix.lower() == RAW_SUFFIX:
                audio = load_audio(np.load(path, allow_pickle=False), sample_rate)
            else:
                audio = load_audio(path)
        except (ValueError, OSError) as err:
            # Headers passed, so this is damage inside the file (truncated data, bad samples).
            raise InputError(f"{path}: {first_line(err)}") from None
        if audio.size == 0:
            raise InputError(f"{path}: no samples left after resampling to 16 kHz (the clip is too short)")
        yield index, audio


def equal_length_batches(clips, batch_size: int):
    """Group (index, waveform) pairs of equal length into lists of at most `batch_size`.

    Clips wait in per-length buckets; every bucket is flushed when the held audio exceeds
    MAX_BUFFERED_SAMPLES, so memory stays bounded however many distinct lengths there are.
    """
    buckets: dict[int, list] = {}
    held = 0
    for index, clip in clips:
        bucket = buckets.setdefault(len(clip), [])
        bucket.append((index, clip))
        held += len(clip)
        if len(bucket) == batch_size:
            held -= sum(len(c) for _, c in bucket)
            yield buckets.pop(len(clip))
        elif held > MAX_BUFFERED_SAMPLES:
            yield from buckets.values()
            buckets, held = {}, 0
    yield from buckets.values()


def output_names(paths: list[Path]) -> list[str]:
    """Paths relative to the deepest folder holding every input, POSIX-style: unique and readable."""
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    return [p.relative_to(root).as_posix() for p in resolved]


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
