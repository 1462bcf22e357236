"""Resample a task's audio to a model's sample rate, once, into a cache folder.

The public Zenodo copy of the HEAR 2021 tasks ships 48 kHz audio only, while our models (and most
HEAR modules) take 16 kHz. When a task folder lacks `<rate>/`, the harness converts the highest rate
present into `<cache>/<task>/<rate>/<split>/` and points the embedding stage there. Each file is
written atomically, each finished split gets a sentinel, so an interrupted conversion resumes where
it stopped and a finished one is reused by every later module and run sharing the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from hear_ssl.audio import resample
from hear_ssl.io import atomic_path


def audio_dir_for(
    task_dir: str | os.PathLike, sample_rate: int, cache_dir: str | os.PathLike, progress: bool = True
) -> Path:
    """The folder holding `<split>/<file>` at `sample_rate` for this task, resampling if needed.

    Parameters
    ----------
    task_dir : str or PathLike
        HEAR task folder.
    sample_rate : int
        The model's rate.
    cache_dir : str or PathLike
        Where resampled copies live (`<cache>/<task folder>/<rate>/`).
    progress : bool

    Returns
    -------
    Path
        `task_dir/<rate>` if present, else the (now complete) cached copy.

    Raises
    ------
    FileNotFoundError
        If the task has no audio at any rate.
    """
    task_dir = Path(task_dir)
    native = task_dir / str(sample_rate)
    if native.is_dir():
        return native
    rates = sorted(int(p.name) for p in task_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not rates:
        raise FileNotFoundError(f"{task_dir}: no audio folder at any sample rate")
    # Prefer the lowest rate above the target (least work, no information lost), else the highest.
    source_rate = min([r for r in rates if r > sample_rate] or [rates[-1]])
    target = Path(cache_dir) / task_dir.name / str(sample_rate)
    metadata = json.loads((task_dir / "task_metadata.json").read_text())
    for split in metadata["splits"]:
        done = target / f".done-{split}"
        if done.exists():
            continue
        names = list(json.loads((task_dir / f"{split}.json").read_text()))
        out_split = target / split
        out_split.mkdir(parents=True, exist_ok=True)
        desc = f"resample {task_dir.name}/{split} {source_rate}->{sample_rate} Hz"
        for name in tqdm(names, desc=desc, disable=not progress):
            out = out_split / name
            if out.exists():  # written atomically by an earlier, interrupted pass
                continue
            audio, sr = sf.read(str(task_dir / str(source_rate) / split / name), dtype=np.float32)
            if sr != source_rate:
                raise ValueError(
                    f"{task_dir / str(source_rate) / split / name}: sample rate {sr}, folder says {source_rate}"
                )
            with atomic_path(out) as tmp:
                sf.write(
                    str(tmp), resample(audio, source_rate, sample_rate), sample_rate, subtype="FLOAT", format="WAV"
                )
        done.touch()
    return target
