"""BYOL-A batch augmentations: the maths of each step, and state that resumes exactly."""

import random

import pytest
import torch
import torch.nn.functional as F

from hear_ssl.ssl.augment import BYOLAugment, log_mixup_exp, normalize_batch, per_sample_augment, resize_crop


def test_log_mixup_exp_mixes_in_the_linear_domain():
    x, other = torch.randn(2, 1, 4, 5), torch.randn(2, 1, 4, 5)
    lam = torch.tensor([0.0, 0.3]).view(2, 1, 1, 1)
    out = log_mixup_exp(x, other, lam)
    expected = torch.log((1 - lam) * x.exp() + lam * other.exp())
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(out[0], x[0], atol=1e-6)  # lam = 0 leaves the input alone
    assert torch.allclose(log_mixup_exp(x, x, lam), x, atol=1e-5)  # mixing a clip with itself changes nothing


def test_resize_crop_of_the_whole_input_is_the_identity():
    x = torch.randn(3, 1, 16, 24)
    boxes = torch.tensor([[0.0, 0.0, 16.0, 24.0]]).repeat(3, 1)
    assert torch.allclose(resize_crop(x, boxes), x, atol=1e-5)


def test_resize_crop_matches_bicubic_interpolation_of_the_box():
    torch.manual_seed(0)
    x = torch.randn(1, 1, 32, 40)
    top, left, h, w = 6, 9, 12, 20
    out = resize_crop(x, torch.tensor([[float(top), float(left), float(h), float(w)]]))
    expected = F.interpolate(x[:, :, top : top + h, left : left + w], size=(32, 40), mode="bicubic", align_corners=True)
    # Away from the box edges (where interpolate clamps and grid_sample sees the true neighbours) they agree.
    assert torch.allclose(out[..., 4:-4, 4:-4], expected[..., 4:-4, 4:-4], atol=1e-4)


def test_boxes_outside_the_input_read_zeros_like_the_virtual_canvas():
    x = torch.ones(1, 1, 8, 8)
    out = resize_crop(x, torch.tensor([[0.0, 8.0, 8.0, 8.0]]))  # entirely right of the input
    assert out.abs().max() < 1e-6


def test_augment_gives_two_different_finite_views_and_fills_its_memory():
    aug = BYOLAugment(memory_size=10, seed=1)
    x = torch.randn(4, 1, 64, 96)
    v1, v2 = aug(x)
    assert v1.shape == v2.shape == x.shape
    assert torch.isfinite(v1).all() and torch.isfinite(v2).all()
    assert not torch.allclose(v1, v2)
    assert aug.filled == 4
    for _ in range(3):
        aug(torch.randn(4, 1, 64, 96))
    assert aug.filled == 10 and aug.cursor == 16 % 10


def test_fader_and_mixup_can_be_disabled_and_leave_only_the_crop():
    aug = BYOLAugment(mixup_ratio=0.0, fader_gain=0.0, freq_scale=(1.0, 1.0), time_scale=(1.0, 1.0),
                      virtual_scale=(1.0, 1.0), seed=0)  # fmt: skip
    x = torch.randn(2, 1, 16, 24)
    v1, v2 = aug(x)
    assert torch.allclose(v1, x, atol=1e-5) and torch.allclose(v2, x, atol=1e-5)
    assert aug.filled == 0


def test_augment_state_round_trip_reproduces_the_next_views():
    aug = BYOLAugment(memory_size=6, seed=5)
    for _ in range(3):
        aug(torch.randn(4, 1, 16, 24))
    state = aug.augment_state()
    nxt = torch.randn(4, 1, 16, 24)
    expected = aug(nxt)
    restored = BYOLAugment(memory_size=6, seed=999)
    restored.load_augment_state(state, "cpu")
    got = restored(nxt)
    assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1])


def test_augment_rejects_non_batched_input():
    with pytest.raises(ValueError, match="batch, 1, n_mels, frames"):
        BYOLAugment()(torch.randn(64, 96))


def test_normalize_batch_standardises_over_everything_but_channels():
    x = torch.randn(4, 1, 8, 8) * 3 + 2
    y = normalize_batch(x)
    assert y.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert y.std().item() == pytest.approx(1.0, abs=1e-4)


def test_per_sample_reference_path_shapes_and_memory():
    memory, rng = [], random.Random(0)
    for _ in range(3):
        out = per_sample_augment(torch.randn(1, 64, 96), memory, rng, memory_size=2)
        assert out.shape == (1, 64, 96) and torch.isfinite(out).all()
    assert len(memory) == 2


def test_multi_crop_views_are_windows_of_the_requested_lengths():
    # No mixup, fader or resize: each view must be a contiguous time window of the input.
    aug = BYOLAugment(mixup_ratio=0.0, fader_gain=0.0, virtual_scale=(1.0, 1.0), freq_scale=(1.0, 1.0),
                      time_scale=(1.0, 1.0), seed=3)  # fmt: skip
    x = torch.randn(5, 1, 8, 40)
    views = aug.multi_crop(x, [40, 40, 16, 16, 16])
    assert [v.shape[-1] for v in views] == [40, 40, 16, 16, 16]
    for view in views:
        for clip, crop in zip(x, view):
            L = crop.shape[-1]
            windows = [clip[..., s : s + L] for s in range(41 - L)]
            assert any(torch.allclose(crop, w, atol=1e-4) for w in windows)
    with pytest.raises(ValueError, match="crop lengths"):
        aug.multi_crop(x, [41])


def test_stretched_views_read_the_input_at_their_returned_rates():
    aug = BYOLAugment(fader_gain=0.0, seed=1)
    frames = torch.arange(96.0)
    x = frames.expand(4, 1, 8, 96).clone()  # the value of each frame is its own time index
    views, rates = aug.stretched_views(x, (0.8, 1.2), length=80)
    assert len(views) == 2 and rates.shape == (2, 4)
    assert ((rates >= 0.8) & (rates <= 1.2)).all()
    for view, rate in zip(views, rates):
        steps = view[:, 0, 0, 1:] - view[:, 0, 0, :-1]  # one output frame advances `rate` input frames
        assert torch.allclose(steps, rate[:, None].expand_as(steps), atol=1e-3)
        assert view.min() >= 0 and view.max() <= 95
    with pytest.raises(ValueError, match="need"):
        aug.stretched_views(x, (0.8, 1.2), length=90)
