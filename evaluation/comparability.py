"""Whether a run's task and protocol can be set beside the published HEAR 2021 scores.

A folder named like an official task is not the official task: a subset, a rebuilt split or a
synthetic stand-in (`hear-ssl tasks synth`) carries the same name. Before the report shows a published
score next to ours, `check_task` compares the task the run used (its metadata, clip count per split
and label vocabulary, read from the copies the embedding stage keeps) with the official facts in
`official_tasks`. `protocol_differences` lists where the run's grid, grid points or backend differ
from the protocol the leaderboard was computed with.
"""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from .official_tasks import PUBLISHED_PROTOCOL, official_task


@dataclass
class Comparability:
    """Outcome of `check_task`.

    Attributes
    ----------
    official : OfficialTask or None
        The official task the folder name refers to (None: not a benchmark task).
    reasons : list of str
        Why it is not comparable (empty: comparable).
    unchecked : list of str
        Facts that could not be checked (no published value, or the task files were not found).
    """

    official: object = None
    reasons: list = field(default_factory=list)
    unchecked: list = field(default_factory=list)

    @property
    def comparable(self):
        return self.official is not None and not self.reasons


def read_task_facts(task_dir):
    """Metadata, clips per split and vocabulary size of a task folder (or a task's embedding folder).

    Returns
    -------
    dict or None
        `{"metadata", "split_clips", "n_labels"}`, None when the folder lacks the files.
    """
    task_dir = Path(task_dir)
    try:
        metadata = json.loads((task_dir / "task_metadata.json").read_text())
        with open(task_dir / "labelvocabulary.csv", newline="") as f:
            n_labels = sum(1 for _ in csv.DictReader(f))
        split_clips = {s: len(json.loads((task_dir / f"{s}.json").read_text())) for s in metadata["splits"]}
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None
    return {"metadata": metadata, "split_clips": split_clips, "n_labels": n_labels}


def check_task(folder, facts):
    """Compare a run's task with the official one of the same name.

    Parameters
    ----------
    folder : str
        The task folder name.
    facts : dict or None
        From `read_task_facts`.

    Returns
    -------
    Comparability
    """
    official = official_task(folder)
    result = Comparability(official)
    if official is None:
        return result
    if facts is None:
        result.reasons.append("the task files are not available to check against the official task")
        return result
    metadata, split_clips, n_labels = facts["metadata"], facts["split_clips"], facts["n_labels"]
    if metadata.get("synthetic"):
        result.reasons.append("synthetic stand-in (hear-ssl tasks synth)")
    for key, want in (
        ("embedding_type", official.embedding_type),
        ("prediction_type", official.prediction_type),
        ("split_mode", official.split_mode),
        ("evaluation", list(official.evaluation)),
        ("splits", official.splits),
    ):
        if metadata.get(key) != want:
            result.reasons.append(f"{key} {metadata.get(key)!r}, official {want!r}")
    if official.n_labels is None:
        result.unchecked.append("vocabulary size (not published)")
    elif n_labels != official.n_labels:
        result.reasons.append(f"{n_labels} labels, official {official.n_labels}")
    total = sum(split_clips.values())
    if official.n_clips is None:
        result.unchecked.append("clip count (not published)")
    elif total != official.n_clips:
        result.reasons.append(f"{total} clips, official {official.n_clips}")
    if official.split_clips:
        differing = [s for s, n in official.split_clips.items() if split_clips.get(s) != n]
        if differing:
            got = ", ".join(f"{s} {split_clips.get(s)}" for s in differing)
            want = ", ".join(f"{s} {official.split_clips[s]}" for s in differing)
            result.reasons.append(f"clips per split {got}; official {want}")
    else:
        result.unchecked.append("clips per split (not published)")
    return result


def protocol_differences(config):
    """Where a run's `run.json` protocol differs from the published one (list of sentences)."""
    out = []
    for key, label in (("grid", "grid"), ("grid_points", "grid points"), ("backend", "backend")):
        if config.get(key) != PUBLISHED_PROTOCOL[key]:
            out.append(f"{label} `{config.get(key)}` (published: `{PUBLISHED_PROTOCOL[key]}`)")
    return out
