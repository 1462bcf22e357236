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


def test_vibcreg_loss_vanishes_for_identical_decorrelated_wide_views():
    from hear_ssl.ssl.losses import vibcreg_loss

    x = torch.randn(256, 8)
    q, _ = torch.linalg.qr(x - x.mean(0))  # orthogonal, zero-mean columns
    z = q * 2 * 256**0.5  # std 2: no variance penalty
    assert vibcreg_loss(z, z).item() == pytest.approx(0.0, abs=1e-3)


def test_vibcreg_covariance_term_is_the_mean_squared_off_diagonal_correlation_and_scale_free():
    from hear_ssl.ssl.losses import vibcreg_loss

    z = torch.randn(256, 1).repeat(1, 4)  # all off-diagonal correlations are 1: 12 of 16 entries
    assert vibcreg_loss(z, z, 0, 0, 1).item() == pytest.approx(2 * 12 / 16, rel=1e-4)
    w = torch.randn(64, 6)
    assert vibcreg_loss(w, w, 0, 0, 1).item() == pytest.approx(vibcreg_loss(100 * w, 100 * w, 0, 0, 1).item(), rel=1e-4)
    collapsed = torch.zeros(8, 4)
    # Variance hinge 1 - sqrt(eps) for each view, summed over the views.
    assert vibcreg_loss(collapsed, collapsed, 0, 1, 0).item() == pytest.approx(2 * (1 - 1e-2), abs=1e-4)


def test_dino_loss_pairs_each_teacher_view_with_every_other_student_view():
    from hear_ssl.ssl.losses import dino_loss

    torch.manual_seed(0)
    teacher = [torch.randn(3, 5) for _ in range(2)]
    student = [torch.randn(3, 5, requires_grad=True) for _ in range(4)]
    center = torch.randn(1, 5)
    expected, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        p = torch.softmax((t - center) / 0.04, dim=-1)
        for j, s in enumerate(student):
            if i != j:
                expected += (-(p * torch.log_softmax(s / 0.1, dim=-1)).sum(-1)).mean()
                pairs += 1
    got = dino_loss(student, teacher, center, 0.1, 0.04)
    assert pairs == 6 and got.item() == pytest.approx((expected / pairs).item(), rel=1e-5)
    got.backward()
    assert all(s.grad is not None for s in student)
    with pytest.raises(ValueError, match="more student views"):
        dino_loss(student[:2], teacher, center, 0.1, 0.04)


def test_dino_centring_with_the_teachers_own_logits_gives_a_uniform_target():
    from hear_ssl.ssl.losses import dino_loss

    teacher = [torch.randn(1, 6).repeat(4, 1)]
    student = [torch.zeros(4, 6), torch.zeros(4, 6)]
    # Uniform target against a uniform student: cross-entropy log K.
    loss = dino_loss(student, teacher, teacher[0][:1], 0.1, 0.04)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(6.0)).item(), rel=1e-5)


def test_tempo_losses_vanish_for_an_equivariant_scalar_and_not_for_a_constant():
    from hear_ssl.ssl.losses import tempo_difference_loss, tempo_ratio_loss

    r_i, r_j = torch.tensor([0.8, 1.0, 1.2]), torch.tensor([1.1, 0.9, 1.2])
    assert tempo_ratio_loss(3 * r_i, 3 * r_j, r_i, r_j).item() == pytest.approx(0.0, abs=1e-6)
    constant = torch.ones(3)
    assert tempo_ratio_loss(constant, constant, r_i, r_j).item() == pytest.approx((1 - r_i / r_j).abs().mean().item())
    assert tempo_difference_loss(3 * r_i, 3 * r_j, r_i, r_j).item() == pytest.approx(0.0, abs=1e-6)
    assert tempo_difference_loss(constant, constant, r_i, r_j).item() == pytest.approx(
        (1 - r_i / r_j).abs().mean().item()
    )
    # An offset does not satisfy it: tempo scales with the rate, it is not shifted by it.
    assert tempo_difference_loss(r_i + 5, r_j + 5, r_i, r_j).item() > 0.1
