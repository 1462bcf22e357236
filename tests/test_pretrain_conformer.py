"""Conformer wav2vec 2.0 pretraining: span masks, distractors, the contrastive and diversity losses, the Gumbel
quantiser and its temperature schedule, exact resume, and that what trains loads through `hear_ssl.conformer`
and passes hearvalidator."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hear_ssl.conformer
from hear_ssl import cli
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.objectives import build_objective
from hear_ssl.pretrain.objectives.base import Batch, ObjectiveData
from hear_ssl.pretrain.objectives.conformer_w2v2 import (
    GumbelProductQuantizer,
    contrastive_loss,
    diversity_loss,
    gumbel_temperature,
    sample_distractors,
    span_mask,
)
from hear_ssl.pretrain.state import TrainState, train_step
from hear_ssl.weights import CheckpointError

from .pretrain_corpus import write_corpus
from .resume_support import killed_and_resumed
from .test_pretrain_atst import runs  # the masks' run-length helper
from .test_pretrain_smoke import command
from .validator_support import assert_hearvalidator_passes

TINY = {"layers": 2, "dim": 64, "heads": 4, "ffn": 128, "extractor_dim": 32, "crop_frames": 160,
        "num_negatives": 10, "entries": 16, "codevector_dim": 32, "final_dim": 32}  # fmt: skip
TINY_FLAGS = [f"--conformer-w2v2-{k.replace('_', '-')}={v}" for k, v in TINY.items()]


@pytest.mark.parametrize("steps, prob, span", [(250, 0.3, 3), (40, 0.3, 3), (24, 0.065, 10), (10, 0.5, 1)])
def test_span_mask_draws_whole_spans_with_the_start_count(steps, prob, span):
    mask = span_mask(64, steps, prob, span, torch.Generator().manual_seed(0))
    assert mask.shape == (64, steps) and mask.dtype == torch.bool
    count = min(max(1, round(prob * steps)), steps - span + 1)
    masked = mask.sum(dim=1)
    assert (masked >= span + count - 1).all() and (masked <= count * span).all()
    for row in mask:
        assert all(length >= span for length in runs(row))  # overlapping spans only merge
    # wav2vec 2.0's expected share for independent starts, 1 - (1 - p)^span, within sampling error.
    if steps == 250:
        assert abs(masked.float().mean().item() / steps - (1 - (1 - prob) ** span)) < 0.08
    assert len({tuple(row.tolist()) for row in mask}) > 1 and mask.any(dim=0).all()


def test_span_mask_is_a_function_of_the_generator_and_rejects_bad_settings():
    first = span_mask(8, 100, 0.3, 3, torch.Generator().manual_seed(3))
    assert torch.equal(first, span_mask(8, 100, 0.3, 3, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, span_mask(8, 100, 0.3, 3, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="mask probability"):
        span_mask(2, 10, 0.0, 3, torch.Generator())
    with pytest.raises(ValueError, match="do not fit"):
        span_mask(2, 4, 0.3, 5, torch.Generator())
    with pytest.raises(ValueError, match="two masked steps"):
        span_mask(2, 3, 0.1, 1, torch.Generator())


def test_distractors_are_other_masked_steps_of_the_same_clip():
    mask = torch.zeros(3, 12, dtype=torch.bool)
    mask[0, [1, 2, 3, 7]] = True
    mask[1, [0, 11]] = True  # two masked steps: each one's only distractor is the other
    mask[2, 4:10] = True
    distractors = sample_distractors(mask, 200, torch.Generator().manual_seed(0))
    clip, step = mask.nonzero().unbind(1)
    assert distractors.shape == (12, 200)
    own = torch.arange(12)[:, None]
    assert (distractors != own).all()  # never the positive
    assert (clip[distractors] == clip[:, None]).all()  # always the same clip
    assert mask[clip[distractors], step[distractors]].all()  # always a masked step
    assert (distractors[4] == 5).all() and (distractors[5] == 4).all()
    for i in range(12):  # every other masked step of the clip is drawn, about uniformly
        candidates = [j for j in range(12) if clip[j] == clip[i] and j != i]
        counts = torch.bincount(distractors[i], minlength=12)[candidates].float()
        assert set(distractors[i].tolist()) == set(candidates)
        assert counts.min() > 0.5 * 200 / len(candidates)
    with pytest.raises(ValueError, match="two masked steps"):
        sample_distractors(torch.tensor([[True, False], [True, True]]), 4, torch.Generator())


def test_contrastive_loss_is_the_cross_entropy_of_the_own_target_among_distractors():
    targets = torch.eye(4, 6) * 3.0
    one_clip = torch.ones(1, 4, dtype=torch.bool)
    distractors = torch.tensor([[1, 2], [0, 2], [3, 1], [2, 0]])
    loss, accuracy = contrastive_loss(targets.clone(), targets, one_clip, distractors, temperature=0.1)
    # cos = 1 with the own target, 0 with the distractors: -log(e^10 / (e^10 + 2)).
    assert loss.item() == pytest.approx(-math.log(math.exp(10) / (math.exp(10) + 2)), abs=1e-6)
    assert accuracy.item() == 1.0
    predictions = targets[[1, 0, 3, 2]]  # each step predicts a distractor
    loss, accuracy = contrastive_loss(predictions, targets, one_clip, distractors, temperature=0.1)
    assert accuracy.item() == 0.0 and loss.item() > 9.0
    predictions = torch.randn(4, 6, requires_grad=True)
    loss, _ = contrastive_loss(predictions, targets, one_clip, distractors, temperature=0.5)
    rows = [torch.tensor([i, *distractors[i].tolist()]) for i in range(4)]
    logits = torch.stack([F.cosine_similarity(predictions[i], targets[row], dim=-1) for i, row in enumerate(rows)])
    assert loss.item() == pytest.approx(F.cross_entropy(logits / 0.5, torch.zeros(4, dtype=torch.long)).item())
    loss.backward()
    assert predictions.grad.abs().sum() > 0


def test_contrastive_loss_indexes_steps_within_their_own_clip():
    """Two clips: step n's distractor indices count masked steps of the batch, and its cosines are its clip's."""
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    predictions, targets = torch.randn(5, 3), torch.randn(5, 3)
    distractors = torch.tensor([[2, 1], [0, 2], [1, 0], [4, 4], [3, 3]])  # masked steps 0-2: clip 0; 3-4: clip 1
    loss, _ = contrastive_loss(predictions, targets, mask, distractors, 0.2)
    logits = torch.stack(
        [F.cosine_similarity(predictions[n], targets[[n, *distractors[n].tolist()]], dim=-1) for n in range(5)]
    )
    assert loss.item() == pytest.approx(F.cross_entropy(logits / 0.2, torch.zeros(5, dtype=torch.long)).item())


def test_a_distractor_with_the_positives_codewords_is_left_out():
    targets = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    codes = torch.tensor([[3, 1], [3, 1], [0, 2]])  # steps 0 and 1 have the same codewords
    predictions = torch.tensor([[1.0, 0.2], [0.0, 1.0], [0.3, 1.0]])
    distractors = torch.tensor([[1, 2], [0, 2], [0, 1]])
    loss, _ = contrastive_loss(predictions, targets, torch.ones(1, 3, dtype=torch.bool), distractors, 0.1, codes)
    cos = F.cosine_similarity(predictions[:, None], targets[None], dim=-1) / 0.1  # (step, candidate)
    kept = [[0, 2], [1, 2], [2, 0, 1]]  # own target first; 0 and 1 are not each other's distractors
    expected = torch.stack([-(cos[i, row[0]] - torch.logsumexp(cos[i, row], 0)) for i, row in enumerate(kept)])
    assert loss.item() == pytest.approx(expected.mean().item(), rel=1e-5)


def test_quantiser_picks_one_entry_per_group_straight_through():
    torch.manual_seed(0)
    quantizer = GumbelProductQuantizer(8, groups=2, entries=5, dim=6)
    x = torch.randn(7, 8)
    vectors, probs, chosen = quantizer(x, temperature=2.0)  # evaluation: the argmax
    assert vectors.shape == (7, 6) and probs.shape == (7, 2, 5)
    assert torch.allclose(probs.sum(-1), torch.ones(7, 2))
    ids = quantizer.logits(x).view(7, 2, 5).argmax(-1)
    expected = torch.cat([quantizer.codebook[0][ids[:, 0]], quantizer.codebook[1][ids[:, 1]]], dim=1)
    assert torch.allclose(vectors, expected) and torch.equal(chosen, ids)
    noise = -torch.log(-torch.log(torch.rand(7, 2, 5, generator=torch.Generator().manual_seed(1))))
    vectors, _, chosen = quantizer(x, temperature=2.0, noise=noise)
    noisy_ids = (quantizer.logits(x).view(7, 2, 5) + noise).argmax(-1)
    hard = torch.cat([quantizer.codebook[0][noisy_ids[:, 0]], quantizer.codebook[1][noisy_ids[:, 1]]], dim=1)
    assert torch.allclose(vectors, hard, atol=1e-6) and torch.equal(chosen, noisy_ids)  # exactly codebook entries
    assert not torch.equal(noisy_ids, ids)  # the noise changes some choices
    vectors.pow(2).sum().backward()
    assert quantizer.logits.weight.grad.abs().sum() > 0  # backward: the soft choice's gradient reaches the logits
    assert quantizer.codebook.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divisible"):
        GumbelProductQuantizer(8, groups=3, entries=5, dim=8)


def test_diversity_loss_is_zero_for_uniform_use_and_high_for_one_entry():
    loss, perplexity = diversity_loss(torch.full((2, 320), 1 / 320))
    assert loss.item() == pytest.approx(0.0, abs=1e-4) and perplexity.item() == pytest.approx(640, rel=1e-4)
    collapsed = F.one_hot(torch.tensor([3, 7]), 320).float()
    loss, perplexity = diversity_loss(collapsed)
    assert perplexity.item() == pytest.approx(2.0, rel=1e-4) and loss.item() == pytest.approx(638 / 640, rel=1e-4)


def test_gumbel_temperature_anneals_per_step_to_its_floor():
    assert gumbel_temperature(0, 2.0, 0.5, 0.999995) == 2.0
    assert gumbel_temperature(1000, 2.0, 0.5, 0.999995) == pytest.approx(2.0 * 0.999995**1000)
    floor = math.ceil(math.log(0.25) / math.log(0.999995))  # 2 * d^n = 0.5
    assert gumbel_temperature(floor + 10, 2.0, 0.5, 0.999995) == 0.5
    assert gumbel_temperature(10, 1.0, 0.5, 0.9) == pytest.approx(max(0.9**10, 0.5))


def tiny_config(**options) -> PretrainConfig:
    return PretrainConfig(objective="conformer_w2v2", options={**TINY, **options}, batch_size=4, max_steps=10)


class FixedCrops:
    """A sampler that serves the same micro-batch every step, with the state interface checkpoints use."""

    def __init__(self, crops: torch.Tensor):
        self.crops = crops

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crops[:batch_size], torch.arange(batch_size)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def crops(seed: int = 0) -> torch.Tensor:
    return torch.randn(4, 1, 64, 160, generator=torch.Generator().manual_seed(seed)) * 3 - 6


def test_inputs_mask_steps_and_the_masked_steps_do_not_reach_the_context_of_others():
    torch.manual_seed(0)
    config = tiny_config(mask_prob=0.2, mask_length=4)
    objective = build_objective(config).eval()
    raw = crops()
    inputs = objective.inputs(Batch(raw, raw, torch.arange(4)), objective.new_augment(config, seed=1))
    mask = inputs["mask"]
    assert mask.shape == (4, 40) and inputs["distractors"].shape == (int(mask.sum()), 10)
    assert inputs["gumbel"].shape == (int(mask.sum()), 2, 16)
    # Changing the log-mel under a masked step changes its target latent but not the context network's input.
    step = int(mask[0].nonzero()[0])
    changed = raw.clone()
    changed[0, :, :, 4 * step : 4 * step + 4] += 5.0
    encoder = objective.encoder
    with torch.no_grad():

        def context(mel):
            latents = encoder.features(mel)
            return encoder.context(torch.where(mask[..., None], objective.mask_embedding, latents))[-1]

        assert torch.allclose(context(raw), context(changed), atol=1e-5)
        assert not torch.allclose(encoder.features(raw)[0, step], encoder.features(changed)[0, step])
    loss, terms = objective.train()(inputs)
    assert torch.isfinite(loss) and {"ssl_loss", "diversity_loss", "code_perplexity", "accuracy"} <= set(terms)
    loss.backward()
    assert all(p.grad is not None for p in objective.parameters())  # DDP needs every parameter used


def test_training_resumes_exactly_from_a_state_dict(tmp_path):
    """Mask, distractor and Gumbel draws, dropout, the temperature's step count: all in the checkpoint."""
    config = replace(tiny_config(), max_steps=4)

    def fresh() -> TrainState:
        torch.manual_seed(0)
        return TrainState.create(config, ObjectiveData(crops=FixedCrops(crops())))

    straight = fresh()
    expected = [train_step(straight)[0].item() for _ in range(4)]
    first = fresh()
    got = [train_step(first)[0].item() for _ in range(2)]
    torch.save(first.state_dict(), tmp_path / "ckpt.pt")
    torch.manual_seed(123)  # the resumed process starts elsewhere; the checkpoint must restore everything
    resumed = TrainState.create(config, ObjectiveData(crops=FixedCrops(crops())))
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    assert int(resumed.objective.updates) == 2
    got += [train_step(resumed)[0].item() for _ in range(2)]
    assert got == expected and len(set(expected)) > 1
    for key, value in straight.objective.state_dict().items():
        assert torch.equal(value, resumed.objective.state_dict()[key]), key
    _, terms = train_step(resumed)
    assert terms["gumbel_temp"] == pytest.approx(2.0 * 0.999995**4)


def test_a_bfloat16_autocast_step_trains():
    """The CUDA default (bf16 autocast) as far as a CPU can run it: finite loss, weights change."""
    config = replace(tiny_config(), dtype="bfloat16")
    torch.manual_seed(0)
    state = TrainState.create(config, ObjectiveData(crops=FixedCrops(crops())))
    before = state.objective.encoder.feature_encoder.conv.weight.detach().clone()
    loss, terms = train_step(state)
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert not torch.equal(before, state.objective.encoder.feature_encoder.conv.weight)
    assert terms["gumbel_temp"] == 2.0


def test_without_quantiser_targets_are_projected_latents():
    torch.manual_seed(0)
    config = tiny_config(quantize=False)
    objective = build_objective(config)
    assert objective.quantizer is None and objective.project_q.in_features == TINY["extractor_dim"]
    raw = crops()
    inputs = objective.inputs(Batch(raw, raw, torch.arange(4)), objective.new_augment(config, seed=1))
    assert "gumbel" not in inputs
    loss, terms = objective(inputs)
    assert torch.isfinite(loss) and "diversity_loss" not in terms


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mask_prob": 1.5}, "mask_prob must lie in"),
        ({"heads": 5}, "5 heads do not divide the width 64"),
        ({"first_kernel": 4}, "first_kernel must be a positive odd number"),
        ({"codevector_dim": 33}, "codevector_dim 33 must be divisible by groups 2"),
        ({"gumbel_min": 3.0}, "gumbel_min <= gumbel_max"),
        ({"entries": 1}, "entries must be at least 2"),
        ({"num_negatives": 0}, "num_negatives must be positive"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        build_objective(tiny_config(**options))


def test_crops_too_short_for_the_mask_and_foreign_flags_are_refused(capsys):
    with pytest.raises(ValueError, match="do not fit crops of 2 steps"):
        build_objective(tiny_config(crop_frames=8))
    assert cli.main(["pretrain", "--objective", "conformer_w2v2", "--conformer-w2v2-mask-prob", "2"]) == 2
    assert "mask_prob must lie in (0, 1), got 2.0" in capsys.readouterr().err
    assert cli.main(["pretrain", "--objective", "byol", "--conformer-w2v2-layers", "2"]) == 2
    assert "--conformer-w2v2-layers is a setting of --objective conformer_w2v2" in capsys.readouterr().err


def test_hear_module_needs_a_file_and_names_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="no published weights.*load_model\\('path/to/checkpoint'"):
        hear_ssl.conformer.load_model("")
    with pytest.raises(ValueError, match="not served by hear_ssl.conformer"):
        hear_ssl.conformer.load_model("x.safetensors", model_name="byol-a-512")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a hear-ssl Conformer export"):
        hear_ssl.conformer.load_model(str(tmp_path / "other.safetensors"))


def exported(tmp_path, objective_options=None):
    """A tiny trained-from-scratch checkpoint exported as `hear-ssl export` does (no training)."""
    from hear_ssl.pretrain.export import export_checkpoint

    torch.manual_seed(0)
    state = TrainState.create(
        replace(tiny_config(**(objective_options or {})), out_dir=str(tmp_path)),
        ObjectiveData(crops=FixedCrops(crops()), norm_mean=-6.0, norm_std=3.0),
    )
    torch.save(state.state_dict(), tmp_path / "ckpt.pt")
    return export_checkpoint(tmp_path / "ckpt.pt", tmp_path / "tiny.safetensors", dtype="float32"), state


def test_export_loads_through_the_hear_module_with_its_norm_and_timestamps(tmp_path):
    result, state = exported(tmp_path)
    assert result.model_config["norm"] == {"mode": "fixed", "mean": -6.0, "std": 3.0, "serab_compat": False}
    model = hear_ssl.conformer.load_model(str(result.weights))
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, state.objective.encoder.state_dict()[key]), key
    assert model.scene_embedding_size == model.timestamp_embedding_size == 64 and model.sample_rate == 16000
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32) * 0.1)
    embeddings, timestamps = hear_ssl.conformer.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (3, 25, 64) and timestamps.shape == (3, 25)  # 101 frames -> 25 steps of 40 ms
    assert timestamps[0, 0].item() == 15.0 and torch.allclose(timestamps.diff(dim=1), torch.tensor(40.0))
    # The embedder computes what the trained encoder computes on the standardised log-mel.
    from hear_ssl.audio import LogMelSpectrogram

    mel = (LogMelSpectrogram(state.config.frontend)(audio) + 6.0) / 3.0
    with torch.no_grad():
        assert torch.allclose(embeddings, state.objective.encoder.eval()(mel), atol=1e-5)
    scene = hear_ssl.conformer.get_scene_embeddings(audio, model)
    assert torch.allclose(scene, embeddings.mean(1)) and torch.allclose(
        hear_ssl.conformer.get_scene_embeddings(audio[1:2], model), scene[1:2], atol=1e-5
    )  # a clip's embedding does not depend on its batch
    assert hear_ssl.conformer.get_scene_embeddings(audio[:1, :200], model).shape == (1, 64)  # shorter than a step
    first = hear_ssl.conformer.load_model(str(result.weights), layer=0)
    assert not torch.allclose(hear_ssl.conformer.get_scene_embeddings(audio, first), scene)
    with pytest.raises(CheckpointError, match="holds a 2x64 Conformer, not conformer-w2v2-base"):
        hear_ssl.conformer.load_model(str(result.weights), model_name="conformer-w2v2-base")
    with pytest.raises(ValueError, match="layer must be in"):
        hear_ssl.conformer.load_model(str(result.weights), layer=2)


def test_a_registered_size_loads_under_its_name(tmp_path):
    options = {"layers": 4, "dim": 192, "heads": 4, "ffn": 768, "extractor_dim": 256}
    result, _ = exported(tmp_path, options)
    model = hear_ssl.conformer.load_model(str(result.weights))
    assert model.name == "conformer-w2v2-4x192" and model.scene_embedding_size == 192
    assert hear_ssl.load_model(str(result.weights), "conformer-w2v2-4x192").name == "conformer-w2v2-4x192"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformer")
    write_corpus(root / "audio")
    cache = root / "cache"
    assert cli.main(["pretrain", "--data", str(root / "audio"), "--cache-dir", str(cache), "--prepare-only",
                     "--no-progress"]) == 0  # fmt: skip
    return root / "audio", cache


@pytest.mark.slow  # about a minute on a shared CPU: three training processes, then hearvalidator
def test_kill_resume_export_load_and_hearvalidator(corpus, tmp_path):
    audio, cache = corpus
    args = ["--objective", "conformer_w2v2", *TINY_FLAGS]
    _, resumed = killed_and_resumed(lambda out_dir: command(args, out_dir, audio, cache), tmp_path)
    interrupted, new_state = tmp_path / "interrupted", resumed["model"]
    assert int(new_state["updates"]) == 6  # the temperature schedule's step count resumed too

    weights = tmp_path / "conformer.safetensors"
    assert cli.main(["export", str(interrupted / "ckpt.pt"), "--out", str(weights)]) == 0
    assert "conformer_w2v2" in weights.with_suffix(".md").read_text()
    model = hear_ssl.conformer.load_model(str(weights))
    for key, value in model.encoder.state_dict().items():
        assert torch.allclose(value, new_state["network.encoder." + key].to(value.dtype), atol=1e-3), key  # float16
    assert_hearvalidator_passes("hear_ssl.conformer", "--model", str(weights), cwd=tmp_path)
