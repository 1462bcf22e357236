"""Helpers shared by the evaluation-harness tests: small real tasks and small embedding folders."""

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np

from hear_ssl.evaluation.embeddings import save_clip, write_split_memmap


def subset_task(src, dst_root, per_split):
    """Copy a real HEAR task keeping the first `per_split` clips of every split (same format)."""
    src, dst = Path(src), Path(dst_root) / Path(src).name
    dst.mkdir(parents=True)
    metadata = json.loads((src / "task_metadata.json").read_text())
    shutil.copy(src / "task_metadata.json", dst)
    shutil.copy(src / "labelvocabulary.csv", dst)
    rates = [p.name for p in src.iterdir() if p.is_dir() and p.name.isdigit()]
    for split in metadata["splits"]:
        data = json.loads((src / f"{split}.json").read_text())
        keep = dict(list(data.items())[:per_split])
        (dst / f"{split}.json").write_text(json.dumps(keep, indent=2))
        for rate in rates:
            (dst / rate / split).mkdir(parents=True)
            for name in keep:
                shutil.copy(src / rate / split / name, dst / rate / split / name)
    return dst


def embedding_task(out_dir, kind, dim=8, seed=0):
    """Write a small task straight in heareval's embedding format, with class-informative vectors.

    `kind="scene"`: 3 classes, train/valid/test of 30/12/12 clips (multiclass, top1_acc).
    `kind="event"`: 2 classes, 4/2/2 clips of 4 s, embeddings every 100 ms (event_onset_200ms_fms).
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True)
    event = kind == "event"
    labels = ["dog", "bell"] if event else ["a", "b", "c"]
    metadata = {
        "task_name": f"tiny_{kind}",
        "version": "v0",
        "mode": "full",
        "embedding_type": kind,
        "prediction_type": "multilabel" if event else "multiclass",
        "split_mode": "trainvaltest",
        "sample_duration": 4.0 if event else 1.0,
        "evaluation": ["event_onset_200ms_fms", "segment_1s_er"] if event else ["top1_acc"],
        "splits": ["train", "valid", "test"],
    }
    (out_dir / "task_metadata.json").write_text(json.dumps(metadata))
    with open(out_dir / "labelvocabulary.csv", "w", newline="") as f:
        csv.writer(f).writerows([["idx", "label"]] + [[i, lbl] for i, lbl in enumerate(labels)])
    centres = rng.normal(size=(len(labels), dim)).astype(np.float32) * 2
    prng = random.Random(0)
    sizes = {"train": 4, "valid": 2, "test": 2} if event else {"train": 30, "valid": 12, "test": 12}
    for split, n in sizes.items():
        data = {}
        (out_dir / split).mkdir()
        for i in range(n):
            name = f"{split}_{i:03d}.wav"
            if event:
                ts = np.arange(0, 4000, 100, dtype=np.float32)
                emb = rng.normal(size=(len(ts), dim)).astype(np.float32) * 0.3
                events = []
                for k, label in enumerate(labels):
                    start = float(rng.integers(0, 2000))
                    end = start + float(rng.integers(600, 1500))
                    events.append({"label": label, "start": start, "end": end})
                    emb[(ts >= start) & (ts <= end)] += centres[k]
                data[name] = events
                save_clip(out_dir / split, name, emb, events, ts)
            else:
                k = i % len(labels)
                data[name] = [labels[k]]
                emb = (centres[k] + rng.normal(size=dim) * 0.5).astype(np.float32)
                save_clip(out_dir / split, name, emb, [labels[k]])
        (out_dir / f"{split}.json").write_text(json.dumps(data))
        write_split_memmap(out_dir, split, metadata, prng)
    (out_dir / ".done.embeddings").touch()
    return out_dir


def serve_files(files, truncate_first=None):
    """Serve `{url_path: bytes}` on 127.0.0.1 from a background thread; returns `(base_url, server)`.

    Supports `Range: bytes=N-` (206 responses). If `truncate_first` names a path, the first full GET of
    it sends only half the body and closes the connection, like a dropped download.
    """
    import http.server
    import threading

    state = {"truncated": False, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            state["requests"].append((path, self.headers.get("Range")))
            if path not in files:
                self.send_error(404)
                return
            body = files[path]
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if path == truncate_first and not state["truncated"] and start == 0:
                state["truncated"] = True
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = state
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
