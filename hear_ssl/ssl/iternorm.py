"""IterNorm (Huang et al. 2019): group whitening of a batch of features by Newton's iterations.

VIbCReg puts it at the end of its projector. Per group of channels, with X the centred batch (c, B):

    Sigma   = X X^T / B + eps I,   Sigma_N = Sigma / tr(Sigma)
    P_0 = I,   P_k = 1.5 P_{k-1} - 0.5 P_{k-1}^3 Sigma_N      (k = 1..T)
    X_hat   = P_T / sqrt(tr(Sigma)) X                           (~ Sigma^{-1/2} X)

Newton's iteration converges to Sigma_N^{-1/2} because the trace normalisation puts the eigenvalues in
(0, 1]; stopping at T = 5 whitens only partly, which the paper finds better than exact whitening. Running
averages of the mean and of the whitening matrix serve evaluation mode, as batch norm's do. This uncoupled
form of the iteration loses its accuracy in float32 beyond about 10 steps (measured: after 15 the
covariance blows up), so T is limited to 10.
"""

from __future__ import annotations

import torch
from torch import nn

MAX_ITERATIONS = 10


class IterNorm(nn.Module):
    """Whitens (B, C) features in `num_groups` groups of C / num_groups channels, then a per-channel affine.

    Parameters
    ----------
    num_features : int
        C.
    num_groups : int
        Groups whitened independently (VIbCReg: 64); C must be divisible by it.
    iterations : int
        Newton steps T (VIbCReg: 5).
    """

    def __init__(self, num_features: int, num_groups: int = 64, iterations: int = 5, eps: float = 1e-5,
                 momentum: float = 0.1):  # fmt: skip
        super().__init__()
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise ValueError(f"IterNorm iterations must lie in 1..{MAX_ITERATIONS} (unstable beyond), got {iterations}")
        num_groups = min(num_groups, num_features)
        if num_features % num_groups:
            raise ValueError(f"IterNorm: {num_features} features cannot be split into {num_groups} equal groups")
        self.num_groups, self.iterations, self.eps, self.momentum = num_groups, iterations, eps, momentum
        size = num_features // num_groups
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_groups, size, 1))
        self.register_buffer("running_wm", torch.eye(size).repeat(num_groups, 1, 1))

    def whitening_matrix(self, centred: torch.Tensor) -> torch.Tensor:
        """P_T / sqrt(tr Sigma) per group, from centred features (G, c, B): shape (G, c, c)."""
        groups, size, batch = centred.shape
        eye = torch.eye(size, device=centred.device, dtype=centred.dtype).expand(groups, size, size)
        sigma = centred @ centred.transpose(1, 2) / batch + self.eps * eye
        trace = sigma.diagonal(dim1=1, dim2=2).sum(-1)[:, None, None]
        sigma_n = sigma / trace
        p = eye
        for _ in range(self.iterations):
            p = 1.5 * p - 0.5 * torch.linalg.matrix_power(p, 3) @ sigma_n
        return p / trace.sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C) -> whitened (B, C) in float32."""
        if x.dim() != 2 or x.shape[1] != self.weight.numel():
            raise ValueError(f"IterNorm expects (batch, {self.weight.numel()}) features, got {tuple(x.shape)}")
        batch = x.shape[0]
        with torch.autocast(x.device.type, enabled=False):  # Newton's iteration needs float32
            grouped = x.float().T.reshape(self.num_groups, -1, batch)
            if self.training:
                if batch < 2:
                    raise ValueError("IterNorm needs at least 2 samples per batch in training mode")
                mean = grouped.mean(-1, keepdim=True)
                wm = self.whitening_matrix(grouped - mean)
                with torch.no_grad():
                    self.running_mean.lerp_(mean.detach(), self.momentum)
                    self.running_wm.lerp_(wm.detach(), self.momentum)
            else:
                mean, wm = self.running_mean, self.running_wm
            white = (wm @ (grouped - mean)).reshape(-1, batch).T
            return white * self.weight + self.bias
