"""Synthetic stand-ins for the 20 official HEAR 2021 task folders: same shapes, learnable audio, few clips.

`hear-ssl tasks synth --like hear2021 --out DIR [--scale S]` writes one folder per official task with
the official task metadata (`official_tasks.OFFICIAL`: names, task type, split mode and folds, clip
duration, metrics, task-specific grids and early-stopping rule), at 48 kHz only (as the Zenodo
archives), so a run exercises everything the real suite does except its size: resampling from 48 kHz,
600-s Beehive clips, 120-s event clips with dense events, FSD50K's variable lengths (0.3-30 s),
multilabel scenes, k-fold and presplit folds, pitch labels as MIDI numbers.

Audio is learnable: each label has its own sound, a tone with harmonics, a band of noise or a click
train at a label-specific frequency (pitch tasks: a harmonic tone at the label's MIDI pitch), over a
quiet noise floor, at a random gain. Event tasks place bursts of their label's sound at random times
and record the extents in ms.

`scale` sets the share of the official label vocabulary used (at least 2 labels, all of them at
`scale >= 1`) and the clips per label and split. Clip counts are always far below the official ones,
so these tasks are never comparable with published scores; each folder's metadata says it is
synthetic (`"synthetic": {...}`), which the report's comparability check reads.
"""

import csv
import json
import math
from pathlib import Path

import numpy as np

from hear_ssl.io import atomic_directory, atomic_write_json

from .official_tasks import OFFICIAL

SAMPLE_RATE = 48000
SUITES = ("hear2021",)
# Labels of the official tasks where hear-preprocess's code states them.
_OFFICIAL_LABELS = {
    "beehive_states": ["NOQUEEN", "QUEEN"],
    "gunshot_triangulation": [f"mic{i}" for i in range(1, 5)],
    "mridangam_stroke": ["Bheem", "Cha", "Dheem", "Dhin", "Num", "Ta", "Tha", "Tham", "Thi", "Thom"],
    "mridangam_tonic": ["b", "c", "csh", "d", "dsh", "e"],
    "libricount": [str(i) for i in range(11)],
}
# Official label count unknown to us (None in the table): size of the stand-in vocabulary at scale 1.
_UNKNOWN_VOCABULARY = 64
_NOISE_FLOOR = 0.003


def synth_suite(out_dir, like="hear2021", scale=0.1, seed=0, tasks=None, max_duration=None, progress=False):
    """Write synthetic stand-ins of every official task folder into `out_dir`.

    Parameters
    ----------
    out_dir : str or Path
    like : {"hear2021"}
        Which benchmark's task shapes to copy.
    scale : float
        Share of each official vocabulary used and clip multiplicity (0 < scale; 1 = full vocabulary).
    seed : int
    tasks : str, optional
        Comma-separated shell patterns on folder names (default: all 20).
    max_duration : float, optional
        Cap on clip length in seconds (departs from the official durations; for quick tests only).
    progress : bool

    Returns
    -------
    list of Path
        The task folders written.

    Raises
    ------
    ValueError
        On an unknown suite, a non-positive scale, or patterns matching nothing.
    """
    import fnmatch

    if like not in SUITES:
        raise ValueError(f"unknown suite {like!r}; available: {', '.join(SUITES)}")
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"--scale must be a positive number, got {scale!r}")
    if max_duration is not None and max_duration <= 0:
        raise ValueError(f"--max-duration must be positive seconds, got {max_duration!r}")
    chosen = OFFICIAL
    if tasks:
        patterns = [p for p in tasks.split(",") if p]
        chosen = [t for t in OFFICIAL if any(fnmatch.fnmatch(t.folder, p) for p in patterns)]
        if not chosen:
            raise ValueError(f"no official task matches {tasks}; folders: {', '.join(t.folder for t in OFFICIAL)}")
    out = []
    for index, task in enumerate(chosen):
        if progress:
            print(f"synth {task.folder}", flush=True)
        out.append(synth_task(task, out_dir, scale=scale, seed=seed * 1000 + index, max_duration=max_duration))
    return out


def vocabulary(task, scale):
    """The label names of a task's stand-in: official names or `class000...`, MIDI numbers for pitch tasks."""
    if task.pitch_labels:
        low, high = task.pitch_labels
        names = [str(m) for m in range(low, high + 1)]
    else:
        base = task.task_name.rsplit("_fold", 1)[0]
        size = task.n_labels or _UNKNOWN_VOCABULARY
        names = _OFFICIAL_LABELS.get(base) or [f"class{i:03d}" for i in range(size)]
    keep = len(names) if scale >= 1 else max(2, math.ceil(len(names) * scale))
    if keep >= len(names):
        return names
    # Spread the kept labels over the range (pitch tasks keep low and high pitches).
    idx = np.unique(np.linspace(0, len(names) - 1, keep).round().astype(int))
    return [names[i] for i in idx]


def clips_per_split(task, labels, scale):
    """Clips per split: scene tasks a few per label, event tasks a few long recordings."""
    mult = max(1.0, scale * 2)
    if task.embedding_type == "event":
        per = {"train": 6, "valid": 2, "test": 2} if task.split_mode == "trainvaltest" else None
        if per is None:
            return {split: max(1, round(2 * mult)) for split in task.splits}
        return {split: max(1, round(n * mult)) for split, n in per.items()}
    if task.sample_duration and task.sample_duration >= 300:  # Beehive's 10-min clips: keep them few
        per_label = {"train": 2, "valid": 1, "test": 1}
    elif task.split_mode == "trainvaltest":
        small = max(1, round(2 * mult))
        per_label = {"train": max(2, round(4 * mult)), "valid": small, "test": small}
    else:
        per_label = {split: max(1, round(2 * mult)) for split in task.splits}
    return {split: per_label[split] * len(labels) for split in task.splits}


def synth_task(task, out_dir, scale=0.1, seed=0, max_duration=None):
    """Write one task folder (atomically: a half-written task never appears under its name).

    Returns
    -------
    Path
    """
    rng = np.random.default_rng(seed)
    labels = vocabulary(task, scale)
    counts = clips_per_split(task, labels, scale)
    duration = task.sample_duration
    if duration is not None and max_duration is not None:
        duration = min(duration, max_duration)
    target = Path(out_dir) / task.folder
    with atomic_directory(target) as tmp:
        metadata = task.metadata()
        metadata["sample_duration"] = duration
        metadata["synthetic"] = {"like": "hear2021", "scale": scale, "seed": seed, "max_duration": max_duration}
        atomic_write_json(tmp / "task_metadata.json", metadata)
        with open(tmp / "labelvocabulary.csv", "w", newline="") as f:
            csv.writer(f).writerows([["idx", "label"]] + [[i, lbl] for i, lbl in enumerate(labels)])
        import soundfile as sf

        for split in task.splits:
            audio_dir = tmp / str(SAMPLE_RATE) / split
            audio_dir.mkdir(parents=True)
            data = {}
            for i in range(counts[split]):
                name = f"{split}_{i:04d}.wav"
                if task.embedding_type == "event":
                    audio, events = _event_clip(task, labels, duration, rng)
                    data[name] = events
                else:
                    audio, clip_labels = _scene_clip(task, labels, i, duration, rng)
                    data[name] = clip_labels
                sf.write(audio_dir / name, audio, SAMPLE_RATE, subtype="PCM_16")
            (tmp / f"{split}.json").write_text(json.dumps(data, indent=1))
    return target


def _scene_clip(task, labels, i, duration, rng):
    if duration is None:  # FSD50K: lengths spread log-uniformly over the official range
        low, high = task.duration_range
        length = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    else:
        length = duration
    n = int(round(length * SAMPLE_RATE))
    if task.prediction_type == "multilabel":
        k = int(rng.integers(1, min(3, len(labels)) + 1))
        chosen = [labels[i % len(labels)]] + list(rng.choice(labels, size=k - 1, replace=False))
        chosen = list(dict.fromkeys(chosen))
    else:
        chosen = [labels[i % len(labels)]]
    audio = rng.normal(scale=_NOISE_FLOOR, size=n)
    for label in chosen:
        audio += _label_sound(task, labels, label, n, rng) * rng.uniform(0.15, 0.4)
    return _to_pcm_range(audio), chosen


def _event_clip(task, labels, duration, rng):
    n = int(round(duration * SAMPLE_RATE))
    audio = rng.normal(scale=_NOISE_FLOOR, size=n)
    events = []
    # About one event every 4 s (DCASE 2016 density); pitch tasks, one note every 2 s.
    n_events = max(2, int(duration / (2.0 if task.pitch_labels else 4.0)))
    for _ in range(n_events):
        label = labels[int(rng.integers(len(labels)))]
        length = float(rng.uniform(0.3, 1.5))
        start = float(rng.uniform(0, max(0.0, duration - length)))
        a, b = int(start * SAMPLE_RATE), int((start + length) * SAMPLE_RATE)
        sound = _label_sound(task, labels, label, b - a, rng)
        ramp = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / (0.005 * SAMPLE_RATE))
        audio[a:b] += sound * ramp * rng.uniform(0.2, 0.4)
        events.append({"label": label, "start": round(start * 1000, 3), "end": round((start + length) * 1000, 3)})
    events.sort(key=lambda e: (e["start"], e["label"]))
    return _to_pcm_range(audio), events


def _label_sound(task, labels, label, n, rng):
    """`n` samples of a label's sound (unit peak): tone, noise band or click train; pitch tasks a note."""
    t = np.arange(n) / SAMPLE_RATE
    if task.pitch_labels:
        f0 = 440.0 * 2 ** ((int(label) - 69) / 12)
        harmonics = int(rng.integers(2, 6))
        wave = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, harmonics + 1))
        return wave * np.exp(-t * rng.uniform(0.2, 2.0)) / 2
    k = labels.index(label)
    kind = k % 3
    freq = 200.0 * 2 ** (5.0 * k / max(1, len(labels) - 1))  # 200 Hz - 6.4 kHz, log-spaced over the labels
    if kind == 0:
        return (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)) / 1.3
    if kind == 1:  # noise band around freq: smoothed noise times a carrier
        width = max(8, int(SAMPLE_RATE / (freq / 4)))
        noise = rng.normal(size=n + width)
        smooth = (np.cumsum(noise)[width:] - np.cumsum(noise)[:-width]) / math.sqrt(width)
        return np.clip(smooth * np.cos(2 * np.pi * freq * t) / 3, -1, 1)
    rate = 4.0 + 2.0 * (k % 5)  # click train: decaying blips at freq, 4-12 per second
    clicks = np.zeros(n)
    blip_n = int(0.004 * SAMPLE_RATE)
    blip = np.sin(2 * np.pi * freq * np.arange(blip_n) / SAMPLE_RATE) * np.exp(-np.arange(blip_n) / (blip_n / 4))
    for start in range(int(rng.integers(0, SAMPLE_RATE / rate)), n - blip_n, int(SAMPLE_RATE / rate)):
        clicks[start : start + blip_n] += blip
    return clicks


def _to_pcm_range(audio):
    peak = np.abs(audio).max()
    return (audio / peak * 0.9 if peak > 0.95 else audio).astype(np.float32)
