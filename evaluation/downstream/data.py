"""Read one task's embeddings in heareval 2021.1.3's on-disk format into memory.

The folder is what heareval's embedding runner (and `hear_ssl.evaluation.embeddings`) writes and what
`heareval.predictions.runner` reads:

- `task_metadata.json`, `labelvocabulary.csv` (`idx,label`), `<split>.json` (the task's labels);
- `<split>.embedding-dimensions.json`: `[N, D]`;
- `<split>.embeddings.npy`: a raw float32 `(N, D)` memmap (no .npy header);
- `<split>.target-labels.pkl`: N label lists (scene: the clip's labels; event: the labels at one frame);
- `<split>.filename-timestamps.json` (event tasks): `[path, timestamp_ms]` per row.

All splits are stacked into one `(N_total, D)` array so every model indexes the same device tensor.
"""

import csv
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class TaskData:
    """One task's embeddings, targets and (for event tasks) frame metadata, all splits stacked.

    Attributes
    ----------
    path : Path
        The embeddings folder.
    metadata : dict
        `task_metadata.json`.
    labels : list of str
        The label vocabulary, by index.
    embeddings : numpy.ndarray
        `(N_total, D)` float32, the splits in `metadata["splits"]` order.
    targets : numpy.ndarray
        `(N_total, C)` float32 multi-hot targets.
    rows : dict of str to (int, int)
        Each split's `[start, stop)` row range in the stacked arrays.
    filenames : list of str or None
        Event tasks: the clip file name of every row (heareval keys events on `Path(name).name`).
    timestamps : numpy.ndarray or None
        Event tasks: `(N_total,)` frame centres in ms.
    target_events : dict of str to dict
        Event tasks: each split's `<split>.json` (file name -> list of `{label, start, end}` in ms).
    """

    path: Path
    metadata: dict
    labels: list
    embeddings: np.ndarray
    targets: np.ndarray
    rows: dict
    filenames: list = None
    timestamps: np.ndarray = None
    target_events: dict = field(default_factory=dict)

    @property
    def is_event(self):
        return self.metadata["embedding_type"] == "event"

    @property
    def multiclass(self):
        return self.metadata["prediction_type"] == "multiclass"

    @property
    def label_to_idx(self):
        return {label: i for i, label in enumerate(self.labels)}

    def indices(self, split_names):
        """Row indices of the named splits, concatenated in the order given (heareval's ConcatDataset)."""
        return np.concatenate([np.arange(*self.rows[name]) for name in split_names])

    def events_of(self, split_names):
        """The target events of the named splits merged into one dict (file name -> events)."""
        merged = {}
        for name in split_names:
            merged.update(self.target_events[name])
        return merged


def _need(path, what):
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing ({what}); the folder must be a task's embeddings in heareval's format, "
            "as written by `hear-ssl evaluate` or heareval.embeddings.runner"
        )
    return path


def read_label_vocabulary(path):
    """`labelvocabulary.csv` as a list of labels by index (labels compared as strings, as heareval does)."""
    with open(_need(path, "label vocabulary")) as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"idx", "label"} <= set(rows[0]):
        raise ValueError(f"{path}: expected columns idx,label")
    by_idx = {int(r["idx"]): str(r["label"]) for r in rows}
    if sorted(by_idx) != list(range(len(by_idx))):
        raise ValueError(f"{path}: indices must be 0..{len(by_idx) - 1} without gaps")
    return [by_idx[i] for i in range(len(by_idx))]


def load_task(path):
    """Load a heareval-format task embeddings folder.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    TaskData

    Raises
    ------
    FileNotFoundError
        A required file is missing (the message names it).
    ValueError
        Inconsistent sizes, non-finite embeddings, or labels outside the vocabulary.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder of task embeddings")
    metadata = json.loads(_need(path / "task_metadata.json", "task metadata").read_text())
    for key in ("task_name", "embedding_type", "prediction_type", "split_mode", "splits", "evaluation"):
        if key not in metadata:
            raise ValueError(f"{path / 'task_metadata.json'}: missing key {key!r}")
    if metadata["embedding_type"] not in ("scene", "event"):
        raise ValueError(f"{path}: embedding_type must be scene or event, got {metadata['embedding_type']!r}")
    if metadata["prediction_type"] not in ("multiclass", "multilabel"):
        raise ValueError(f"{path}: prediction_type must be multiclass or multilabel")
    labels = read_label_vocabulary(path / "labelvocabulary.csv")
    label_to_idx = {label: i for i, label in enumerate(labels)}
    is_event = metadata["embedding_type"] == "event"

    blocks, targets, rows, filenames, timestamps, target_events = [], [], {}, [], [], {}
    start, dim = 0, None
    for split in metadata["splits"]:
        n, d = json.loads(_need(path / f"{split}.embedding-dimensions.json", "embedding sizes").read_text())
        if dim is not None and d != dim:
            raise ValueError(f"{path}: split {split} has {d}-d embeddings, earlier splits {dim}-d")
        dim = d
        emb_path = _need(path / f"{split}.embeddings.npy", "embedding memmap")
        emb = np.fromfile(emb_path, dtype=np.float32)
        if emb.size != n * d:
            raise ValueError(f"{emb_path}: {emb.size} floats, {split}.embedding-dimensions.json says {n} x {d}")
        emb = emb.reshape(n, d)
        if not np.isfinite(emb).all():
            raise ValueError(f"{emb_path}: contains NaN or infinite values; fix the embedding model")
        with open(_need(path / f"{split}.target-labels.pkl", "target labels"), "rb") as f:
            split_labels = pickle.load(f)
        if len(split_labels) != n:
            raise ValueError(f"{path}: {split}.target-labels.pkl has {len(split_labels)} rows, embeddings {n}")
        y = np.zeros((n, len(labels)), dtype=np.float32)
        for i, row_labels in enumerate(split_labels):
            for label in row_labels:
                if str(label) not in label_to_idx:
                    raise ValueError(f"{path}: label {label!r} in split {split} is not in labelvocabulary.csv")
                y[i, label_to_idx[str(label)]] = 1.0
        if metadata["prediction_type"] == "multiclass" and not (y.sum(1) == 1).all():
            bad = int(np.flatnonzero(y.sum(1) != 1)[0])
            raise ValueError(f"{path}: multiclass task, but row {bad} of split {split} has {int(y[bad].sum())} labels")
        if is_event:
            ft = json.loads(_need(path / f"{split}.filename-timestamps.json", "frame file names").read_text())
            if len(ft) != n:
                raise ValueError(f"{path}: {split}.filename-timestamps.json has {len(ft)} rows, embeddings {n}")
            filenames += [Path(name).name for name, _ in ft]
            timestamps += [float(t) for _, t in ft]
            target_events[split] = json.loads(_need(path / f"{split}.json", "target events").read_text())
        blocks.append(emb)
        targets.append(y)
        rows[split] = (start, start + n)
        start += n
    return TaskData(
        path=path,
        metadata=metadata,
        labels=labels,
        embeddings=np.concatenate(blocks),
        targets=np.concatenate(targets),
        rows=rows,
        filenames=filenames if is_event else None,
        timestamps=np.asarray(timestamps, dtype=np.float64) if is_event else None,
        target_events=target_events,
    )
