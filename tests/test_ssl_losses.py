"""The SSL losses: known values, symmetry, gradients only where the papers put them."""

import pytest
import torch

from hear_ssl.ssl.losses import (
    barlow_twins_loss,
    byol_loss,
    feature_regression_loss,
    hybrid_loss,
    off_diagonal,
    vicreg_loss,
)


def test_byol_loss_is_zero_for_aligned_and_eight_for_opposite_vectors():
    p = torch.randn(5, 16)
    assert byol_loss(p, 2 * p, 3 * p, p).item() == pytest.approx(0.0, abs=1e-6)
    assert byol_loss(p, p, -p, -p).item() == pytest.approx(8.0, abs=1e-5)


def test_byol_loss_pairs_each_prediction_with_the_other_views_target():
    p1, p2, t1, t2 = torch.randn(4, 4, 8).unbind(0)
    cross = byol_loss(p1, p2, t1, t2)
    swapped = byol_loss(p2, p1, t2, t1)
    assert cross.item() == pytest.approx(swapped.item(), rel=1e-6)
    # p1 is scored against t2: making t2 equal to p1 (and t1 equal to p2) zeroes the loss.
    assert byol_loss(p1, p2, p2, p1).item() == pytest.approx(0.0, abs=1e-5)


def test_byol_loss_sends_no_gradient_into_the_target():
    p1, p2 = torch.randn(3, 8, requires_grad=True), torch.randn(3, 8, requires_grad=True)
    t1, t2 = torch.randn(3, 8, requires_grad=True), torch.randn(3, 8, requires_grad=True)
    byol_loss(p1, p2, t1, t2).backward()
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert t1.grad is None and t2.grad is None


def test_off_diagonal_lists_every_entry_but_the_diagonal():
    m = torch.arange(16.0).view(4, 4)
    expected = sorted(v for i in range(4) for j in range(4) if i != j for v in [m[i, j].item()])
    assert sorted(off_diagonal(m).tolist()) == expected
    with pytest.raises(ValueError, match="square"):
        off_diagonal(torch.zeros(2, 3))


def test_barlow_twins_loss_vanishes_for_identical_decorrelated_views():
    # Orthogonal, zero-mean columns standardise to a cross-correlation equal to the identity.
    q, _ = torch.linalg.qr(torch.randn(64, 8))
    z = q - q.mean(0)
    q2, _ = torch.linalg.qr(z)
    loss = barlow_twins_loss(q2 * 3 + 1, q2 * 3 + 1, lambd=0.5)
    assert loss.item() < 0.05


def test_barlow_twins_loss_penalises_redundant_dimensions_by_lambda():
    x = torch.randn(256, 1)
    z = x.repeat(1, 4)  # four copies of one feature: all off-diagonal correlations are 1
    no_off = barlow_twins_loss(z, z, lambd=0.0)
    with_off = barlow_twins_loss(z, z, lambd=0.1)
    assert no_off.item() == pytest.approx(0.0, abs=1e-3)
    assert with_off.item() == pytest.approx(0.1 * 12, rel=1e-3)


def test_barlow_twins_loss_uses_the_gather_hook_and_needs_two_samples():
    z1, z2 = torch.randn(8, 4), torch.randn(8, 4)
    seen = []

    def gather(t):
        seen.append(t.shape[0])
        return torch.cat([t, t])

    barlow_twins_loss(z1, z2, gather=gather)
    assert seen == [8, 8]
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins_loss(z1[:1], z2[:1])


def test_vicreg_terms():
    z = torch.randn(512, 4) * 2.0  # std 2 > 1: no variance penalty; independent columns: tiny covariance
    loss_same = vicreg_loss(z, z, sim_weight=25, var_weight=25, cov_weight=0)
    assert loss_same.item() == pytest.approx(0.0, abs=1e-4)
    collapsed = torch.zeros(16, 4)
    # Invariance 0, variance hinge 1 - sqrt(eps) per view, averaged over the two views.
    assert vicreg_loss(collapsed, collapsed, 25, 1, 0).item() == pytest.approx(1 - 1e-2, abs=1e-4)
    shifted = vicreg_loss(z, z + 1, sim_weight=1, var_weight=0, cov_weight=0)
    assert shifted.item() == pytest.approx(1.0, rel=1e-5)


def test_hybrid_and_feature_regression_losses():
    pred, target = torch.zeros(3, 5, requires_grad=True), torch.ones(3, 5)
    feature = feature_regression_loss(pred, target)
    assert feature.item() == pytest.approx(1.0)
    assert hybrid_loss(torch.tensor(2.0), feature, feature_weight=0.5).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="shape"):
        feature_regression_loss(pred, torch.ones(3, 4))
