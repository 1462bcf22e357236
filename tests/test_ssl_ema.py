"""EMA target updates: the blend, buffer handling, and BYOL's decay schedule."""

import pytest
import torch
from torch import nn

from hear_ssl.ssl.ema import cosine_decay, ema_update, make_target


def small_net():
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_target_is_a_frozen_copy():
    online = small_net()
    target = make_target(online)
    assert all(not p.requires_grad for p in target.parameters())
    for a, b in zip(online.parameters(), target.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_ema_update_blends_parameters_and_copies_buffers():
    online = small_net()
    target = make_target(online)
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    online.train()
    online(torch.randn(8, 4))  # moves the batch-norm running statistics
    ema_update(target, online, decay=0.9)
    for old, new, cur in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * cur, atol=1e-6)
    for t, o in zip(target.buffers(), online.buffers()):
        assert torch.equal(t, o)


def test_ema_update_extremes_and_errors():
    online, other = small_net(), small_net()
    target = make_target(online)
    ema_update(target, other, decay=1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), online.parameters()))
    ema_update(target, other, decay=0.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), other.parameters()))
    with pytest.raises(ValueError, match="decay"):
        ema_update(target, online, decay=1.5)
    with pytest.raises(ValueError, match="structure"):
        ema_update(target, nn.Linear(4, 3), decay=0.5)


def test_cosine_decay_rises_from_base_to_one():
    assert cosine_decay(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_decay(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_decay(100, 100, 0.99) == pytest.approx(1.0)
    assert cosine_decay(500, 100, 0.99) == pytest.approx(1.0)
