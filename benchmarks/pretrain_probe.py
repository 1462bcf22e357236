#!/usr/bin/env python3
"""Quality gate for pretrained weights: linear (logistic-regression) probes on HEAR tasks.

Scene tasks: embeds each clip once per model with the model's HEAR module (`get_scene_embeddings`), then
fits a standardised logistic regression: k-fold tasks rotate the test fold (the next fold is the
validation fold that picks the regularisation C), train/valid/test tasks pick C on valid and report test.
Reports the task's primary metric (top-1 accuracy for these tasks).

Event tasks: a frame-level probe. Every timestamp embedding (`get_timestamp_embeddings`, one per 50 ms)
is labelled with the classes whose events cover its timestamp; one standardised logistic regression per
class (multi-label), C picked on valid, refitted on train + valid; reports the frame-level average
precision averaged over classes ("frame_mAP"), a threshold-free proxy for heareval's event F-measure,
which needs post-processing the probe does not do.

Every row also reports the effective rank of the standardised embeddings ("erank", no labels used): how
many directions the representation really spreads over; a collapsed one cannot probe well.

Models are given as LABEL=MODULE:PATH (PATH "" = the module's bundled default), e.g.
    byol=byol_a:runs/equal-budget/byol/hear-ssl-byol-audiontt2020-d2048.safetensors
`--random LABEL=MODULE:PATH` adds the same model with its encoder randomly re-initialised (same
front-end and normalisation), `--logmel` adds a plain log-mel baseline: per band mean and std over time
of the normalised log-mel (128 dims; for event tasks the same statistics over 160 ms around each 50 ms
timestamp).

    python benchmarks/pretrain_probe.py --tasks-dir ../shared/hear-tasks --model ... --random ... --logmel \
        --out probe.json
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hear_ssl.io import atomic_write_text

C_GRID = (0.01, 0.1, 1.0, 10.0)


# Event probe: timestamps every 50 ms; the log-mel baseline pools 160 ms (16 frames of 10 ms) around each.
EVENT_HOP_MS = 50.0
LOGMEL_EVENT_FRAMES = 16


def read_task(task_dir: Path):
    """The task's metadata and its labels per (split, file): a class name (scene) or a list of events."""
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    labels = {}
    for split in meta["splits"]:
        for name, label in json.loads((task_dir / f"{split}.json").read_text()).items():
            labels[(split, name)] = label[0] if meta["embedding_type"] == "scene" else label
    return meta, labels


def load_clips(task_dir: Path, meta: dict, labels: dict) -> tuple[list, np.ndarray, list[str]]:
    from hear_ssl.audio import load_audio

    keys = sorted(labels)
    length = int(meta["sample_duration"] * 16000)
    clips = np.zeros((len(keys), length), dtype=np.float32)
    for i, (split, name) in enumerate(keys):
        audio = load_audio(task_dir / "16000" / split / name)[:length]
        clips[i, : len(audio)] = audio
    return keys, clips, [labels[k] for k in keys]


class LogMelBaseline:
    """Per-band mean and std over time of the normalised log-mel: what the encoders must beat."""

    def __init__(self, mean: float, std: float):
        from hear_ssl.audio import LogMelSpectrogram

        self.frontend, self.mean, self.std = LogMelSpectrogram(), mean, std

    def embed(self, clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = (self.frontend(clips) - self.mean) / self.std
        return torch.cat([x.mean(-1), x.std(-1)], dim=1)

    def timestamps(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std per band over 160 ms centred on every 50-ms timestamp: (B, T, 128), (B, T) ms."""
        with torch.no_grad():
            x = (self.frontend(clips) - self.mean) / self.std  # (B, bands, frames), 10-ms hop, frame i at 10 i ms
        hop = int(EVENT_HOP_MS / 10)
        half = LOGMEL_EVENT_FRAMES // 2
        padded = torch.nn.functional.pad(x, (half, half), mode="replicate")
        pool = torch.nn.functional.avg_pool1d
        mean = pool(padded, LOGMEL_EVENT_FRAMES, stride=hop)
        var = (pool(padded**2, LOGMEL_EVENT_FRAMES, stride=hop) - mean**2).clamp(min=0)
        frames = torch.cat([mean, var.sqrt()], dim=1).transpose(1, 2)
        times = torch.arange(frames.shape[1], dtype=torch.float64) * EVENT_HOP_MS
        return frames, times.expand(frames.shape[0], -1)


def randomise_encoder(model) -> None:
    """Re-initialise the loaded model's network in place (seed 0), keeping front-end and normalisation.

    Log-mel models rebuild their encoder from `encoder_config`; the zoo families (ATST, BEATs, tempo) from
    their network's own `config`, with the constructor the pretraining engine also starts from.
    """
    from hear_ssl.models import build_encoder

    torch.manual_seed(0)
    if hasattr(model, "encoder_config"):
        model.encoder.load_state_dict(build_encoder(model.encoder_config).state_dict())
        return
    network = model.model if hasattr(model, "model") else model.encoder  # BEATs keeps its network as `model`
    if not hasattr(network, "config"):
        raise SystemExit(f"--random: cannot rebuild a {type(network).__name__} (no config attribute)")
    network.load_state_dict(type(network)(network.config).state_dict())


def hear_model(spec: str, randomise: bool):
    label, _, target = spec.partition("=")
    module_name, _, path = target.partition(":")
    if not label or not module_name:
        raise SystemExit(f"model spec {spec!r} must look like LABEL=MODULE:PATH")
    module = importlib.import_module(f"hear_ssl.{module_name}")
    model = module.load_model(path)
    if randomise:
        randomise_encoder(model)
    model.eval()
    rate = int(model.sample_rate)
    return Embedder(
        label,
        lambda clips: module.get_scene_embeddings(at_rate(clips, rate), model),
        lambda clips: module.get_timestamp_embeddings(at_rate(clips, rate), model),
    )


def at_rate(clips: torch.Tensor, rate: int) -> torch.Tensor:
    """The task's 16-kHz clips (B, N) at the model's sample rate (the tempo TCN: 44.1 kHz), as the harness does."""
    if rate == 16000:
        return clips
    from hear_ssl.audio import resample

    return torch.from_numpy(np.stack([resample(clip.numpy(), 16000, rate) for clip in clips]))


class Embedder:
    """A probed representation: scene embeddings for scene tasks, timestamp embeddings for event tasks."""

    def __init__(self, label, scene, timestamps):
        self.label, self.scene, self.timestamps = label, scene, timestamps


def embed_all(fn, clips: np.ndarray, batch: int = 64) -> np.ndarray:
    out = []
    for start in range(0, len(clips), batch):
        out.append(fn(torch.from_numpy(clips[start : start + batch])).float().numpy())
    return np.concatenate(out)


def embed_frames(fn, clips: np.ndarray, batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Timestamp embeddings of every clip: (clips, T, D) and their times in ms (clips, T)."""
    frames, times = [], []
    with torch.no_grad():
        for start in range(0, len(clips), batch):
            emb, ts = fn(torch.from_numpy(clips[start : start + batch]))
            frames.append(emb.float().cpu().numpy())
            times.append(ts.double().cpu().numpy())
    return np.concatenate(frames), np.concatenate(times)


def frame_targets(times: np.ndarray, events: list, classes: list[str]) -> np.ndarray:
    """(T, classes) 0/1: a class is on at a timestamp inside one of its events [start, end)."""
    target = np.zeros((len(times), len(classes)), dtype=np.float32)
    for event in events:
        on = (times >= event["start"]) & (times < event["end"])
        target[on, classes.index(event["label"])] = 1
    return target


def effective_rank(embeddings: np.ndarray) -> float:
    """exp(entropy) of the spectrum of the standardised embeddings: about k for k equally strong directions.

    Self-supervised training that collapses most directions (BYOL early in training) scores far below
    a random encoder here, which is what a linear probe on a fine-grained task like pitch then pays for.
    """
    x = embeddings.reshape(-1, embeddings.shape[-1]).astype(np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    variance = np.linalg.svd(x, compute_uv=False) ** 2
    share = variance / variance.sum()
    share = share[share > 0]
    return float(np.exp(-(share * np.log(share)).sum()))


def probe(embeddings: np.ndarray, labels: list[str], keys: list, meta: dict) -> tuple[float, float]:
    """(test, validation) accuracy of a standardised logistic regression whose C is picked on validation.

    The validation score is that of the picked C (fitted on train only), averaged over the k-fold rounds like
    the test score: it is what model selection may look at; the test score is for reporting only.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels)
    split_of = np.asarray([k[0] for k in keys])
    splits = meta["splits"]
    if meta.get("split_mode") == "new_split_kfold":
        rounds = [(splits[i], splits[(i + 1) % len(splits)]) for i in range(len(splits))]
    else:
        rounds = [("test", "valid")]

    def fit_score(train_mask, eval_mask, c):
        scaler = StandardScaler().fit(embeddings[train_mask])
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(scaler.transform(embeddings[train_mask]), y[train_mask])
        return float((clf.predict(scaler.transform(embeddings[eval_mask])) == y[eval_mask]).mean())

    scores, valid_scores = [], []
    for test_split, valid_split in rounds:
        train = (split_of != test_split) & (split_of != valid_split)
        valid, test = split_of == valid_split, split_of == test_split
        by_c = {c: fit_score(train, valid, c) for c in C_GRID}
        best_c = max(C_GRID, key=by_c.__getitem__)
        valid_scores.append(by_c[best_c])
        scores.append(fit_score(train | valid, test, best_c))
    return float(np.mean(scores)), float(np.mean(valid_scores))


def event_probe(frames: np.ndarray, times: np.ndarray, labels: list, keys: list) -> tuple[float, float]:
    """Frame-level multi-label probe: per-class logistic regression, C on valid.

    Returns (test, validation) mean average precision; the validation one is the picked C's, fitted on train.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import StandardScaler

    classes = sorted({event["label"] for events in labels for event in events})
    x = frames.reshape(-1, frames.shape[-1])
    y = np.concatenate([frame_targets(t, events, classes) for t, events in zip(times, labels)])
    split_of = np.repeat([k[0] for k in keys], frames.shape[1])

    def fit_score(train_mask, eval_mask, c):
        scaler = StandardScaler().fit(x[train_mask])
        train_x, eval_x = scaler.transform(x[train_mask]), scaler.transform(x[eval_mask])
        precisions = []
        for k in range(len(classes)):
            if not y[eval_mask, k].any():
                continue  # average precision is undefined without a positive frame
            clf = LogisticRegression(C=c, max_iter=500).fit(train_x, y[train_mask, k])
            precisions.append(average_precision_score(y[eval_mask, k], clf.decision_function(eval_x)))
        return float(np.mean(precisions))

    train, valid, test = (split_of == name for name in ("train", "valid", "test"))
    by_c = {c: fit_score(train, valid, c) for c in C_GRID}
    best_c = max(C_GRID, key=by_c.__getitem__)
    return fit_score(train | valid, test, best_c), by_c[best_c]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-dir", type=Path, required=True)
    parser.add_argument("--model", action="append", default=[], help="LABEL=MODULE:PATH")
    parser.add_argument("--random", action="append", default=[], help="LABEL=MODULE:PATH, encoder re-initialised")
    parser.add_argument("--logmel", action="store_true", help="add the plain log-mel baseline")
    parser.add_argument("--logmel-stats", type=float, nargs=2, default=(-5.4919195, 5.0389895), metavar=("MEAN", "STD"))
    parser.add_argument("--tasks", nargs="+", default=["*"], metavar="PATTERN", help="task folder name patterns")
    parser.add_argument("--out", type=Path, help="write results as JSON")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    embedders = [hear_model(s, False) for s in args.model] + [hear_model(s, True) for s in args.random]
    if args.logmel:
        baseline = LogMelBaseline(*args.logmel_stats)
        embedders.append(Embedder("log-mel", baseline.embed, baseline.timestamps))
    results: dict = {"tasks": {}}
    task_dirs = [p for p in sorted(args.tasks_dir.iterdir()) if (p / "task_metadata.json").is_file()]
    for task_dir in [p for p in task_dirs if any(fnmatch.fnmatch(p.name, pattern) for pattern in args.tasks)]:
        meta, labels = read_task(task_dir)
        is_event = meta["embedding_type"] == "event"
        keys, clips, y = load_clips(task_dir, meta, labels)
        row = {}
        for embedder in embedders:
            started = time.time()
            if is_event:
                frames, times = embed_frames(embedder.timestamps, clips)
                embedded = time.time() - started
                (score, valid_score), dim = event_probe(frames, times, y, keys), frames.shape[-1]
                erank = effective_rank(frames[:, :: max(1, frames.shape[1] // 40)])  # ~40 frames per clip
            else:
                emb = embed_all(embedder.scene, clips)
                embedded = time.time() - started
                (score, valid_score), dim = probe(emb, y, keys, meta), emb.shape[1]
                erank = effective_rank(emb)
            row[embedder.label] = {
                "score": score, "valid_score": valid_score, "embed_s": round(embedded, 1), "dim": dim,
                "erank": round(erank, 1),
            }  # fmt: skip
            name = f"{meta['task_name']:<20} {embedder.label:<22}"
            print(
                f"{name} valid {valid_score:.3f}  test {score:.3f}  erank {erank:6.1f}  ({embedded:.1f} s)", flush=True
            )
        metric = "frame_mAP" if is_event else meta["evaluation"][0]
        results["tasks"][meta["task_name"]] = {"metric": metric, "scores": row}
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    labels = [embedder.label for embedder in embedders]
    print("\n| task | " + " | ".join(labels) + " |")
    print("| --- |" + " --- |" * len(labels))
    for task, info in results["tasks"].items():
        print(
            f"| {task} ({info['metric']}) | " + " | ".join(f"{info['scores'][l]['score']:.3f}" for l in labels) + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
