"""Self-supervised objectives as short pure functions of tensors and scalars.

None of them reaches across processes on its own: where a loss needs batch statistics from every rank
(Barlow Twins' cross-correlation, VICReg's variance and covariance), pass `gather`, a function that
concatenates a tensor over ranks with gradients (see `hear_ssl.pretrain.distributed.gather_with_grad`).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Gather = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def cosine_regression(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """2 - 2 cos(prediction, target) per sample, shape (B,), in float32; the target carries no gradient."""
    return 2.0 - 2.0 * F.cosine_similarity(prediction.float(), target.detach().float(), dim=-1)


def byol_loss(
    online_pred_1: torch.Tensor, online_pred_2: torch.Tensor, target_proj_1: torch.Tensor, target_proj_2: torch.Tensor
) -> torch.Tensor:
    """BYOL's symmetrised loss (Grill et al. 2020, eq. 2), averaged over the batch.

    Each view's online prediction regresses the target projection of the other view.

    Parameters
    ----------
    online_pred_1, online_pred_2 : Tensor (B, P)
        Predictor outputs of the online network for views 1 and 2.
    target_proj_1, target_proj_2 : Tensor (B, P)
        Projections of the EMA target network for views 1 and 2 (detached here).

    Returns
    -------
    Scalar tensor in [0, 8]: the sum of the two directions' mean 2 - 2 cos.
    """
    return (cosine_regression(online_pred_1, target_proj_2) + cosine_regression(online_pred_2, target_proj_1)).mean()


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    n, m = matrix.shape
    if n != m:
        raise ValueError(f"expected a square matrix, got {tuple(matrix.shape)}")
    return matrix.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5.1e-3, gather: Gather | None = None, eps: float = 1e-5
) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021): drive the views' cross-correlation matrix to the identity.

    Parameters
    ----------
    z1, z2 : Tensor (B, P)
        Projector outputs of the two views.
    lambd : float
        Weight of the off-diagonal (redundancy reduction) term; the paper's 5.1e-3.
    gather : callable, optional
        Concatenates over ranks (with gradients) so the correlation uses the global batch.
    eps : float
        Added to the variance when standardising each dimension over the batch.

    Returns
    -------
    Scalar tensor: sum over dims of (1 - C_ii)^2 + lambd * sum over i != j of C_ij^2.
    """
    gather = gather or _identity
    z1, z2 = gather(z1).float(), gather(z2).float()
    if z1.shape[0] < 2:
        raise ValueError("Barlow Twins needs at least 2 samples per batch to standardise projections")
    # Batch normalisation without affine parameters, as the paper's `bn` layer.
    z1 = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + eps)
    z2 = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + eps)
    c = z1.T @ z2 / z1.shape[0]
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    off_diag = off_diagonal(c).pow(2).sum()
    return on_diag + lambd * off_diag


def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gather: Gather | None = None,
    eps: float = 1e-4,
) -> torch.Tensor:
    """VICReg (Bardes et al. 2022): invariance + variance hinge + covariance decorrelation.

    Parameters
    ----------
    z1, z2 : Tensor (B, P)
        Expander outputs of the two views.
    sim_weight, var_weight, cov_weight : float
        The paper's lambda = mu = 25, nu = 1.
    gather : callable, optional
        Concatenates over ranks (with gradients) for the variance and covariance terms.

    Returns
    -------
    Scalar tensor.
    """
    invariance = F.mse_loss(z1.float(), z2.float())
    gather = gather or _identity
    z1, z2 = gather(z1).float(), gather(z2).float()
    n, dim = z1.shape
    if n < 2:
        raise ValueError("VICReg needs at least 2 samples per batch for its variance term")
    z1, z2 = z1 - z1.mean(0), z2 - z2.mean(0)
    std1, std2 = torch.sqrt(z1.var(0) + eps), torch.sqrt(z2.var(0) + eps)
    variance = F.relu(1 - std1).mean() / 2 + F.relu(1 - std2).mean() / 2
    cov1, cov2 = z1.T @ z1 / (n - 1), z2.T @ z2 / (n - 1)
    covariance = off_diagonal(cov1).pow(2).sum() / dim + off_diagonal(cov2).pow(2).sum() / dim
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance


def feature_regression_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error to standardised handcrafted features (B, K); the target carries no gradient."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    return F.mse_loss(prediction.float(), target.detach().float())


def hybrid_loss(ssl_loss: torch.Tensor, feature_loss: torch.Tensor, feature_weight: float = 1.0) -> torch.Tensor:
    """The hybrid objective: an SSL loss plus `feature_weight` times the handcrafted-feature regression loss.

    As in the HEAR 2021 hybrid BYOL-S, which added to BYOL's loss a loss predicting openSMILE features of
    the same segment from its embedding.
    """
    return ssl_loss + feature_weight * feature_loss


def cross_view_cosine_loss(
    prediction_1: torch.Tensor, prediction_2: torch.Tensor, target_1: torch.Tensor, target_2: torch.Tensor
) -> torch.Tensor:
    """ATST's loss: the mean of 2 - 2 cos over both directions (view 1 predicts view 2's target and back).

    Parameters
    ----------
    prediction_1, prediction_2 : Tensor (N, P)
        Student predictions of views 1 and 2 (CLS tokens for ATST-Clip, masked frames for ATST-Frame).
    target_1, target_2 : Tensor (N, P)
        Teacher projections of the same rows (detached here).

    Returns
    -------
    Scalar float32 tensor in [0, 4]; unlike `byol_loss` the two directions are averaged, not summed.
    """
    return 0.5 * (cosine_regression(prediction_1, target_2).mean() + cosine_regression(prediction_2, target_1).mean())


def vibcreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 200.0,
    gather: Gather | None = None,
    eps: float = 1e-4,
) -> torch.Tensor:
    """VIbCReg (Lee & Aune 2021): VICReg with a scale-free covariance term on the correlation matrix.

    Invariance is the MSE between the views; variance is mean(relu(1 - std)) per view, summed over the two
    views; the normalised covariance term is, per view, the mean over all d x d entries of the squared
    off-diagonal correlations (columns centred and L2-normalised over the batch), summed over the views.

    Parameters
    ----------
    z1, z2 : Tensor (B, P)
        Projector outputs (after IterNorm) of the two views.
    sim_weight, var_weight, cov_weight : float
        The paper's lambda = mu = 25, nu = 200.
    gather : callable, optional
        Concatenates over ranks (with gradients) for the variance and correlation terms.

    Returns
    -------
    Scalar tensor.
    """
    invariance = F.mse_loss(z1.float(), z2.float())
    gather = gather or _identity
    z1, z2 = gather(z1).float(), gather(z2).float()
    if z1.shape[0] < 2:
        raise ValueError("VIbCReg needs at least 2 samples per batch for its variance term")
    variance = sum(F.relu(1 - torch.sqrt(z.var(0) + eps)).mean() for z in (z1, z2))
    covariance = 0.0
    for z in (z1, z2):
        unit = F.normalize(z - z.mean(0), p=2, dim=0)
        correlation = unit.T @ unit
        covariance = covariance + off_diagonal(correlation).pow(2).sum() / correlation.numel()
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance


def dino_loss(
    student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor, student_temp: float,
    teacher_temp: float,
) -> torch.Tensor:  # fmt: skip
    """DINO's cross-entropy (Caron et al. 2021, eq. 3), averaged over (teacher view, other student view) pairs.

    Teacher logits are centred and sharpened, softmax((t - center) / teacher_temp); each is the target of
    every student view but the same one, scored by -sum p_t log softmax(s / student_temp), batch-averaged.
    The paper sums over the pairs; dividing by their number (as the official code does) only rescales.

    Parameters
    ----------
    student : list of Tensor (B, K)
        Student logits of every view; the first `len(teacher)` are the views the teacher saw.
    teacher : list of Tensor (B, K)
        Teacher logits of the global views (no gradient flows into them).
    center : Tensor (K,)
        EMA of the teacher's mean logits.
    """
    if len(student) <= len(teacher) or not teacher:
        raise ValueError(f"DINO needs more student views than teacher views, got {len(student)} and {len(teacher)}")
    targets = [F.softmax((t.detach().float() - center) / teacher_temp, dim=-1) for t in teacher]
    log_probs = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student]
    total, pairs = 0.0, 0
    for i, target in enumerate(targets):
        for j, log_prob in enumerate(log_probs):
            if i == j:
                continue
            total = total + (-(target * log_prob).sum(-1)).mean()
            pairs += 1
    return total / pairs


def tempo_ratio_loss(f_i: torch.Tensor, f_j: torch.Tensor, r_i: torch.Tensor, r_j: torch.Tensor) -> torch.Tensor:
    """Equivariant tempo loss (Quinton 2022): mean |f(x_i) / f(x_j) - r_i / r_j| over the batch.

    f_i, f_j (B,) are the scalar head's outputs for two time-stretched views of the same clip and r_i, r_j
    (B,) their known stretch rates; a tempo estimate that scales with the rate satisfies it exactly, while
    a constant output does not (the loss then equals mean |1 - r_i / r_j|), so it cannot collapse.
    """
    return (f_i.float() / f_j.float() - r_i / r_j).abs().mean()


def tempo_difference_loss(f_i: torch.Tensor, f_j: torch.Tensor, r_i: torch.Tensor, r_j: torch.Tensor) -> torch.Tensor:
    """The difference variant (Quinton 2022, official `L1Diff`): mean |f(x_i) - f(x_j) r_i / r_j| over the batch.

    The same equivariance as `tempo_ratio_loss` without the division, so an f(x_j) near 0 cannot blow it up;
    it vanishes for an f proportional to the rate and, like the ratio loss, not for a non-zero constant.
    """
    return (f_i.float() - f_j.float() * (r_i / r_j)).abs().mean()
