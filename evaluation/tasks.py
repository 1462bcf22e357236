"""Find HEAR task folders and check them before any compute is spent on them.

A HEAR 2021 task folder (as written by hear-preprocess and read by heareval 2021.1.3) holds
`task_metadata.json`, `labelvocabulary.csv` (columns `idx,label`), one `<split>.json` per split
(file name -> labels; for event tasks a list of `{"label", "start", "end"}` in milliseconds) and the
audio under `<sample_rate>/<split>/<file name>`. `validate_task` checks all of it and returns every
problem found, each naming the file at fault, so a user fixes a broken task in one pass instead of
meeting the problems one crash at a time deep inside heareval.
"""

import csv
import fnmatch
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Facts about heareval 2021.1.3 (heareval/score.py `available_scores`): the metric names a task may
# list in `evaluation`, and the one metric that is minimised.
HEAREVAL_SCORES = (
    "top1_acc",
    "pitch_acc",
    "chroma_acc",
    "event_onset_200ms_fms",
    "event_onset_50ms_fms",
    "event_onset_offset_50ms_20perc_fms",
    "segment_1s_er",
    "mAP",
    "d_prime",
    "aucroc",
)
MINIMISED_SCORES = ("segment_1s_er",)
EMBEDDING_TYPES = ("scene", "event")
PREDICTION_TYPES = ("multiclass", "multilabel")
SPLIT_MODES = ("trainvaltest", "new_split_kfold", "presplit_kfold")
REQUIRED_METADATA = ("task_name", "embedding_type", "prediction_type", "split_mode", "splits", "evaluation")
# hear-preprocess pads or trims every clip to `sample_duration`; allow for rounding to whole samples.
DURATION_TOLERANCE_S = 0.01


@dataclass
class TaskReport:
    """What `validate_task` found about one task folder.

    Attributes
    ----------
    path : Path
        The task folder.
    metadata : dict or None
        Parsed `task_metadata.json` (None when unreadable).
    sample_rates : list of int
        Sample-rate folders present (e.g. `[16000, 48000]`).
    problems : list of str
        Every problem found, each starting with the offending path. Empty means the task is usable.
    """

    path: Path
    metadata: dict = None
    sample_rates: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def name(self):
        return self.path.name

    @property
    def ok(self):
        return not self.problems


def is_task_folder(path):
    """True if `path` is a folder holding a `task_metadata.json` (the HEAR marker of a task)."""
    path = Path(path)
    return path.is_dir() and (path / "task_metadata.json").is_file()


def discover_tasks(tasks_dir, patterns=None):
    """List the task folders of `tasks_dir`, ignoring stray entries with a warning.

    heareval's `--task all` treats every entry of the tasks folder as a task and crashes on a README
    or a half-extracted archive; here anything that is not a folder with a `task_metadata.json` is
    skipped and reported.

    Parameters
    ----------
    tasks_dir : str or Path
        A folder of HEAR task folders, or a single task folder.
    patterns : str or list of str, optional
        Shell-style patterns (`fnmatch`) on folder names, e.g. `"office_events*,gm_*"`; a task is
        kept if any pattern matches.

    Returns
    -------
    list of Path
        Sorted task folders.

    Raises
    ------
    FileNotFoundError
        If `tasks_dir` is not a folder.
    ValueError
        If patterns were given and nothing matched (names the available tasks).
    """
    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        raise FileNotFoundError(
            f"tasks folder {tasks_dir} does not exist; pass --tasks-dir pointing at a folder of HEAR tasks "
            "(build one with `hear-ssl tasks build` or fetch the official ones with `hear-ssl tasks download`)"
        )
    if is_task_folder(tasks_dir):
        found = [tasks_dir]
    else:
        found = []
        for entry in sorted(tasks_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            if is_task_folder(entry):
                found.append(entry)
            else:
                log.warning("ignoring %s: not a HEAR task folder (no task_metadata.json)", entry)
    if patterns:
        if isinstance(patterns, str):
            patterns = [p for p in patterns.split(",") if p]
        selected = [t for t in found if any(fnmatch.fnmatch(t.name, p) for p in patterns)]
        if not selected:
            raise ValueError(
                f"no task in {tasks_dir} matches {','.join(patterns)}; available: "
                + (", ".join(t.name for t in found) or "none")
            )
        found = selected
    return found


def validate_task(task_dir, sample_rate=None, check_audio=True):
    """Check one task folder against the HEAR 2021 task format; collect every problem.

    Parameters
    ----------
    task_dir : str or Path
    sample_rate : int, optional
        Check the audio at this rate. If the folder has no such rate the audio is checked at the
        highest rate present (the harness resamples from it).
    check_audio : bool
        Open every audio file's header (existence, sample rate, channels, duration). Costs one
        header read per file.

    Returns
    -------
    TaskReport
    """
    task_dir = Path(task_dir)
    report = TaskReport(path=task_dir)
    problems = report.problems
    meta_path = task_dir / "task_metadata.json"
    metadata = _read_json(meta_path, problems, "missing")
    if metadata is None:
        return report
    if not isinstance(metadata, dict):
        problems.append(f"{meta_path}: must be a JSON object")
        return report
    report.metadata = metadata
    _check_metadata(meta_path, metadata, problems)

    vocab = _check_vocabulary(task_dir / "labelvocabulary.csv", problems)
    report.sample_rates = sorted(int(p.name) for p in task_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not report.sample_rates:
        problems.append(f"{task_dir}: no audio folder; expected <sample_rate>/<split>/ such as 16000/train/")

    splits = metadata.get("splits") if isinstance(metadata.get("splits"), list) else []
    seen = {}
    for split in splits:
        split_path = task_dir / f"{split}.json"
        data = _check_split_labels(split_path, metadata, vocab, problems)
        if data is None:
            continue
        for name in data:
            if name in seen:
                problems.append(f"{split_path}: {name} is also in split {seen[name]}")
            seen.setdefault(name, split)
        if report.sample_rates:
            rate = sample_rate if sample_rate in report.sample_rates else report.sample_rates[-1]
            _check_audio(task_dir / str(rate) / split, rate, data, metadata, problems, check_audio)
    return report


def _check_metadata(meta_path, metadata, problems):
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        problems.append(f"{meta_path}: missing keys {', '.join(missing)}")
    if metadata.get("embedding_type", "scene") not in EMBEDDING_TYPES:
        problems.append(f"{meta_path}: embedding_type must be one of {EMBEDDING_TYPES}")
    if metadata.get("prediction_type", "multiclass") not in PREDICTION_TYPES:
        problems.append(f"{meta_path}: prediction_type must be one of {PREDICTION_TYPES}")
    if metadata.get("embedding_type") == "event" and metadata.get("prediction_type") != "multilabel":
        problems.append(f"{meta_path}: event tasks must be multilabel (heareval trains frame-wise sigmoids)")
    evaluation = metadata.get("evaluation", [])
    if not isinstance(evaluation, list) or not evaluation:
        problems.append(f"{meta_path}: evaluation must be a non-empty list of metric names")
    else:
        unknown = [e for e in evaluation if e not in HEAREVAL_SCORES]
        if unknown:
            problems.append(f"{meta_path}: unknown metrics {unknown}; heareval knows {', '.join(HEAREVAL_SCORES)}")
    splits = metadata.get("splits", [])
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        problems.append(f"{meta_path}: splits must be a list of split names")
        return
    mode = metadata.get("split_mode")
    if mode == "trainvaltest" and sorted(splits) != ["test", "train", "valid"]:
        problems.append(f"{meta_path}: split_mode trainvaltest needs splits train, valid, test (got {splits})")
    elif mode in ("new_split_kfold", "presplit_kfold") and len(splits) < 3:
        # heareval tests on fold k, validates on fold k+1 and trains on the rest: 3 folds minimum.
        problems.append(f"{meta_path}: k-fold tasks need at least 3 folds (got {len(splits)})")
    elif mode is not None and mode not in SPLIT_MODES:
        problems.append(f"{meta_path}: split_mode must be one of {SPLIT_MODES}")
    duration = metadata.get("sample_duration")
    if duration is not None and (not isinstance(duration, (int, float)) or duration <= 0):
        problems.append(f"{meta_path}: sample_duration must be a positive number of seconds or null")


def _check_vocabulary(path, problems):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        problems.append(f"{path}: missing (needs columns idx,label)")
        return None
    if not rows or "idx" not in rows[0] or "label" not in rows[0]:
        problems.append(f"{path}: needs a header with columns idx,label and one row per label")
        return None
    try:
        idx = sorted(int(r["idx"]) for r in rows)
    except ValueError:
        problems.append(f"{path}: idx must be integers")
        return None
    if idx != list(range(len(rows))):
        problems.append(f"{path}: idx must run 0..{len(rows) - 1} without gaps or repeats")
    labels = [r["label"] for r in rows]
    if len(set(labels)) != len(labels):
        problems.append(f"{path}: repeated labels")
    return set(labels)


def _read_json(path, problems, missing_message):
    """The parsed file, or None with the problem recorded (missing or not JSON)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        problems.append(f"{path}: {missing_message}")
    except json.JSONDecodeError as err:
        problems.append(f"{path}: not valid JSON ({err})")
    return None


def _check_split_labels(path, metadata, vocab, problems):
    data = _read_json(path, problems, "missing (listed in task_metadata.json splits)")
    if data is None:
        return None
    if not isinstance(data, dict) or not data:
        problems.append(f"{path}: must be a non-empty JSON object mapping file name -> labels")
        return None
    event = metadata.get("embedding_type") == "event"
    multiclass = metadata.get("prediction_type") == "multiclass"
    bad = []
    unknown = set()
    for name, labels in data.items():
        if not isinstance(labels, list):
            bad.append(f"{name}: labels must be a list")
            continue
        if event:
            for ev in labels:
                if not (isinstance(ev, dict) and {"label", "start", "end"} <= set(ev)):
                    bad.append(f"{name}: events need label, start, end (ms)")
                    break
                if not all(isinstance(ev[k], (int, float)) and math.isfinite(ev[k]) for k in ("start", "end")):
                    bad.append(f"{name}: event start/end must be finite numbers of milliseconds")
                    break
                if ev["end"] < ev["start"]:
                    bad.append(f"{name}: event ends before it starts ({ev})")
                    break
                if vocab is not None and str(ev["label"]) not in vocab:
                    unknown.add(str(ev["label"]))
        else:
            if multiclass and len(labels) != 1:
                bad.append(f"{name}: a multiclass scene task needs exactly one label (got {len(labels)})")
            unknown.update(str(lbl) for lbl in labels if vocab is not None and str(lbl) not in vocab)
    for msg in bad[:5]:
        problems.append(f"{path}: {msg}")
    if len(bad) > 5:
        problems.append(f"{path}: ... and {len(bad) - 5} more files with bad labels")
    if unknown:
        problems.append(f"{path}: labels not in labelvocabulary.csv: {sorted(unknown)[:10]}")
    return data


def _check_audio(audio_dir, rate, data, metadata, problems, check_headers):
    if not audio_dir.is_dir():
        problems.append(f"{audio_dir}: missing audio folder")
        return
    missing = [name for name in data if not (audio_dir / name).is_file()]
    if missing:
        problems.append(f"{audio_dir}: {len(missing)} audio files missing, e.g. {missing[:3]}")
    if not check_headers:
        return
    import soundfile as sf

    duration = metadata.get("sample_duration")
    bad = []
    for name in data:
        path = audio_dir / name
        if not path.is_file():
            continue
        try:
            info = sf.info(str(path))
        except RuntimeError as err:
            bad.append(f"{name}: unreadable ({err})")
            continue
        if info.samplerate != rate:
            bad.append(f"{name}: sample rate {info.samplerate}, folder says {rate}")
        if info.channels != 1:
            bad.append(f"{name}: {info.channels} channels, HEAR audio is mono")
        if duration is not None and abs(info.frames / info.samplerate - duration) > DURATION_TOLERANCE_S:
            bad.append(f"{name}: {info.frames / info.samplerate:.3f} s long, sample_duration is {duration} s")
    for msg in bad[:5]:
        problems.append(f"{audio_dir}: {msg}")
    if len(bad) > 5:
        problems.append(f"{audio_dir}: ... and {len(bad) - 5} more audio problems")
