"""The embedding stage: run a HEAR module over a task and write heareval 2021.1.3's on-disk format.

heareval's own runner (`heareval.embeddings.runner`) imports tensorflow at module level and refuses to
start when torch sees a GPU that tensorflow does not. This stage writes byte-for-byte the same files
without importing tensorflow (a TF-based HEAR module still works: tensorflow is imported only when the
module's model is a `tf.Module`). `tests/test_eval_embeddings.py` runs both on the same task and
compares every file.

The format, per task folder `<out>/`:

- `task_metadata.json`, `labelvocabulary.csv`, `<split>.json`: copies of the task's files;
- `<split>/<file>.embedding.npy`: one clip's embedding (scene: `(D,)`; event: `(T, D)`);
- `<split>/<file>.target-labels.json`: scene: the clip's label list; event: one label list per timestamp;
- `<split>/<file>.timestamps.json` (event only): the `T` frame centres in milliseconds;
- `<split>.embedding-dimensions.json`: `[N, D]`, N embeddings in the split (clips, or frames for events);
- `<split>.embeddings.npy`: a raw float32 memmap `(N, D)` (no .npy header, despite the name), the clips
  in the order of a `random.Random(0)` shuffle shared by the splits in metadata order;
- `<split>.target-labels.pkl`: the N label lists in the same order;
- `<split>.filename-timestamps.json` (event only): `[path-without-suffix, timestamp]` per row;
- `profile.embeddings.json`, and the `.done.embeddings` sentinel, written last.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from hear_ssl.io import choose_device

from .jsonio import write_json

DONE = ".done.embeddings"


def heareval_batch_size(sample_duration, sample_rate):
    """heareval 2021.1.3's batch size rule: about 84 s of 16 kHz audio per batch, 1 if lengths vary.

    Keeping the same batches keeps the numbers identical to heareval's runner (a model's arithmetic
    can depend on the batch size) and bounds memory the same way.
    """
    if sample_duration is None:
        return 1
    return max(1, int(0.7 * (120 / sample_duration) * (16000 / sample_rate)))


def is_done(embed_task_dir):
    """True if the embeddings of this task were completely written (the sentinel exists)."""
    return (Path(embed_task_dir) / DONE).exists()


class HearModel:
    """A loaded HEAR module plus its model, called the way heareval calls it.

    Parameters
    ----------
    module : module
        An imported HEAR module (`load_model`, `get_scene_embeddings`, `get_timestamp_embeddings`).
    model : torch.nn.Module or tf.Module
        What `module.load_model(...)` returned.
    device : str, optional
        For torch models: "auto" (the default: CUDA when available, as heareval does), "cpu", "cuda[:N]".
    """

    def __init__(self, module: ModuleType, model, device: str | torch.device | None = None):
        self.module = module
        self.model = model
        if isinstance(model, torch.nn.Module):
            self.kind = "torch"
            self.device = choose_device(device or "auto")
            self.model.to(self.device)
        else:
            self.kind = "tf"
            import tensorflow as tf  # only TF-based modules pay for this import

            if not isinstance(model, tf.Module):
                raise TypeError(
                    f"{module.__name__}.load_model returned {type(model).__name__}; a HEAR model must be a "
                    "torch.nn.Module or a tf.Module"
                )
            self.device = "tf"
        for attr in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size"):
            if not hasattr(model, attr):
                raise AttributeError(f"{module.__name__}: the model has no `{attr}` attribute (HEAR API)")

    @property
    def sample_rate(self):
        return int(self.model.sample_rate)

    def _as_input(self, audio):
        if self.kind == "torch":
            return torch.from_numpy(audio).to(self.device)
        import tensorflow as tf

        return tf.convert_to_tensor(audio)

    @staticmethod
    def _to_numpy(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x.numpy()

    def scene(self, audio):
        """`(B, N)` float32 numpy -> `(B, D)` numpy."""
        with torch.no_grad():
            return self._to_numpy(self.module.get_scene_embeddings(self._as_input(audio), self.model))

    def timestamps(self, audio):
        """`(B, N)` float32 numpy -> embeddings `(B, T, D)`, timestamps `(B, T)` in ms (numpy)."""
        with torch.no_grad():
            emb, ts = self.module.get_timestamp_embeddings(self._as_input(audio), self.model)
        return self._to_numpy(emb), self._to_numpy(ts)


def labels_at_timestamps(events, timestamps):
    """The labels active at each timestamp, with heareval's rule: `start <= t < end + 0.0001` (ms).

    Parameters
    ----------
    events : list of dict
        `{"label", "start", "end"}` in milliseconds.
    timestamps : numpy.ndarray
        `(T,)` frame centres in ms, compared in their own dtype as heareval does.

    Returns
    -------
    list of list of str
        `T` label lists. Identical events count once (heareval stores them in an interval set).
    """
    unique = list(dict.fromkeys((ev["start"], ev["end"] + 0.0001, ev["label"]) for ev in events))
    return [[label for start, end, label in unique if start <= t < end] for t in timestamps]


def compute_task_embeddings(hear_model, task_dir, out_dir, audio_dir=None, progress=True):
    """Embed every split of one task into `out_dir` in heareval's format (see module docstring).

    Parameters
    ----------
    hear_model : HearModel
    task_dir : Path
        The HEAR task folder (metadata, vocabulary, split files).
    out_dir : Path
        Output folder; removed first if it exists without the `.done.embeddings` sentinel.
    audio_dir : Path, optional
        Folder holding `<split>/<file>` at the model's sample rate; defaults to
        `task_dir/<sample_rate>` (pass a resampled cache otherwise).
    progress : bool
        Show tqdm bars.

    Returns
    -------
    dict
        The profile written to `profile.embeddings.json`.
    """
    task_dir, out_dir = Path(task_dir), Path(out_dir)
    audio_dir = Path(audio_dir) if audio_dir else task_dir / str(hear_model.sample_rate)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    metadata = json.loads((task_dir / "task_metadata.json").read_text())
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.time()
    shutil.copy(task_dir / "task_metadata.json", out_dir)
    shutil.copy(task_dir / "labelvocabulary.csv", out_dir)
    # One generator for the whole task, advanced split by split: heareval's memmap row order.
    prng = random.Random()
    prng.seed(0)
    batch_size = heareval_batch_size(metadata.get("sample_duration"), hear_model.sample_rate)
    for split in metadata["splits"]:
        shutil.copy(task_dir / f"{split}.json", out_dir)
        split_data = json.loads((task_dir / f"{split}.json").read_text())
        split_out = out_dir / split
        split_out.mkdir()
        names = list(split_data)
        bar = tqdm(
            range(0, len(names), batch_size), desc=f"{task_dir.name}/{split}", unit="batch", disable=not progress
        )
        for i in bar:
            batch = names[i : i + batch_size]
            audio = np.stack([_read_audio(audio_dir / split / name, hear_model.sample_rate) for name in batch])
            if metadata["embedding_type"] == "scene":
                emb = hear_model.scene(audio)
                for j, name in enumerate(batch):
                    save_clip(split_out, name, emb[j], split_data[name])
            else:
                emb, ts = hear_model.timestamps(audio)
                for j, name in enumerate(batch):
                    save_clip(split_out, name, emb[j], split_data[name], ts[j])
        write_split_memmap(out_dir, split, metadata, prng)
    profile = {
        "time_elapsed": time.time() - start,
        "gpu_max_mem": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "gpu_device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    write_json(out_dir / "profile.embeddings.json", profile)
    (out_dir / DONE).touch()
    return profile


def save_clip(split_out, name, embedding, labels, timestamps=None):
    """Write one clip's files: embedding, target labels and, for event tasks, timestamps.

    Parameters
    ----------
    split_out : Path
        `<task out>/<split>/`.
    name : str
        The clip's file name in the split JSON.
    embedding : numpy.ndarray
        `(D,)` scene embedding, or `(T, D)` timestamp embeddings.
    labels : list
        The clip's entry in the split JSON (scene: labels; event: event dicts in ms).
    timestamps : numpy.ndarray, optional
        `(T,)` frame centres in ms; given for event tasks only.
    """
    np.save(split_out / f"{name}.embedding.npy", embedding)
    if timestamps is None:
        (split_out / f"{name}.target-labels.json").write_text(json.dumps(labels))
    else:
        (split_out / f"{name}.timestamps.json").write_text(json.dumps(timestamps.tolist()))
        frame_labels = labels_at_timestamps(labels, timestamps)
        (split_out / f"{name}.target-labels.json").write_text(json.dumps(frame_labels, indent=4))


def _read_audio(path, sample_rate):
    audio, sr = sf.read(str(path), dtype=np.float32)
    if sr != sample_rate:
        raise ValueError(f"{path}: sample rate {sr}, the model expects {sample_rate}")
    if audio.ndim != 1:
        raise ValueError(f"{path}: {audio.shape[1]} channels; HEAR task audio must be mono")
    return audio


def write_split_memmap(out_dir, split, metadata, prng):
    """Gather the per-clip files of a split into the raw memmap + label pickle heareval trains from.

    Parameters
    ----------
    out_dir : Path
        The task's embedding folder (holding `<split>.json` and `<split>/`).
    split : str
    metadata : dict
        The task metadata.
    prng : random.Random
        Shuffles the clip order; seeded with 0 once per task and shared by its splits, in metadata
        order, as heareval does.
    """
    out_dir = Path(out_dir)
    names = list(json.loads((out_dir / f"{split}.json").read_text()))
    files = [out_dir / split / f"{name}.embedding.npy" for name in names]
    prng.shuffle(files)
    event = metadata["embedding_type"] == "event"
    shapes = [np.load(f, mmap_mode="r").shape for f in files]
    for f, shape in zip(files, shapes):
        if len(shape) != (2 if event else 1):
            raise ValueError(f"{f}: embedding of shape {shape}; expected {'(T, D)' if event else '(D,)'}")
    n_rows = sum(s[0] for s in shapes) if event else len(shapes)
    dim = shapes[-1][-1]
    (out_dir / f"{split}.embedding-dimensions.json").write_text(json.dumps((n_rows, dim)))
    memmap = np.memmap(out_dir / f"{split}.embeddings.npy", dtype=np.float32, mode="w+", shape=(n_rows, dim))
    row = 0
    labels, filename_timestamps = [], []
    for f in files:
        emb = np.load(f)
        lbl = json.loads(Path(str(f).replace("embedding.npy", "target-labels.json")).read_text())
        if not event:
            if metadata["prediction_type"] == "multiclass" and len(lbl) != 1:
                raise ValueError(f"{f}: a multiclass clip needs exactly one label, got {lbl}")
            memmap[row] = emb
            labels.append(lbl)
            row += 1
        else:
            timestamps = json.loads(Path(str(f).replace("embedding.npy", "timestamps.json")).read_text())
            if not emb.shape[0] == len(lbl) == len(timestamps):
                raise ValueError(f"{f}: {emb.shape[0]} frames, {len(timestamps)} timestamps, {len(lbl)} labels")
            memmap[row : row + emb.shape[0]] = emb
            labels += lbl
            slug = str(f).replace(".embedding.npy", "")
            filename_timestamps += [(slug, t) for t in timestamps]
            row += emb.shape[0]
    memmap.flush()
    del memmap
    with open(out_dir / f"{split}.target-labels.pkl", "wb") as fh:
        pickle.dump(labels, fh)
    if event:
        (out_dir / f"{split}.filename-timestamps.json").write_text(json.dumps(filename_timestamps, indent=4))
