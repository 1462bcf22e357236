"""Build a HEAR 2021 task folder from labelled audio: class sub-folders or a CSV.

Two inputs:

- a folder of class sub-folders, `DIR/<label>/*.wav` (any format soundfile reads): a multiclass scene task;
- a CSV with columns `file,label` and optionally `start,end` (event extents, seconds by default) and
  `split` (train/valid/test) or `fold` (any fold names). Several rows for one file make a multilabel
  scene task (no start/end) or list the file's events (with start/end, an event task).

Without a split column the clips are assigned, stratified by label with a fixed seed, to train/valid/test
(60/20/20) or, with `folds=K`, to K folds. The audio is mixed to mono, resampled to every requested
rate, padded or trimmed to the task's clip duration and written as 16-bit PCM WAV, as hear-preprocess
does. The task is assembled in a hidden temporary folder and renamed into place at the end, so an
interrupted build never leaves something that looks like a task.
"""

import csv
import json
import math
import os
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from hear_ssl.audio import resample
from hear_ssl.io import atomic_directory

from .tasks import HEAREVAL_SCORES, validate_task

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"}


@dataclass
class Clip:
    """One audio file of the task being built."""

    source: Path
    labels: list = field(default_factory=list)  # scene: label strings; event: (label, start_ms, end_ms)
    split: str = None


class BuildError(ValueError):
    """Bad builder input; the message names the file/row and the fix."""


def clips_from_folders(root):
    """One clip per audio file of `root/<label>/`, labelled by its sub-folder."""
    root = Path(root)
    if not root.is_dir():
        raise BuildError(f"{root}: not a folder; expected one sub-folder per class holding its audio files")
    clips = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
                clips.append(Clip(path, [class_dir.name]))
    if not clips:
        raise BuildError(f"{root}: no audio files found in class sub-folders ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return clips


def clips_from_csv(csv_path, audio_root=None, time_unit="s"):
    """Clips from a CSV (`file,label[,start,end][,split|fold]`), file paths relative to `audio_root`
    (default: the CSV's folder). Returns `(clips, split_column)` with split_column None/"split"/"fold"."""
    csv_path = Path(csv_path)
    audio_root = Path(audio_root) if audio_root else csv_path.parent
    scale = {"s": 1000.0, "ms": 1.0}[time_unit]
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "file" not in columns or "label" not in columns:
            raise BuildError(f"{csv_path}: needs a header with at least the columns file,label (found {columns})")
        if ("start" in columns) != ("end" in columns):
            raise BuildError(f"{csv_path}: give both start and end columns for events, or neither")
        split_column = "split" if "split" in columns else "fold" if "fold" in columns else None
        by_file = {}
        for line, row in enumerate(reader, start=2):
            source = (audio_root / row["file"]).resolve()
            if not source.is_file():
                raise BuildError(f"{csv_path}:{line}: audio file {source} not found")
            clip = by_file.setdefault(source, Clip(source))
            label = row["label"].strip()
            if not label:
                raise BuildError(f"{csv_path}:{line}: empty label")
            if "start" in columns:
                try:
                    start, end = float(row["start"]) * scale, float(row["end"]) * scale
                except ValueError:
                    raise BuildError(f"{csv_path}:{line}: start/end must be numbers ({time_unit})") from None
                if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
                    raise BuildError(f"{csv_path}:{line}: need 0 <= start <= end, got {row['start']}, {row['end']}")
                clip.labels.append((label, start, end))
            else:
                clip.labels.append(label)
            if split_column:
                split = row[split_column].strip()
                if clip.split is not None and clip.split != split:
                    raise BuildError(f"{csv_path}:{line}: {row['file']} is in two splits ({clip.split}, {split})")
                clip.split = split
    if not by_file:
        raise BuildError(f"{csv_path}: no rows")
    return list(by_file.values()), split_column


def assign_splits(clips, folds=None, seed=0, ratios=(0.6, 0.2, 0.2)):
    """Give every clip without a split one, stratified by (first) label with a seeded shuffle.

    Returns the ordered list of split names.
    """
    rng = random.Random(seed)
    names = [f"fold{i:02d}" for i in range(folds)] if folds else ["train", "valid", "test"]
    by_label = defaultdict(list)
    for clip in clips:
        first = clip.labels[0] if clip.labels else ""
        by_label[first[0] if isinstance(first, tuple) else first].append(clip)
    offset = 0
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        if folds:
            # Round-robin, continuing across labels, keeps folds balanced in size and in classes.
            for i, clip in enumerate(group):
                clip.split = names[(offset + i) % folds]
            offset += len(group)
        else:
            n = len(group)
            n_train, n_valid = round(n * ratios[0]), round(n * ratios[1])
            for i, clip in enumerate(group):
                clip.split = "train" if i < n_train else "valid" if i < n_train + n_valid else "test"
    return names


def build_task(
    clips,
    out_dir,
    name,
    version="v1.0.0",
    sample_rates=(16000,),
    duration=None,
    metrics=None,
    folds=None,
    seed=0,
    description="",
    progress=True,
    overwrite=False,
):
    """Write a HEAR task folder `out_dir/<name>-<version>-full` from clips.

    Parameters
    ----------
    clips : list of Clip
        With `split` set for all clips or for none (then assigned here).
    out_dir : Path
        The tasks folder to create the task in.
    name : str
        Task name (letters, digits, `_`).
    version : str
    sample_rates : sequence of int
        Rates to write (HEAR modules take 16000, 22050, 32000, 44100 or 48000).
    duration : float, optional
        Clip length in seconds; default: the 95th percentile of the source lengths (hear-preprocess's
        choice for most tasks), rounded up to 0.1 s.
    metrics : list of str, optional
        heareval metrics, primary first; default by task type (top1_acc, mAP, or
        event_onset_200ms_fms + segment_1s_er).
    folds : int, optional
        Assign K folds instead of train/valid/test when the clips carry no split.
    seed : int
    description : str
    progress : bool
    overwrite : bool
        Replace an existing task folder of the same name.

    Returns
    -------
    Path
        The task folder.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise BuildError(f"task name {name!r}: use letters, digits and underscores only")
    out_dir = Path(out_dir)
    target = out_dir / f"{name}-{version}-full"
    if target.exists() and not overwrite:
        raise BuildError(f"{target} exists; pass --overwrite to replace it")
    event = any(isinstance(lbl, tuple) for c in clips for lbl in c.labels)
    if event and not all(isinstance(lbl, tuple) for c in clips for lbl in c.labels):
        raise BuildError("mix of rows with and without start/end: an event task needs start and end on every row")
    have_split = [c.split is not None for c in clips]
    if any(have_split) and not all(have_split):
        raise BuildError("some clips have a split and some do not; give a split to every row or to none")
    if all(have_split):
        splits = sorted({c.split for c in clips})
        if set(splits) == {"train", "valid", "test"}:
            split_mode, splits = "trainvaltest", ["train", "valid", "test"]
        elif set(splits) & {"train", "valid", "test"}:
            raise BuildError(f"split column holds {splits}; use exactly train/valid/test, or fold names for k-fold")
        elif len(splits) < 3:
            raise BuildError(f"k-fold needs at least 3 folds, the fold column has {splits}")
        else:
            split_mode = "presplit_kfold"
    else:
        splits = assign_splits(clips, folds=folds, seed=seed)
        split_mode = "new_split_kfold" if folds else "trainvaltest"
    multilabel = event or any(len(c.labels) > 1 for c in clips)
    if metrics is None:
        metrics = ["event_onset_200ms_fms", "segment_1s_er"] if event else ["mAP"] if multilabel else ["top1_acc"]
    unknown = [m for m in metrics if m not in HEAREVAL_SCORES]
    if unknown:
        raise BuildError(f"unknown metrics {unknown}; heareval knows {', '.join(HEAREVAL_SCORES)}")
    lengths = [sf.info(str(c.source)).duration for c in clips]
    if duration is None:
        duration = math.ceil(float(np.percentile(lengths, 95)) * 10) / 10
    labels = sorted({lbl[0] if event else lbl for c in clips for lbl in c.labels})

    # Assembled in a hidden folder beside the target, renamed into place only once it validates.
    with atomic_directory(target) as tmp:
        names = _unique_names(clips)
        split_data = {s: {} for s in splits}
        for clip, file_name in tqdm(list(zip(clips, names)), desc=f"build {name}", disable=not progress):
            audio, sr = sf.read(str(clip.source), dtype=np.float32, always_2d=True)
            audio = audio.mean(axis=1)
            for rate in sample_rates:
                out = resample(audio, sr, rate)
                n = int(round(duration * rate))
                out = out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))
                path = tmp / str(rate) / clip.split / file_name
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), np.clip(out, -1.0, 1.0), rate, subtype="PCM_16")
            if event:
                limit = duration * 1000.0
                events = [{"label": lbl, "start": s, "end": min(e, limit)} for lbl, s, e in clip.labels if s < limit]
                split_data[clip.split][file_name] = events
            else:
                split_data[clip.split][file_name] = list(dict.fromkeys(clip.labels))
        for split, data in split_data.items():
            if not data:
                raise BuildError(f"split {split} would be empty; provide more clips or fewer folds")
            (tmp / f"{split}.json").write_text(json.dumps(data, indent=2))
        with open(tmp / "labelvocabulary.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["idx", "label"])
            writer.writerows(enumerate(labels))
        metadata = {
            "task_name": name,
            "version": version,
            "mode": "full",
            "embedding_type": "event" if event else "scene",
            "prediction_type": "multilabel" if multilabel else "multiclass",
            "split_mode": split_mode,
            "sample_duration": duration,
            "evaluation": list(metrics),
            "splits": splits,
            "description": description or f"built by hear-ssl tasks build from {len(clips)} clips",
        }
        if split_mode != "trainvaltest":
            metadata["nfolds"] = len(splits)
        (tmp / "task_metadata.json").write_text(json.dumps(metadata, indent=2))
        report = validate_task(tmp, check_audio=False)
        if not report.ok:
            raise BuildError("the built task does not validate:\n  " + "\n  ".join(report.problems))
    return target


def _unique_names(clips):
    """Flat, unique `.wav` names derived from the source paths (`dog/bark 1.flac` -> `dog_bark_1.wav`)."""
    names, seen = [], set()
    common = Path(os.path.commonpath([str(c.source.parent) for c in clips])) if clips else Path()
    for clip in clips:
        rel = clip.source.relative_to(common).with_suffix("")
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(rel.parts)) or "clip"
        candidate, i = f"{base}.wav", 1
        while candidate in seen:
            candidate, i = f"{base}_{i}.wav", i + 1
        seen.add(candidate)
        names.append(candidate)
    return names
