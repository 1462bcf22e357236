#!/usr/bin/env python3
"""Quality gate for pretrained weights: a linear (logistic-regression) probe on HEAR scene tasks.

For every scene task in --tasks-dir, embeds each clip once per model with the model's HEAR module
(`get_scene_embeddings`), then fits a standardised logistic regression: k-fold tasks rotate the test fold
(the next fold is the validation fold that picks the regularisation C), train/valid/test tasks pick C on
valid and report test. Reports the task's primary metric (top-1 accuracy for these tasks).

Models are given as LABEL=MODULE:PATH (PATH "" = the module's bundled default), e.g.
    byol=byol_a:weights/hear-ssl-byol-audiontt2020-d2048.safetensors
`--random LABEL=MODULE:PATH` adds the same model with its encoder randomly re-initialised (same
front-end and normalisation), `--logmel` adds a plain log-mel baseline: per band mean and std over time
of the normalised log-mel (128 dims). Event (timestamp) tasks are skipped: they need a frame-level probe.

    python benchmarks/pretrain_probe.py --tasks-dir ../shared/hear-tasks --model ... --random ... --logmel \
        --out probe.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

C_GRID = (0.01, 0.1, 1.0, 10.0)


def read_task(task_dir: Path):
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    labels = {}
    for split in meta["splits"]:
        for name, label in json.loads((task_dir / f"{split}.json").read_text()).items():
            labels[(split, name)] = label[0]
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


def hear_model(spec: str, randomise: bool):
    label, _, target = spec.partition("=")
    module_name, _, path = target.partition(":")
    if not label or not module_name:
        raise SystemExit(f"model spec {spec!r} must look like LABEL=MODULE:PATH")
    module = importlib.import_module(f"hear_ssl.{module_name}")
    model = module.load_model(path)
    if randomise:
        from hear_ssl.models import build_encoder

        torch.manual_seed(0)
        model.encoder.load_state_dict(build_encoder(model.encoder_config).state_dict())
    model.eval()
    return label, lambda clips: module.get_scene_embeddings(clips, model), model


def embed_all(fn, clips: np.ndarray, batch: int = 64) -> np.ndarray:
    out = []
    for start in range(0, len(clips), batch):
        out.append(fn(torch.from_numpy(clips[start : start + batch])).float().numpy())
    return np.concatenate(out)


def probe(embeddings: np.ndarray, labels: list[str], keys: list, meta: dict) -> float:
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

    scores = []
    for test_split, valid_split in rounds:
        train = (split_of != test_split) & (split_of != valid_split)
        valid, test = split_of == valid_split, split_of == test_split
        best_c = max(C_GRID, key=lambda c: fit_score(train, valid, c))
        scores.append(fit_score(train | valid, test, best_c))
    return float(np.mean(scores))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-dir", type=Path, required=True)
    parser.add_argument("--model", action="append", default=[], help="LABEL=MODULE:PATH")
    parser.add_argument("--random", action="append", default=[], help="LABEL=MODULE:PATH, encoder re-initialised")
    parser.add_argument("--logmel", action="store_true", help="add the plain log-mel baseline")
    parser.add_argument("--logmel-stats", type=float, nargs=2, default=(-5.4919195, 5.0389895), metavar=("MEAN", "STD"))
    parser.add_argument("--out", type=Path, help="write results as JSON")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    models = [hear_model(s, False) for s in args.model] + [hear_model(s, True) for s in args.random]
    embedders = [(label, fn) for label, fn, _ in models]
    if args.logmel:
        embedders.append(("log-mel", LogMelBaseline(*args.logmel_stats).embed))
    results: dict = {"tasks": {}, "skipped": {}}
    for task_dir in sorted(p for p in args.tasks_dir.iterdir() if (p / "task_metadata.json").is_file()):
        meta, labels = read_task(task_dir)
        if meta["embedding_type"] != "scene":
            results["skipped"][meta["task_name"]] = "event task: needs a frame-level (timestamp) probe"
            continue
        keys, clips, y = load_clips(task_dir, meta, labels)
        row = {}
        for label, fn in embedders:
            started = time.time()
            emb = embed_all(fn, clips)
            row[label] = {
                "score": probe(emb, y, keys, meta),
                "embed_s": round(time.time() - started, 1),
                "dim": emb.shape[1],
            }
            print(
                f"{meta['task_name']:<20} {label:<22} {row[label]['score']:.3f}  ({row[label]['embed_s']} s)",
                flush=True,
            )
        results["tasks"][meta["task_name"]] = {"metric": meta["evaluation"][0], "scores": row}
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    labels = [label for label, _ in embedders]
    print("\n| task | " + " | ".join(labels) + " |")
    print("| --- |" + " --- |" * len(labels))
    for task, info in results["tasks"].items():
        print(
            f"| {task} ({info['metric']}) | " + " | ".join(f"{info['scores'][l]['score']:.3f}" for l in labels) + " |"
        )
    for task, reason in results["skipped"].items():
        print(f"skipped {task}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
