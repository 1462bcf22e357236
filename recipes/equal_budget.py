#!/usr/bin/env python3
"""Equal-budget comparison of every pretraining objective, and the shipping decision for bundled defaults.

The protocol (budget, corpus, candidates per HEAR module, probe, shipping rule) is fixed in
docs/pretraining-defaults.md; this script only carries it out. Every step is resumable: a finished run, export or
probe is skipped, and an interrupted training continues from its `ckpt.pt` exactly (the trainer's resume).

    python recipes/equal_budget.py speed --data /tmp/gen --runs runs/speed            # s/step, a few steps each
    python recipes/equal_budget.py train --data /work/corpus/corpus.txt --runs runs/equal-budget --jobs 2
    python recipes/equal_budget.py probe --runs runs/equal-budget --tasks-dir ../shared/hear-tasks --jobs 2
    python recipes/equal_budget.py table --runs runs/equal-budget

`train` runs `hear-ssl pretrain` once per objective (`--only NAME ...` for some), each with OMP_NUM_THREADS=1;
`--max-steps` above the protocol's continues every run from its checkpoint (a longer budget, same command).
`probe` runs `benchmarks/pretrain_probe.py` once per representation (each run's export, its random-init twin,
the incumbent defaults and theirs, the log-mel baseline) into `<runs>/probe/<label>.json`. `table` applies the
shipping rule to the validation scores and prints the table (test scores alongside, never used by the rule).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
PROBE_SCRIPT = REPO / "benchmarks" / "pretrain_probe.py"

# The budget, identical for every objective (docs/pretraining-defaults.md): steps x batch x crop length.
MAX_STEPS = 30
BATCH_SIZE = 16
CROP_FRAMES = 96  # 0.96 s of 10-ms log-mel frames
COMMON = [
    "--batch-size", str(BATCH_SIZE), "--crop-frames", str(CROP_FRAMES), "--max-segments-per-file", "60",
    "--checkpoint-every", "10", "--log-every", "1", "--seed", "42", "--no-progress",
]  # fmt: skip
# The small transformer of the transformer objectives: 4 layers x 192, 3 heads, feed-forward 768.
ATST_SMALL = ["--{p}-embed-dim", "192", "--{p}-depth", "4", "--{p}-num-heads", "3", "--{p}-crop-frames", "96"]


def atst(prefix: str) -> list[str]:
    return [flag.format(p=prefix) for flag in ATST_SMALL]


class Run(NamedTuple):
    """One objective trained at the budget; `module` is the HEAR module its export loads into.

    (A NamedTuple, not a dataclass: the docs test loads this script without registering it as a module.)
    """

    name: str
    objective: str
    module: str
    twin: str  # runs with the same twin key have the same architecture, front-end and normalisation
    flags: tuple[str, ...] = ()
    cache: str = "logmel"  # "fbank": BEATs trains on its own Kaldi-fbank cache
    worktree: Path = REPO  # the checkout whose .venv runs it

    @property
    def hear_ssl(self) -> Path:
        return self.worktree / ".venv" / "bin" / "hear-ssl"

    @property
    def python(self) -> Path:
        return self.worktree / ".venv" / "bin" / "python"


CONV = ("--arch", "audiontt2020", "--d", "2048")  # the byol_a module's byol-a-2048 architecture
RUNS = [
    Run("byol", "byol", "byol_a", "audiontt2020", CONV),
    Run("barlow_twins", "barlow_twins", "barlow_twins", "audiontt2022", ("--arch", "audiontt2022", "--d", "2048")),
    Run("vicreg", "vicreg", "byol_a", "audiontt2020", CONV),
    Run("hybrid", "hybrid", "hybrid", "cvt", ("--arch", "cvt")),
    Run("dino", "dino", "byol_a", "audiontt2020", CONV),
    # DeepCluster's sample and k scaled to the budget: 256 segments, 16 clusters, re-clustered every 16 steps.
    Run("decar", "decar", "byol_a", "audiontt2020", CONV + ("--decar-sample", "256", "--decar-clusters", "16",
                                                          "--decar-pca-dim", "32")),  # fmt: skip
    Run("vibcreg", "vibcreg", "byol_a", "audiontt2020", CONV),
    # The 2026-12-01 table trained tempo on the conv encoder; the objective now trains the TempoTCN on its own
    # 44.1-kHz cache, 80-frame views = 96-frame crops (the budget's crop length).
    Run("tempo", "tempo", "tempo", "tempo-tcn", ("--tempo-view-frames", "80"), cache="tempo"),
    Run("atst_clip", "atst_clip", "atst", "atst-clip-4x192", (*atst("atst-clip"), "--atst-clip-view-frames", "96")),
    Run("atst_frame", "atst_frame", "atst", "atst-frame-4x192", tuple(atst("atst-frame"))),
    Run("beats", "beats", "beats", "beats-4x192",
        ("--beats-layers", "4", "--beats-dim", "192", "--beats-heads", "3", "--beats-ffn", "768"), cache="fbank"),
]  # fmt: skip
CONFORMER_FLAGS = ("--conformer-w2v2-layers", "4", "--conformer-w2v2-dim", "192", "--conformer-w2v2-heads", "4",
                   "--conformer-w2v2-ffn", "768", "--conformer-w2v2-crop-frames", "96")  # fmt: skip
CONFORMER = Run("conformer_w2v2", "conformer_w2v2", "conformer", "conformer-4x192", CONFORMER_FLAGS)

# s/step measured before the comparison (docs/pretraining-defaults.md), used only to start the longest runs first.
MEASURED_S_PER_STEP = {
    "dino": 30.3, "vicreg": 30.4, "barlow_twins": 28.9, "vibcreg": 23.8, "byol": 12.9, "hybrid": 6.4,
    "atst_frame": 4.5, "tempo": 4.3, "beats": 4.3, "decar": 3.4, "atst_clip": 1.7,
}  # fmt: skip

# The bundled defaults a rerun may replace or remove (re-measured with the same probe): those the 2026-12-01
# decision left (byol-a-2048.hear-ssl, audio-barlow-twins-2048.hear-ssl and byol-s-cvt.hear-ssl were removed).
INCUMBENTS = {
    "byol_a": "byol-a-2048.vibcreg",
    "tempo": "tempo-tcn.bundled",
}


def all_runs(include_conformer: bool) -> list[Run]:
    return RUNS + ([CONFORMER] if include_conformer else [])


def exported_file(out_dir: Path) -> Path | None:
    """The run's export (`<name>.safetensors`, or BEATs' official-layout `.pt`), if written."""
    found = sorted(out_dir.glob("*.safetensors")) + sorted(p for p in out_dir.glob("*.pt") if p.name != "ckpt.pt")
    return found[0] if found else None


def finished_step(out_dir: Path) -> int:
    progress = out_dir / "ckpt.json"
    return json.loads(progress.read_text())["step"] if progress.is_file() else 0


def train_command(run: Run, args) -> list[str]:
    # Absolute paths: a run may start in another checkout (Run.worktree).
    cache = (Path(args.cache_root) / f"cache-{run.cache}").resolve()
    return [
        str(run.hear_ssl), "pretrain", "--objective", run.objective, "--data", str(Path(args.data).resolve()),
        "--cache-dir", str(cache), "--out-dir", str((Path(args.runs) / run.name).resolve()), "--max-steps",
        str(args.max_steps), *COMMON, *run.flags,
    ]  # fmt: skip


def seconds_per_step(out_dir: Path) -> float | None:
    """Median wall time of one step from log.csv (rows are 1 step apart; a resume restarts `elapsed_s`)."""
    log = out_dir / "log.csv"
    if not log.is_file():
        return None
    rows = list(csv.DictReader(log.open()))
    deltas = []
    for before, after in zip(rows, rows[1:]):
        steps = int(after["step"]) - int(before["step"])
        elapsed = float(after["elapsed_s"]) - float(before["elapsed_s"])
        if steps > 0 and elapsed > 0:
            deltas.append(elapsed / steps)
    return round(statistics.median(deltas), 2) if deltas else None


def run_jobs(jobs: list[tuple[str, list[str], Path, Path]], parallel: int) -> int:
    """Run (label, command, cwd, log) jobs, `parallel` at a time, each on one thread; returns the failures."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending, running, failures = list(jobs), [], 0
    while pending or running:
        while pending and len(running) < parallel:
            label, command, cwd, log = pending.pop(0)
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"[{time.strftime('%H:%M:%S')}] start {label}: {' '.join(command)}", flush=True)
            handle = log.open("a")
            running.append((label, subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=handle), handle))
        time.sleep(2)
        for item in list(running):
            label, process, handle = item
            if process.poll() is not None:
                handle.close()
                running.remove(item)
                status = "done" if process.returncode == 0 else f"FAILED (exit {process.returncode}, see log)"
                failures += process.returncode != 0
                print(f"[{time.strftime('%H:%M:%S')}] {status} {label}", flush=True)
    return failures


def corpus_subset(data: Path, runs: Path, files: int) -> Path:
    """A seeded random sample of `files` paths of the corpus list, written once (with its sources.json beside it,
    so the model cards still list the packages and licences)."""
    import random
    import shutil

    subset = runs / "corpus-subset.txt"
    if not subset.is_file():
        paths = [line for line in data.read_text().splitlines() if line.strip()]
        chosen = sorted(random.Random(0).sample(paths, min(files, len(paths))))
        runs.mkdir(parents=True, exist_ok=True)
        subset.write_text("\n".join(chosen) + "\n")
        if (data.parent / "sources.json").is_file():
            shutil.copyfile(data.parent / "sources.json", runs / "sources.json")
    return subset


def cmd_train(args) -> int:
    if args.subset:
        args.data = corpus_subset(Path(args.data), Path(args.runs), args.subset)
    jobs = []
    for run in all_runs(args.conformer):
        if args.only and run.name not in args.only:
            continue
        out_dir = Path(args.runs) / run.name
        if finished_step(out_dir) >= args.max_steps and exported_file(out_dir):
            print(f"{run.name}: finished ({finished_step(out_dir)} steps), skipped")
            continue
        jobs.append((run.name, train_command(run, args), run.worktree, out_dir / "train.out"))
    jobs.sort(key=lambda job: -MEASURED_S_PER_STEP.get(job[0], 10.0))  # longest first: the two lanes end together
    # Each crop cache is built once, by one process, before the runs that share it start (no two builders).
    prepare, seen = [], set()
    for run in all_runs(args.conformer):
        if run.cache not in seen and any(job[0] == run.name for job in jobs):
            seen.add(run.cache)
            command = train_command(run, args) + ["--prepare-only"]
            prepare.append(
                (f"cache-{run.cache}", command, run.worktree, Path(args.cache_root) / f"cache-{run.cache}.out")
            )
    if run_jobs(prepare, args.jobs):
        return 1
    return int(run_jobs(jobs, args.jobs) > 0)


# The gate is a conjunction over tasks, so tasks are probed one at a time, cheapest first, and a candidate that
# fails one on validation is not probed on the rest (`--full` probes everything). The order changes the cost,
# never the verdict.
TASK_ORDER = ("speech_commands_12", "gm_pitch", "drum_strokes", "fsdd_digits", "office_events")


class Representation(NamedTuple):
    """Something probed: a candidate (a run or an incumbent) or a baseline (a random twin, the log-mel)."""

    label: str
    python: Path
    probe_args: tuple[str, ...]
    module: str = ""  # candidates only
    twin: str = ""  # candidates only: the label of their random-init twin


def representations(args) -> list[Representation]:
    """Candidates with an export (or a bundled incumbent), then their twins and the log-mel baseline."""
    python = REPO / ".venv" / "bin" / "python"
    out, twins = [], {}
    for run in all_runs(args.conformer):
        weights = exported_file(Path(args.runs) / run.name)
        if weights is None or (args.only and run.name not in args.only):
            continue
        spec = f"{run.module}:{weights.resolve()}"
        twin = f"random-{run.twin}"
        out.append(Representation(run.name, run.python, ("--model", f"{run.name}={spec}"), run.module, twin))
        twins.setdefault(twin, Representation(twin, run.python, ("--random", f"{twin}={spec}")))
    for module in INCUMBENTS if not args.only else ():
        label, twin = f"incumbent-{module}", f"random-incumbent-{module}"
        out.append(Representation(label, python, ("--model", f"{label}={module}:"), module, twin))
        twins[twin] = Representation(twin, python, ("--random", f"{twin}={module}:"))
    return out + list(twins.values()) + [Representation("log-mel", python, ("--logmel",))]


def probe_file(args, label: str, task: str) -> Path:
    return Path(args.runs) / "probe" / label / f"{task}.json"


def cmd_probe(args) -> int:
    reps = {rep.label: rep for rep in representations(args)}
    alive = [rep for rep in reps.values() if rep.twin]
    tasks = ["--tasks-dir", str(Path(args.tasks_dir).resolve()), "--threads", "1"]
    failures = 0
    for task in TASK_ORDER:
        needed = ["log-mel"] + sorted({rep.twin for rep in alive}) + [rep.label for rep in alive]
        jobs = []
        for label in needed:
            out = probe_file(args, label, task)
            if not out.is_file():
                command = [str(reps[label].python), str(PROBE_SCRIPT), *tasks, "--tasks", f"{task}-*",
                           *reps[label].probe_args, "--out", str(out)]  # fmt: skip
                jobs.append((f"probe {label} on {task}", command, REPO, out.with_suffix(".out")))
        failures += run_jobs(jobs, args.jobs)
        scores = load_scores(Path(args.runs) / "probe")
        if not args.full:
            alive = [rep for rep in alive if gate(scores, rep.label, rep.twin, [task])[0]]
    return int(failures > 0)


def load_scores(probe_dir: Path) -> dict[str, dict[str, dict]]:
    """label -> task -> {"score" (test), "valid_score", "erank", ...} from every finished probe file."""
    out: dict[str, dict[str, dict]] = {}
    for path in sorted(probe_dir.glob("*/*.json")):
        for task, info in json.loads(path.read_text())["tasks"].items():
            for label, row in info["scores"].items():
                out.setdefault(label, {})[task] = row
    return out


def gate(scores: dict, label: str, twin: str, tasks) -> tuple[bool, float | None, list[str], list[str]]:
    """The shipping rule on validation scores: strictly above the twin and the log-mel baseline on every task.

    Returns (passes, mean margin over the stronger baseline on the probed tasks, tasks it fails, tasks without
    all three scores yet); a candidate with a missing task does not pass.
    """
    failed, missing, margins = [], [], []
    for task in tasks:
        try:
            mine = scores[label][task]["valid_score"]
            bar = max(scores[twin][task]["valid_score"], scores["log-mel"][task]["valid_score"])
        except KeyError:
            missing.append(task)
            continue
        margins.append(mine - bar)
        if mine <= bar:
            failed.append(task)
    return not failed and not missing, statistics.mean(margins) if margins else None, failed, missing


def decide(args) -> tuple[list[dict], dict[str, dict]]:
    """Rows of the result table and the decision per HEAR module (validation scores only)."""
    scores = load_scores(Path(args.runs) / "probe")
    rows = []
    for rep in representations(args):
        if not rep.twin:
            continue
        passes, margin, failed, missing = gate(scores, rep.label, rep.twin, TASK_ORDER)
        run_dir = Path(args.runs) / rep.label
        weights = exported_file(run_dir) if run_dir.is_dir() else None
        rows.append({
            "label": rep.label, "module": rep.module, "twin": rep.twin, "passes": passes, "margin": margin,
            "failed": failed, "missing": missing, "s_per_step": seconds_per_step(run_dir) if run_dir.is_dir() else None,
            "steps": finished_step(run_dir) if run_dir.is_dir() else None, "weights": str(weights or ""),
            "bytes": weights.stat().st_size if weights else None,
        })  # fmt: skip
    decisions = {}
    for module in sorted({row["module"] for row in rows}):
        mine = [row for row in rows if row["module"] == module]
        passing = sorted((row for row in mine if row["passes"]), key=lambda row: -row["margin"])
        incumbent = next((row for row in mine if row["label"].startswith("incumbent-")), None)
        if passing:
            choice = passing[0]
            verdict = "keep the incumbent" if choice is incumbent else f"ship {choice['label']}"
        else:
            choice = None
            pending = [row["label"] for row in mine if not row["failed"]]
            verdict = "no candidate passes" + ("; the incumbent fails" if incumbent else "")
            verdict += f" (still pending: {', '.join(pending)})" if pending else ""
        decisions[module] = {"verdict": verdict, "choice": choice["label"] if choice else None}
    return rows, decisions


def cell(scores: dict, label: str, task: str) -> str:
    row = scores.get(label, {}).get(task)
    return f"{row['valid_score']:.3f} / {row['score']:.3f}" if row else "—"


def cmd_table(args) -> int:
    scores = load_scores(Path(args.runs) / "probe")
    rows, decisions = decide(args)
    short = {t: t.split("_")[0] for t in TASK_ORDER}
    head = " | ".join(f"{short[t]} valid / test" for t in TASK_ORDER)
    print(f"| representation | module | {head} | erank (speech) | s/step | gate (valid) |")
    print("| --- | --- |" + " --- |" * (len(TASK_ORDER) + 3))
    baselines = sorted({row["twin"] for row in rows}) + ["log-mel"]
    for label in [row["label"] for row in rows] + baselines:
        row = next((r for r in rows if r["label"] == label), None)
        cells = " | ".join(cell(scores, label, t) for t in TASK_ORDER)
        erank = scores.get(label, {}).get("speech_commands_12", {}).get("erank", "")
        if row is None:
            print(f"| {label} | baseline | {cells} | {erank} | | |")
            continue
        if row["passes"]:
            verdict = "pass"
        elif row["failed"]:
            verdict = f"fail on {short[row['failed'][0]]}"
        else:
            verdict = "pending: " + ", ".join(short[t] for t in row["missing"])
        margin = f" (mean margin {row['margin']:+.3f})" if row["passes"] else ""
        step = row["s_per_step"] if row["s_per_step"] is not None else ""
        print(f"| {label} | {row['module']} | {cells} | {erank} | {step} | {verdict}{margin} |")
    print()
    for module, decision in decisions.items():
        print(f"- hear_ssl.{module}: {decision['verdict']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "decisions": decisions}, indent=1) + "\n")
    return 0


def cmd_speed(args) -> int:
    """A few steps of every objective on a small corpus: the measured s/step the budget is chosen from."""
    args.max_steps = args.steps
    jobs = []
    for run in all_runs(args.conformer):
        if args.only and run.name not in args.only:
            continue
        out_dir = Path(args.runs) / run.name
        if finished_step(out_dir) < args.steps:
            command = train_command(run, args) + ["--no-export", "--checkpoint-every", str(args.steps)]
            jobs.append((run.name, command, run.worktree, out_dir / "train.out"))
    failures = run_jobs(jobs, args.jobs)
    for run in all_runs(args.conformer):
        print(f"{run.name:<16} {seconds_per_step(Path(args.runs) / run.name)} s/step")
    return int(failures > 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("speed", "train", "probe", "table"):
        p = sub.add_parser(name)
        p.add_argument("--runs", default="runs/equal-budget", help="folder of the run folders and probe/")
        p.add_argument("--only", nargs="+", help="these run names only")
        p.add_argument("--conformer", action="store_true", help="include conformer_w2v2")
        p.add_argument("--jobs", type=int, default=2, help="processes at a time, one thread each")
        if name in ("speed", "train"):
            p.add_argument("--data", required=True, help="audio folder or list (the corpus)")
            p.add_argument("--cache-root", default="", help="folder of the two crop caches (default --runs)")
            p.add_argument("--max-steps", type=int, default=MAX_STEPS, help="the budget's steps (raise to continue)")
            p.add_argument("--subset", type=int, default=0, help="train on a seeded sample of this many corpus files")
        if name == "speed":
            p.add_argument("--steps", type=int, default=5)
        if name == "probe":
            p.add_argument("--tasks-dir", default=str(REPO.parent / "shared" / "hear-tasks"))
            p.add_argument("--full", action="store_true", help="probe every task even after a gate failure")
        if name == "table":
            p.add_argument("--json", help="also write rows and decisions as JSON")
    args = parser.parse_args(argv)
    if getattr(args, "cache_root", None) == "":
        args.cache_root = args.runs
    return {"speed": cmd_speed, "train": cmd_train, "probe": cmd_probe, "table": cmd_table}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
