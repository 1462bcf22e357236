"""Before a run: expected disk, memory and embedding time per (model, task), from measured costs.

`hear-ssl tasks plan TASKS_DIR --modules ...` reads each task's split files (clip counts; durations
from `sample_duration`, or every audio header where clips keep their own length) and loads each
module once to measure, on this machine, its embedding sizes, its timestamp hop and its cost per
second of audio (scene and timestamp paths, after a warm-up). From those it computes:

- disk: the embedding stage's files (per-clip `.npy` plus the split memmap, both float32, plus the
  per-frame label/timestamp JSON of event tasks, ~80 bytes a frame) and the resampled-audio cache
  (float32 WAV at the model's rate, when the task lacks that rate);
- memory: the longest clip at the model's rate and its timestamp embeddings (embedding stage), and the
  embeddings of all splits resident at once (what the fast backend keeps in memory);
- time: embedding seconds = audio seconds x measured seconds per audio second. Downstream training is
  not estimated: it depends on early stopping; `docs/evaluation.md` lists measured prediction times.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tasks import discover_tasks

_FRAME_JSON_BYTES = 80  # per event frame: target-labels, timestamps and filename-timestamps JSON rows
_NPY_HEADER = 128


@dataclass
class TaskShape:
    """What a task asks of the embedding stage: clips, audio seconds, longest clip, its sample rates."""

    name: str
    embedding_type: str
    clips: int
    seconds: float
    longest_s: float
    rates: list


@dataclass
class ModuleCost:
    """A module's sizes and measured speed on this machine."""

    slug: str
    sample_rate: int
    scene_size: int
    timestamp_size: int
    hop_ms: float
    scene_s_per_s: float
    timestamp_s_per_s: float


def task_shape(task_dir):
    """Clip count, total and longest duration of a task folder (headers read only for variable lengths)."""
    task_dir = Path(task_dir)
    metadata = json.loads((task_dir / "task_metadata.json").read_text())
    rates = sorted(int(p.name) for p in task_dir.iterdir() if p.is_dir() and p.name.isdigit())
    durations = []
    for split in metadata["splits"]:
        names = list(json.loads((task_dir / f"{split}.json").read_text()))
        if metadata.get("sample_duration"):
            durations += [float(metadata["sample_duration"])] * len(names)
        else:
            import soundfile as sf

            folder = task_dir / str(rates[-1]) / split
            durations += [sf.info(str(folder / n)).duration for n in names]
    return TaskShape(
        task_dir.name, metadata["embedding_type"], len(durations), sum(durations), max(durations, default=0), rates
    )


def official_shapes():
    """Shapes of the 20 official task folders from `official_tasks` (48 kHz archives).

    FSD50K keeps each clip's own length (0.3-30 s) and no source read here gives its total; it is
    counted at its 30-s maximum, so its figures are upper bounds.
    """
    from .official_tasks import ARCHIVE_SAMPLE_RATE, OFFICIAL

    out = []
    for task in OFFICIAL:
        length = task.sample_duration or task.duration_range[1]
        out.append(
            TaskShape(
                task.folder, task.embedding_type, task.n_clips, task.n_clips * length, length, [ARCHIVE_SAMPLE_RATE]
            )
        )
    return out


def measure_module(spec, probe_seconds=10.0, repeats=2):
    """Load a module and time its scene and timestamp embeddings on `probe_seconds` of noise.

    Returns
    -------
    ModuleCost
    """
    from .embeddings import HearModel

    module, model = spec.load()
    hear = HearModel(module, model)
    rate = hear.sample_rate
    audio = (np.random.default_rng(0).standard_normal((1, int(probe_seconds * rate))) * 0.1).astype(np.float32)
    scene = hear.scene(audio[:, :rate])  # warm-up
    frames, stamps = hear.timestamps(audio[:, : 2 * rate])
    hop = float(np.diff(stamps[0]).mean()) if stamps.shape[1] > 1 else float("nan")

    def timed(fn):
        start = time.perf_counter()
        for _ in range(repeats):
            fn(audio)
        return (time.perf_counter() - start) / repeats / probe_seconds

    return ModuleCost(
        spec.slug, rate, scene.shape[-1], frames.shape[-1], hop, timed(hear.scene), timed(hear.timestamps)
    )


def plan_rows(shapes, costs):
    """One estimate per (model, task): `{"model", "task", "disk_bytes", "cache_bytes", "memory_bytes", "embed_s"}`."""
    rows = []
    for cost in costs:
        for shape in shapes:
            event = shape.embedding_type == "event"
            size = cost.timestamp_size if event else cost.scene_size
            if event:
                n_rows = shape.seconds * 1000 / cost.hop_ms + shape.clips
                longest_rows = shape.longest_s * 1000 / cost.hop_ms + 1
            else:
                n_rows, longest_rows = shape.clips, 1
            disk = 2 * n_rows * size * 4 + shape.clips * _NPY_HEADER + (n_rows * _FRAME_JSON_BYTES if event else 0)
            cache = 0 if cost.sample_rate in shape.rates else shape.seconds * cost.sample_rate * 4
            longest = shape.longest_s * (max(shape.rates) + cost.sample_rate) * 4 + longest_rows * size * 4
            memory = max(longest, n_rows * size * 4)
            per_s = cost.timestamp_s_per_s if event else cost.scene_s_per_s
            rows.append(
                {
                    "model": cost.slug,
                    "task": shape.name,
                    "clips": shape.clips,
                    "audio_hours": shape.seconds / 3600,
                    "embedding_rows": int(n_rows),
                    "embedding_size": size,
                    "disk_bytes": int(disk),
                    "cache_bytes": int(cache),
                    "memory_bytes": int(memory),
                    "embed_s": shape.seconds * per_s,
                }
            )
    return rows


def plan(tasks_dir, specs, tasks=None):
    """Measure `specs` and estimate every (model, task) of `tasks_dir` (None: the official suite).

    Returns
    -------
    tuple of (list of ModuleCost, list of dict)
    """
    if tasks_dir is None:
        shapes = official_shapes()
    else:
        shapes = [task_shape(t) for t in discover_tasks(tasks_dir, tasks)]
    costs = [measure_module(spec) for spec in specs]
    return costs, plan_rows(shapes, costs)


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def to_markdown(costs, rows):
    """The plan as Markdown: measured module costs, then one row per (model, task), then totals."""
    lines = ["| model | rate | scene / timestamp size | hop (ms) | scene s per audio s | timestamp s per audio s |"]
    lines.append("|---|---|---|---|---|---|")
    for c in costs:
        lines.append(
            f"| {c.slug} | {c.sample_rate} | {c.scene_size} / {c.timestamp_size} | {c.hop_ms:.0f} "
            f"| {c.scene_s_per_s:.4f} | {c.timestamp_s_per_s:.4f} |"
        )
    lines += [
        "",
        "| model | task | clips | audio (h) | embedding rows × size | disk | resample cache | memory | "
        "embedding time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['task']} | {r['clips']} | {r['audio_hours']:.2f} | "
            f"{r['embedding_rows']} × {r['embedding_size']} | {_size(r['disk_bytes'])} | {_size(r['cache_bytes'])} | "
            f"{_size(r['memory_bytes'])} | {r['embed_s'] / 60:.1f} min |"
        )
    for c in costs:
        mine = [r for r in rows if r["model"] == c.slug]
        lines.append(
            f"| {c.slug} | **total** | {sum(r['clips'] for r in mine)} | {sum(r['audio_hours'] for r in mine):.1f} | "
            f"| {_size(sum(r['disk_bytes'] for r in mine))} | {_size(sum(r['cache_bytes'] for r in mine))} | "
            f"{_size(max((r['memory_bytes'] for r in mine), default=0))} (max) | "
            f"{sum(r['embed_s'] for r in mine) / 3600:.1f} h |"
        )
    return "\n".join(lines)
