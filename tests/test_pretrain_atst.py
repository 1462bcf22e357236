"""ATST-Clip and ATST-Frame pretraining: block masks, the loss, the views, and that what trains loads and
validates as a HEAR module (kill + exact resume of both runs in tests/test_pretrain_smoke.py)."""

from __future__ import annotations

import math

import pytest
import torch

from hear_ssl.frontends.db_mel import DbMelSpectrogram, db_mel_from_log_mel
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.objectives import build_objective
from hear_ssl.pretrain.objectives.atst_frame import block_mask
from hear_ssl.pretrain.objectives.base import Batch
from hear_ssl.ssl.losses import cross_view_cosine_loss

from .pretrain_corpus import write_corpus
from .validator_support import assert_hearvalidator_passes

TINY = {"embed_dim": 96, "depth": 2, "num_heads": 4}


def runs(row: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor."""
    lengths, current = [], 0
    for value in row.tolist() + [False]:
        if value:
            current += 1
        elif current:
            lengths.append(current)
            current = 0
    return lengths


@pytest.mark.parametrize("tokens, ratio, block", [(150, 0.65, 5), (40, 0.65, 5), (37, 0.3, 3), (12, 0.5, 3)])
def test_block_mask_has_the_ratio_in_whole_blocks(tokens, ratio, block):
    generator = torch.Generator().manual_seed(0)
    mask = block_mask(64, tokens, ratio, block, generator)
    assert mask.shape == (64, tokens) and mask.dtype == torch.bool
    count = min(max(1, round(ratio * tokens / block)), tokens // block)
    assert (mask.sum(dim=1) == count * block).all()  # exactly, in every row
    assert abs(count * block / tokens - ratio) <= block / tokens
    for row in mask:
        assert all(length % block == 0 for length in runs(row))
    # Rows differ and every position can be masked.
    assert len({tuple(row.tolist()) for row in mask}) > 1
    assert mask.any(dim=0).all()


def test_block_mask_is_a_function_of_the_generator_and_rejects_bad_settings():
    first = block_mask(8, 150, 0.65, 5, torch.Generator().manual_seed(3))
    again = block_mask(8, 150, 0.65, 5, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert not torch.equal(first, block_mask(8, 150, 0.65, 5, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="mask ratio"):
        block_mask(2, 10, 1.0, 5, torch.Generator())
    with pytest.raises(ValueError, match="do not fit"):
        block_mask(2, 4, 0.5, 5, torch.Generator())


def test_cross_view_loss_averages_both_directions_of_two_minus_two_cos():
    p1, p2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    t1, t2 = torch.tensor([[0.0, 3.0]]), torch.tensor([[-1.0, 0.0]])
    # p1 vs t2: cos -1 -> 4; p2 vs t1: cos 1 -> 0.
    assert cross_view_cosine_loss(p1, p2, t1, t2).item() == pytest.approx(2.0)
    p1.requires_grad_(True)
    t2.requires_grad_(True)
    cross_view_cosine_loss(p1 + 0.1, p2, t1, t2).backward()
    assert p1.grad is not None and t2.grad is None  # the teacher's side carries no gradient


def test_cached_log_mel_becomes_the_inference_front_end():
    """Training's input (from the cache's ln mel) equals DbMelSpectrogram on the waveform (loud audio)."""
    from hear_ssl.audio import LogMelSpectrogram
    from hear_ssl.config import FrontEndConfig

    audio = torch.randn(2, 16000) * 0.3
    log_mel = LogMelSpectrogram(FrontEndConfig())(audio)[:, None]
    expected = DbMelSpectrogram()(audio)
    assert torch.allclose(db_mel_from_log_mel(log_mel), expected, atol=1e-4)
    assert math.isclose(float(expected.amax()), float(db_mel_from_log_mel(log_mel).amax()), abs_tol=1e-4)


def tiny_config(objective: str, **options) -> PretrainConfig:
    return PretrainConfig(
        objective=objective, options={**TINY, **options}, batch_size=4, proj_hidden=32, proj_dim=16, mixup_memory=8,
        max_steps=10,
    )  # fmt: skip


def test_atst_frame_views_share_time_and_mask_and_the_teacher_sees_unmasked_input():
    torch.manual_seed(0)
    config = tiny_config("atst_frame", crop_frames=120)
    objective = build_objective(config)
    augment = objective.new_augment(config, seed=1)
    raw = torch.randn(4, 1, 64, 120) * 3 - 6
    inputs = objective.inputs(Batch(raw, raw, torch.arange(4)), augment)
    mel = db_mel_from_log_mel(raw)
    assert torch.equal(inputs["view1"], mel)  # the teacher-side view is not augmented (audiossl's recipe)
    assert inputs["view2"].shape == mel.shape and not torch.equal(inputs["view2"], mel)
    assert inputs["mask"].shape == (4, 30) and (inputs["mask"].sum(1) == 20).all()  # round(.65 * 30 / 5) = 4 blocks
    # Masked tokens' inputs do not reach the student: changing them leaves its output unchanged.
    objective.eval()
    token_mask = inputs["mask"][:1]
    changed = mel[:1].clone()
    first = int(token_mask[0].nonzero()[0])
    changed[..., 4 * first : 4 * first + 4] += 5.0
    encoder = objective.network.encoder
    assert torch.allclose(encoder(mel[:1], token_mask=token_mask), encoder(changed, token_mask=token_mask))
    assert not torch.allclose(encoder(mel[:1]), encoder(changed))
    loss, terms = objective(inputs)
    assert 0.0 <= loss.item() <= 4.0 and torch.isfinite(loss)


def test_atst_clip_views_are_different_segments_of_the_crop():
    torch.manual_seed(0)
    config = tiny_config("atst_clip", crop_frames=200, view_frames=100)
    objective = build_objective(config)
    augment = objective.new_augment(config, seed=1)
    assert augment.fader_gain == 0.0
    raw = torch.randn(4, 1, 64, 200) * 3 - 6
    inputs = objective.inputs(Batch(raw, raw, torch.arange(4)), augment)
    assert inputs["view1"].shape == inputs["view2"].shape == (4, 1, 64, 100)
    assert not torch.equal(inputs["view1"], inputs["view2"])
    loss, _ = objective(inputs)
    loss.backward()
    assert objective.network.encoder.cls_token.grad is not None
    assert objective.network.encoder.mask_embed.grad is None and not objective.network.encoder.mask_embed.requires_grad


def test_atst_objectives_reject_a_foreign_front_end_and_bad_options():
    from hear_ssl.config import EncoderConfig, FrontEndConfig

    with pytest.raises(ValueError, match="ATST's mel front-end"):
        build_objective(
            PretrainConfig(
                objective="atst_frame", options=TINY, frontend=FrontEndConfig(win_length=400), encoder=EncoderConfig()
            )  # fmt: skip
        )
    with pytest.raises(ValueError, match="view_frames <= crop_frames"):
        tiny_config("atst_clip", crop_frames=100, view_frames=200)
    with pytest.raises(ValueError, match="positional embedding"):
        build_objective(tiny_config("atst_frame", crop_frames=1200))
    with pytest.raises(ValueError, match="num_heads 5 does not divide"):
        build_objective(tiny_config("atst_clip", num_heads=5))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("atst")
    write_corpus(root / "audio")
    return root


@pytest.mark.slow  # about a minute each on a shared CPU, mostly hearvalidator
@pytest.mark.parametrize("objective", ["atst_clip", "atst_frame"])
def test_trained_encoder_loads_like_an_official_checkpoint_and_passes_hearvalidator(objective, corpus, tmp_path):
    import hear_ssl.atst
    from hear_ssl.pretrain.export import export_checkpoint
    from hear_ssl.pretrain.train import pretrain

    options = {**TINY, "crop_frames": 160, **({"view_frames": 100} if objective == "atst_clip" else {})}
    config = PretrainConfig(
        objective=objective, options=options, data=str(corpus / "audio"), cache_dir=str(corpus / "cache"),
        out_dir=str(tmp_path / "run"), batch_size=4, max_steps=2, checkpoint_every=2, proj_hidden=32, proj_dim=16,
        mixup_memory=8, progress=False,
    )  # fmt: skip
    result = export_checkpoint(pretrain(config), tmp_path / f"{objective}.safetensors", which="target")
    model = hear_ssl.atst.load_model(str(result.weights))
    kind = objective.split("_")[1]
    assert model.name == f"atst-{kind}"
    assert model.encoder.config.num_heads == 4 and model.encoder.config.depth == 2
    expected = 2 * 2 * 96 if kind == "clip" else 2 * 96  # every block concatenated (+ patch means for clip)
    assert model.scene_embedding_size == expected
    checkpoint = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    weights = {k.removeprefix("encoder."): v for k, v in checkpoint["target"].items() if k.startswith("encoder.")}
    for key, value in model.encoder.state_dict().items():
        assert torch.allclose(value, weights[key].to(value.dtype), atol=1e-3), key  # float16 file
    assert_hearvalidator_passes("hear_ssl.atst", "--model", str(result.weights), cwd=tmp_path)


class FixedCrops:
    """A sampler that serves the same micro-batch every step."""

    def __init__(self, crops: torch.Tensor):
        self.crops = crops

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crops[:batch_size], torch.arange(batch_size)


@pytest.mark.parametrize("objective", ["atst_clip", "atst_frame"])
def test_a_bfloat16_autocast_step_trains(objective):
    """The CUDA default (bf16 autocast) as far as a CPU can run it: finite loss, weights change, EMA moves."""
    from dataclasses import replace

    from hear_ssl.pretrain.objectives.base import ObjectiveData
    from hear_ssl.pretrain.state import TrainState, train_step

    options = {"crop_frames": 120, **({"view_frames": 80} if objective == "atst_clip" else {})}
    config = replace(tiny_config(objective, **options), dtype="bfloat16")
    crops = torch.randn(4, 1, 64, 120) * 3 - 6
    torch.manual_seed(0)
    state = TrainState.create(config, ObjectiveData(crops=FixedCrops(crops)))
    before = state.objective.network.encoder.pos_embed.detach().clone()
    target_before = state.objective.target.encoder.pos_embed.detach().clone()
    loss, terms = train_step(state)
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert not torch.equal(before, state.objective.network.encoder.pos_embed)
    assert not torch.equal(target_before, state.objective.target.encoder.pos_embed)
    assert terms["ema_decay"] == pytest.approx(config.objective_options.ema_base)
