"""The fast downstream engine's pieces against heareval 2021.1.3's own code, piece by piece.

Each test builds the heareval object that defines the behaviour (its grids and sampling, its split
rule, its event post-processing, its MLP with torch's Adam, Lightning's EarlyStopping) and checks the
batched re-implementation gives the same answer. No training of real tasks here; see
tests/test_downstream_parity.py for end-to-end parity.
"""

import copy
import math
import random

import numpy as np
import pytest
import torch

from hear_ssl.evaluation.downstream.adam import StackedAdam
from hear_ssl.evaluation.downstream.events import FrameLayout
from hear_ssl.evaluation.downstream.grids import expand_grid, postprocessing_grid, sample_grid_points
from hear_ssl.evaluation.downstream.mlp import StackedMLP
from hear_ssl.evaluation.downstream.splits import data_splits
from hear_ssl.evaluation.downstream.trainer import Monitor, loss_per_model

from .requires import require_module

tp = require_module("heareval.predictions.task_predictions", "heareval is installed by `make install-eval`")


def _metadata(**extra):
    meta = {"task_name": "toy", "split_mode": "trainvaltest", "splits": ["train", "valid", "test"]}
    meta.update(extra)
    return meta


@pytest.mark.parametrize("grid", ["default", "fast", "faster"])
def test_grid_points_are_the_ones_heareval_trains(grid):
    from sklearn.model_selection import ParameterGrid

    reference = {"default": tp.PARAM_GRID, "fast": tp.FAST_PARAM_GRID, "faster": tp.FASTER_PARAM_GRID}[grid]
    confs = list(ParameterGrid(reference))
    assert expand_grid(reference) == confs
    random.seed(42)  # heareval's seed_everything(42) right before random.shuffle
    random.shuffle(confs)
    assert sample_grid_points(_metadata(), grid, 8) == confs[:8]


def test_task_overrides_apply_like_heareval():
    meta = _metadata(task_name="dcase2016_task2")
    assert {c["check_val_every_n_epoch"] for c in sample_grid_points(meta, "default", 16)} == {10}
    meta = _metadata(evaluation_params={"task_specific_param_grid": {"max_epochs": [7]}})
    assert {c["max_epochs"] for c in sample_grid_points(meta, "fast", 16)} == {7}
    with pytest.raises(ValueError, match="unknown grid"):
        sample_grid_points(_metadata(), "fastest")
    with pytest.raises(ValueError, match="not implemented by the fast engine"):
        sample_grid_points(_metadata(), {"optim": [torch.optim.SGD]})


def test_postprocessing_grid_order_matches_heareval():
    from sklearn.model_selection import ParameterGrid

    expected = [tuple(c.items()) for c in ParameterGrid(tp.EVENT_POSTPROCESSING_GRID)]
    assert postprocessing_grid(_metadata()) == expected


@pytest.mark.parametrize("mode", ["trainvaltest", "new_split_kfold", "presplit_kfold"])
def test_splits_match_heareval(mode):
    meta = _metadata(split_mode=mode, splits=["fold02", "fold00", "fold04", "fold01", "fold03"])
    if mode == "trainvaltest":
        meta["splits"] = ["train", "valid", "test"]
    assert data_splits(meta) == tp.get_splits_from_metadata(meta)


def test_event_postprocessing_matches_heareval():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    filenames, timestamps = [], []
    for name in ["x.wav", "y.wav", "z.wav"]:
        ts = np.arange(0, 4000, 50.0)
        rng.shuffle(ts)  # rows need not be in time order
        filenames += [f"/emb/valid/{name}"] * len(ts)
        timestamps += list(ts)
    # Smooth random activity so that events of many lengths appear.
    probs = np.clip(np.cumsum(rng.normal(0, 0.25, (len(timestamps), 3)), 0) % 1.0, 0, 1).astype(np.float32)
    grid = {"median_filter_ms": [0, 150, 250], "min_duration": [0, 125, 250]}
    expected = tp.get_events_for_all_files(
        torch.from_numpy(probs), filenames, torch.tensor(timestamps), dict(enumerate(labels)), grid
    )
    layout = FrameLayout.build([f.split("/")[-1] for f in filenames], np.array(timestamps))
    for setting, by_file in expected.items():
        ours = layout.events(probs, labels, setting)
        assert list(ours) == list(by_file)
        assert ours == by_file, setting
        assert sum(len(v) for v in ours.values()) > 0


def _heareval_model(conf, n_in, n_out, seed):
    torch.manual_seed(seed)
    return tp.FullyConnectedPrediction(n_in, n_out, "multiclass", copy.copy(conf))


def _stack_from(models, confs, n_in, n_out):
    """A StackedMLP holding exactly the weights of the given heareval models."""
    stack = StackedMLP(confs, n_in, n_out, torch.device("cpu"), seeds=list(range(len(confs))))
    states = []
    for model in models:
        linears = [m for m in model.hidden if isinstance(m, torch.nn.Linear)] + [model.projection]
        norms = [m for m in model.hidden if isinstance(m, torch.nn.BatchNorm1d)]
        tensors = {}
        for i, lin in enumerate(linears):
            tensors[f"weight{i}"] = lin.weight.detach().t().clone()
            tensors[f"bias{i}"] = lin.bias.detach().view(1, -1).clone()
        for i, bn in enumerate(norms):
            tensors[f"bn_weight{i}"] = bn.weight.detach().view(1, -1).clone()
            tensors[f"bn_bias{i}"] = bn.bias.detach().view(1, -1).clone()
        states.append((tensors, [(bn.running_mean.clone(), bn.running_var.clone()) for bn in norms]))
    stack.load_state(states)  # the tests use dropout 0, as checkpoints loaded for prediction do
    return stack


@pytest.mark.parametrize("hidden_layers", [1, 2])
def test_stacked_models_train_like_separate_heareval_models(hidden_layers):
    n_in, n_out, n = 12, 5, 40
    base = {**tp.PARAM_GRID, "hidden_layers": [hidden_layers], "hidden_dim": [16], "dropout": [0.0]}
    confs = [dict(c) for c in tp.ParameterGrid({**base, "lr": [1e-3, 3.2e-3]})]
    models = [_heareval_model(c, n_in, n_out, seed) for seed, c in enumerate(confs)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=c["lr"]) for m, c in zip(models, confs)]
    stack = _stack_from(models, confs, n_in, n_out)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, n_in, generator=gen)
    y = torch.randint(0, n_out, (n,), generator=gen)
    # Eval mode (running statistics) agrees after one training-mode pass updated them.
    with torch.no_grad():
        stack.forward(x, train=True)
        for model in models:
            model.train()
            model.forward_logit(x)
            model.eval()
        expected = torch.stack([model.forward_logit(x) for model in models])
        np.testing.assert_allclose(stack.forward(x, train=False), expected, atol=1e-5)
    stack = _stack_from(models, confs, n_in, n_out)
    optim = StackedAdam(stack.params, [c["lr"] for c in confs])
    for _ in range(5):
        losses = []
        for model, opt in zip(models, optimizers):
            model.train()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.forward_logit(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        logits = stack.forward(x, train=True)
        ours = loss_per_model(logits, y, multiclass=True)
        for p in stack.params:
            p.grad = None
        ours.sum().backward()
        optim.step(stack.params)
        np.testing.assert_allclose(ours.detach().numpy(), losses, rtol=1e-5)
    # After 5 Adam steps the parameters agree, except the biases feeding a BatchNorm: their true
    # gradient is 0 (the norm removes them), so Adam turns float round-off into +-lr steps, in
    # heareval's model as here; they do not change any training-mode output.
    for m, model in enumerate(models):
        linears = [mod for mod in model.hidden if isinstance(mod, torch.nn.Linear)] + [model.projection]
        ours = stack.state(m)[0]
        for i, lin in enumerate(linears):
            np.testing.assert_allclose(ours[f"weight{i}"].detach().t(), lin.weight.detach(), atol=2e-6)
        np.testing.assert_allclose(ours[f"bias{hidden_layers}"][0].detach(), model.projection.bias.detach(), atol=2e-6)
        norms = [mod for mod in model.hidden if isinstance(mod, torch.nn.BatchNorm1d)]
        for i, bn in enumerate(norms):
            np.testing.assert_allclose(stack.running_var[i][m], bn.running_var, atol=1e-5)


def test_models_on_different_rows_train_as_if_alone():
    """k-fold stacks pad each model's batch with masked rows; a model must not feel the padding."""
    n_in, n_out = 6, 3
    conf = {**{k: v[0] for k, v in tp.PARAM_GRID.items()}, "hidden_dim": 8, "dropout": 0.0}
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, n_in, generator=gen)
    y = torch.randint(0, n_out, (30,), generator=gen)
    rows = [torch.arange(0, 30), torch.arange(0, 17)]  # the second model sees fewer rows

    def run(stack, optim, inputs, targets, mask=None, counts=None, active=None):
        logits = stack.forward(inputs, train=True, mask=mask, counts=counts)
        for p in stack.params:
            p.grad = None
        loss_per_model(logits, targets, True, mask, counts).sum().backward()
        optim.step(stack.params, active)

    both = StackedMLP([conf, conf], n_in, n_out, torch.device("cpu"), seeds=[3, 4])
    alone = StackedMLP([conf], n_in, n_out, torch.device("cpu"), seeds=[4])
    adam_both, adam_alone = StackedAdam(both.params, [1e-3, 1e-3]), StackedAdam(alone.params, [1e-3])
    idx = torch.stack([rows[0], torch.cat([rows[1], torch.zeros(13, dtype=torch.long)])])
    mask = torch.stack([torch.ones(30), torch.cat([torch.ones(17), torch.zeros(13)])]).unsqueeze(-1)
    counts = mask.sum(1, keepdim=True)
    for _ in range(3):
        run(both, adam_both, x[idx], y[idx], mask, counts, torch.tensor([True, True]))
        run(alone, adam_alone, x[rows[1]], y[rows[1]])
    # A step in which the second model has no rows leaves it untouched.
    before = both.state(1)[0]
    empty = torch.stack([torch.ones(30), torch.zeros(30)]).unsqueeze(-1)
    run(both, adam_both, x[idx], y[idx], empty, empty.sum(1, keepdim=True), torch.tensor([True, False]))
    after, reference = both.state(1)[0], alone.state(0)[0]
    for name in both.names:
        assert torch.equal(after[name], before[name])
        if name != "bias0":  # feeds a BatchNorm: zero true gradient, see the test above
            np.testing.assert_allclose(after[name], reference[name], atol=1e-5)
    np.testing.assert_allclose(both.running_var[0][1], alone.running_var[0][0], atol=1e-5)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_monitor_stops_like_lightning_early_stopping(mode):
    from pytorch_lightning.callbacks.early_stopping import EarlyStopping

    rng = np.random.default_rng(3)
    for trial in range(50):
        scores = list(np.round(rng.uniform(0, 1, 40), 1).astype(np.float32))  # rounding makes ties
        if trial % 5 == 0:
            scores[rng.integers(0, 40)] = float("nan")
        patience = int(rng.integers(1, 6))
        reference = EarlyStopping(monitor="val", mode=mode, patience=patience, min_delta=0.0)
        monitor = Monitor(maximize=mode == "max", patience=patience)
        for epoch, score in enumerate(scores):
            expected_stop, _ = reference._evaluate_stopping_criteria(torch.tensor(score))
            _, stop = monitor.update(epoch, float(score))
            assert stop == expected_stop
            if stop:
                break


def test_monitor_checkpoints_first_then_strict_improvements_and_never_nan():
    monitor = Monitor(maximize=True, patience=100)
    assert monitor.update(2, float("nan")) == (True, True)  # first validation is always saved ...
    assert monitor.checkpoint_score == -math.inf  # ... with NaN stored as -inf
    monitor = Monitor(maximize=True, patience=100)
    saved = [monitor.update(e, s)[0] for e, s in enumerate([0.5, 0.5, 0.7, 0.6, 0.7, 0.8])]
    assert saved == [True, False, True, False, False, True]
    assert (monitor.checkpoint_epoch, monitor.checkpoint_score) == (5, 0.8)


def test_sound_event_scores_equal_heareval_score_functions():
    from hear_ssl.evaluation.downstream.scoring import Scorer

    rng = np.random.default_rng(5)
    labels = ["door", "knock", "speech"]
    metadata = {"evaluation": ["event_onset_200ms_fms", "segment_1s_er", "event_onset_offset_50ms_20perc_fms"]}

    def random_events(n_files):
        out = {}
        for f in range(n_files):
            starts = np.sort(rng.uniform(0, 9000, rng.integers(0, 6)))
            out[f"clip{f}.wav"] = [
                {"label": str(rng.choice(labels)), "start": float(s), "end": float(s + rng.uniform(50, 2000))}
                for s in starts
            ]
        return out

    scorer = Scorer(metadata, labels)
    targets = random_events(6)
    for _ in range(5):
        predictions = random_events(7)  # one predicted file has no reference events at all
        ours = scorer.named("val", predictions, targets)
        for fn in scorer.functions:
            expected = fn(predictions, targets)
            for sub, value in expected:
                assert ours[f"val_{fn}_{sub}"] == pytest.approx(np.float32(value), nan_ok=True)
        assert ours["val_score"] == ours["val_event_onset_200ms_fms"]
