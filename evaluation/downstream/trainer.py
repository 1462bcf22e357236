"""Train many heareval downstream models at once, with heareval's schedule, checkpointing and stopping.

Each `Job` is what one `heareval.predictions.task_predictions_train` call does: one grid configuration
trained on one split. Jobs with the same architecture are stacked into one `StackedMLP`; every epoch
runs each stack over its batches, then validates the jobs whose turn it is. Per job, faithfully to
heareval 2021.1.3 under pytorch-lightning 1.9:

- batches: the training rows in stored order, never shuffled (heareval's DataLoader shuffles only when
  the split *name* equals "train", but it always passes a list), `batch_size` rows each, last one short;
- validation: after the last batch of epoch e when `(e + 1) % check_val_every_n_epoch == 0`, never
  otherwise (not even after the final epoch); BatchNorm in eval mode, no dropout;
- checkpoint (ModelCheckpoint, top-1): the first validation is always kept, later ones only when
  strictly better; a NaN score is stored as -inf (+inf when minimising);
- early stopping: stops at the first non-finite score, or after `patience` validations in a row
  without strict improvement; training ends after the epoch in which it stopped, or at `max_epochs`;
- the result is the checkpointed model: its epoch (0-based), its validation score and, for event
  tasks, the post-processing chosen at that validation.

The models are independent: stacking changes the order of floating-point sums, not the maths.
"""

import math
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .adam import StackedAdam
from .events import FrameLayout
from .mlp import StackedMLP, architecture

# Rows per forward pass when predicting, bounding the (models x rows x hidden) activation memory.
PREDICT_CHUNK_ELEMENTS = 2**26


@dataclass
class Job:
    """One model to train: a grid configuration on one split (lists of split names)."""

    conf: dict
    split: dict


@dataclass
class JobResult:
    """The checkpointed model of a job and what heareval records about it."""

    conf: dict
    split: dict
    epoch: int
    validation_score: float
    postprocessing: tuple
    params: dict
    running: list
    time_s: float
    epochs_trained: int = 0


class Monitor:
    """One job's ModelCheckpoint (top-1) and EarlyStopping state, as Lightning 1.9 keeps them.

    Parameters
    ----------
    maximize : bool
    patience : int
    """

    def __init__(self, maximize, patience):
        self.maximize, self.patience = maximize, patience
        self.checkpoint_score = None  # None until the first validation
        self.checkpoint_epoch = None
        self.stop_best = -math.inf if maximize else math.inf
        self.wait = 0

    def _better(self, score, best):
        return score > best if self.maximize else score < best  # NaN compares False

    def update(self, epoch, score):
        """Record one validation; returns `(checkpointed, stop)`.

        ModelCheckpoint: the first validation is always saved, later ones only when strictly better;
        NaN is stored as -inf (+inf when minimising). EarlyStopping (min_delta 0, check_finite): stop
        on a non-finite score, or once `patience` validations in a row did not strictly improve.
        """
        checkpointed = self.checkpoint_score is None or self._better(score, self.checkpoint_score)
        if checkpointed:
            worst = -math.inf if self.maximize else math.inf
            self.checkpoint_score = worst if math.isnan(score) else score
            self.checkpoint_epoch = epoch
        if not math.isfinite(score):
            return checkpointed, True
        if self._better(score, self.stop_best):
            self.stop_best, self.wait = score, 0
            return checkpointed, False
        self.wait += 1
        return checkpointed, self.wait >= self.patience


class TaskTensors:
    """The task's embeddings and targets on the device, with cached per-split views."""

    def __init__(self, task, device):
        self.task = task
        self.device = device
        self.x = torch.from_numpy(task.embeddings).to(device)
        y = torch.from_numpy(task.targets).to(device)
        self.y = y.argmax(1) if task.multiclass else y
        self._layouts = {}

    def rows(self, names):
        return self.task.indices(names)

    def layout(self, names):
        """The event `FrameLayout` of the rows of these splits (cached)."""
        key = tuple(names)
        if key not in self._layouts:
            idx = self.rows(names)
            self._layouts[key] = FrameLayout.build([self.task.filenames[i] for i in idx], self.task.timestamps[idx])
        return self._layouts[key]


def loss_per_model(logits, target, multiclass, mask=None, counts=None):
    """heareval's training loss of every model: cross-entropy (multiclass) or BCE-with-logits, batch mean.

    Parameters
    ----------
    logits : torch.Tensor
        `(M, B, C)`.
    target : torch.Tensor
        `(B,)` / `(M, B)` class indices, or `(B, C)` / `(M, B, C)` multi-hot.
    mask, counts : torch.Tensor, optional
        `(M, B, 1)` row mask and `(M, 1, 1)` row counts when models see different rows.

    Returns
    -------
    torch.Tensor
        `(M,)`.
    """
    m, b, c = logits.shape
    if multiclass:
        target = target.expand(m, b)
        per_row = F.cross_entropy(logits.reshape(m * b, c).float(), target.reshape(-1), reduction="none").view(m, b)
    else:
        target = target.expand(m, b, c)
        per_row = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").mean(-1)
    if mask is None:
        return per_row.mean(1)
    return (per_row * mask[..., 0]).sum(1) / counts[:, 0, 0].clamp(min=1)


class _Group:
    """The jobs sharing one architecture, trained as one stack."""

    def __init__(self, jobs, positions, data, seed, autocast, maximize):
        self.jobs, self.positions, self.data = jobs, positions, data
        self.autocast, self.maximize = autocast, maximize
        n_in, n_out = data.x.shape[1], len(data.task.labels)
        confs = [job.conf for job in jobs]
        seeds = [seed * 1_000_003 + p for p in positions]  # a job's weights depend on its position only
        self.model = StackedMLP(confs, n_in, n_out, data.device, seeds)
        self.optim = StackedAdam(self.model.params, [c["lr"] for c in confs])
        self.monitors = [Monitor(maximize, job.conf["patience"]) for job in jobs]
        self.state = [{"epochs": 0} for _ in jobs]
        self.best = [None] * len(jobs)  # per job: the checkpointed (params, running) of the model
        self._build_plan()

    # -- batches -----------------------------------------------------------------------------------
    @property
    def live(self):
        """Group-local numbers of the jobs still training, in stack order."""
        return self.model.live

    def _build_plan(self):
        """Precompute every step's input rows: batches repeat identically each epoch (no shuffling)."""
        jobs = [self.jobs[j] for j in self.live]
        rows = [self.data.rows(job.split["train"]) for job in jobs]
        sizes = [job.conf["batch_size"] for job in jobs]
        shared = all(np.array_equal(r, rows[0]) for r in rows) and len(set(sizes)) == 1
        self.steps = []
        if shared:
            idx = torch.as_tensor(rows[0], device=self.data.device)
            for start in range(0, len(idx), sizes[0]):
                batch = idx[start : start + sizes[0]]
                self.steps.append((self.data.x[batch], self.data.y[batch], None, None, None))
            return
        batches = [[r[s : s + bs] for s in range(0, len(r), bs)] for r, bs in zip(rows, sizes)]
        for step in range(max(len(b) for b in batches)):
            parts = [b[step] if step < len(b) else np.zeros(0, dtype=np.int64) for b in batches]
            width = max(len(p) for p in parts)
            idx = np.zeros((len(parts), width), dtype=np.int64)
            mask = np.zeros((len(parts), width), dtype=np.float32)
            for i, p in enumerate(parts):
                idx[i, : len(p)], mask[i, : len(p)] = p, 1
            idx = torch.as_tensor(idx, device=self.data.device)
            mask = torch.as_tensor(mask, device=self.data.device)
            counts = mask.sum(1).view(-1, 1, 1)
            active = counts[:, 0, 0] > 0
            if bool((mask == 1).all()):
                self.steps.append((self.data.x[idx], self.data.y[idx], None, None, None))
            else:
                self.steps.append((self.data.x[idx], self.data.y[idx], mask.unsqueeze(-1), counts, active))

    def train_epoch(self, generator):
        multiclass = self.data.task.multiclass
        for x, y, mask, counts, active in self.steps:
            with self.autocast():
                logits = self.model.forward(x, train=True, mask=mask, counts=counts, generator=generator)
            loss = loss_per_model(logits, y, multiclass, mask, counts).sum()
            for p in self.model.params:
                p.grad = None
            loss.backward()
            self.optim.step(self.model.params, active)
        for j in self.live:
            self.state[j]["epochs"] += 1

    # -- validation --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, names):
        """Logits of every live model on the rows of these splits: `(M_live, N, C)`."""
        idx = torch.as_tensor(self.data.rows(names), device=self.data.device)
        width = max(self.model.hidden_dim, self.data.x.shape[1], 1)
        chunk = max(1, PREDICT_CHUNK_ELEMENTS // (self.model.n_models * width))
        outs = []
        for start in range(0, len(idx), chunk):
            with self.autocast():
                outs.append(self.model.forward(self.data.x[idx[start : start + chunk]], train=False).float())
        return torch.cat(outs, 1)

    def validate(self, epoch, scorer, clock):
        """Validate the jobs due after `epoch`, update checkpoints and stopping, drop finished jobs."""
        due = [j for j in self.live if (epoch + 1) % self.jobs[j].conf["check_val_every_n_epoch"] == 0]
        by_valid = defaultdict(list)
        for j in due:
            by_valid[tuple(self.jobs[j].split["valid"])].append(j)
        finished = set()
        for names, members in by_valid.items():
            logits = self.predict(list(names))
            for j in members:
                pos = self.live.index(j)
                score, setting = scorer(names, logits[pos])
                checkpointed, stop = self.monitors[j].update(epoch, score)
                if checkpointed:
                    self.state[j]["postprocessing"] = setting
                    self.best[j] = self.model.state(j)
                if stop:
                    finished.add(j)
        for j in self.live:
            if self.state[j]["epochs"] >= self.jobs[j].conf["max_epochs"]:
                finished.add(j)
        for j in finished:
            self.state[j]["time_s"] = clock()
        if finished:
            remaining = [j for j in self.live if j not in finished]
            self.optim.keep(self.model.positions(remaining))
            self.model.keep(remaining)
            if self.live:
                self._build_plan()

    def results(self):
        out = []
        for j, job in enumerate(self.jobs):
            s, monitor = self.state[j], self.monitors[j]
            if monitor.checkpoint_score is None:
                raise RuntimeError(
                    f"configuration {job.conf} was never validated (max_epochs {job.conf['max_epochs']} < "
                    f"check_val_every_n_epoch {job.conf['check_val_every_n_epoch']}); heareval fails the same way"
                )
            out.append(
                JobResult(
                    conf=job.conf,
                    split=job.split,
                    epoch=monitor.checkpoint_epoch,
                    validation_score=monitor.checkpoint_score,
                    postprocessing=s["postprocessing"],
                    params=self.best[j][0],
                    running=self.best[j][1],
                    time_s=s["time_s"],
                    epochs_trained=s["epochs"],
                )
            )
        return out


def train_jobs(data, jobs, scorer, seed=0, precision="fp32", progress=False):
    """Train every job at once and return each job's checkpointed model.

    Parameters
    ----------
    data : TaskTensors
    jobs : list of Job
    scorer : Scorer
    seed : int
        Seeds initialisation and dropout.
    precision : {"fp32", "bf16"}
        bf16 autocasts the matrix products (parameters, optimiser and scores stay float32).
    progress : bool
        Show a tqdm bar over epochs.

    Returns
    -------
    list of JobResult
        In the order of `jobs`.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    device = data.device
    if precision == "bf16":

        def autocast():
            return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    else:
        autocast = nullcontext
    validator = _Validator(data, scorer)
    by_arch = defaultdict(list)
    for i, job in enumerate(jobs):
        by_arch[architecture(job.conf)].append(i)
    groups = [_Group([jobs[i] for i in idx], idx, data, seed, autocast, scorer.maximize) for idx in by_arch.values()]
    if torch.device(device).type == "cpu":
        generator = np.random.default_rng(seed)  # dropout noise: numpy's generator is faster on the CPU
    else:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
    start = time.time()
    max_epochs = max(job.conf["max_epochs"] for job in jobs)
    bar = tqdm(total=max_epochs, desc="epochs", unit="ep", disable=not progress, leave=False)
    epoch = 0
    while any(g.live for g in groups):
        for g in groups:
            if g.live:
                g.train_epoch(generator)
        for g in groups:
            if g.live:
                g.validate(epoch, validator, lambda: time.time() - start)
        epoch += 1
        bar.update(1)
    bar.close()
    results = [None] * len(jobs)
    for g in groups:
        for pos, result in zip(g.positions, g.results()):
            results[pos] = result
    return results


class _Validator:
    """The monitored validation value (and event post-processing) of one model's validation logits."""

    def __init__(self, data, scorer):
        self.data, self.scorer = data, scorer
        self.task = data.task
        if self.task.is_event:
            from .grids import postprocessing_grid

            self.settings = postprocessing_grid(self.task.metadata)
            if not scorer.use_scores and len(self.settings) != 1:
                raise ValueError("use_scoring_for_early_stopping=false needs exactly one post-processing setting")
        else:
            self.settings = [()]
        self._targets = {}

    def targets(self, names):
        if names not in self._targets:
            if self.task.is_event:
                self._targets[names] = self.task.events_of(names)
            else:
                self._targets[names] = self.task.targets[self.task.indices(names)]
        return self._targets[names]

    def __call__(self, names, logits):
        if not self.scorer.use_scores:
            idx = torch.as_tensor(self.task.indices(names), device=logits.device)
            loss = loss_per_model(logits.unsqueeze(0), self.data.y[idx], self.task.multiclass)[0]
            return float(np.float32(loss.item())), self.settings[0]
        probs = probabilities(logits, self.task.multiclass)
        if not self.task.is_event:
            return float(np.float32(self.scorer.primary(probs, self.targets(names)))), ()
        layout = self.data.layout(list(names))
        events = {s: layout.events(probs, self.task.labels, s) for s in self.settings}
        score, setting = self.scorer.best_postprocessing(events, self.targets(names))
        return float(np.float32(score)), setting


def probabilities(logits, multiclass):
    """heareval's prediction: softmax over labels (multiclass) or per-label sigmoid, as float32 numpy."""
    logits = logits.float()
    probs = torch.softmax(logits, -1) if multiclass else torch.sigmoid(logits)
    return probs.cpu().numpy()
