"""torch's Adam for a stack of models: one learning rate and one step count per model.

heareval's grid uses `torch.optim.Adam(lr)` with its defaults (betas (0.9, 0.999), eps 1e-8, no weight
decay, no amsgrad). Here each model's slice of the stacked `(M, ...)` tensors is updated by torch's
own functional Adam (`torch.optim.adam.adam`, the implementation behind `torch.optim.Adam`), with that
model's learning rate and step count; the fused kernel is used where this torch has it (CPU from torch
2.4, CUDA), which reads and writes each tensor once instead of the several passes of the per-tensor
loop heareval runs. A model whose batch is empty in a step (k-fold splits of different sizes) is left
untouched, as if that step did not exist for it.
"""

import torch
from torch.optim.adam import adam

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def _fused_supported(device):
    """Whether torch's fused Adam runs on this device in this torch version."""
    probe = [torch.zeros(2, device=device)]
    try:
        adam(
            probe,
            [torch.zeros(2, device=device)],
            [torch.zeros(2, device=device)],
            [torch.zeros(2, device=device)],
            [],
            [torch.zeros((), device=device)],
            fused=True,
            amsgrad=False,
            beta1=BETA1,
            beta2=BETA2,
            lr=1e-3,
            weight_decay=0.0,
            eps=EPS,
            maximize=False,
        )
        return True
    except (RuntimeError, TypeError):
        return False


class StackedAdam:
    """Adam over `(M, ...)` parameter tensors with per-model learning rates.

    Parameters
    ----------
    params : list of torch.Tensor
        Leaf tensors with the model axis first (their `.grad` is read at each step).
    lr : sequence of float
        One learning rate per model.
    """

    def __init__(self, params, lr):
        device = params[0].device
        self.lr = [float(x) for x in lr]
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        # torch's Adam keeps one float32 step tensor per parameter tensor.
        self.steps = [[torch.zeros((), device=device) for _ in params] for _ in self.lr]
        self.fused = True if _fused_supported(device) else None

    @torch.no_grad()
    def step(self, params, active=None):
        """Update `params` in place from their gradients.

        Parameters
        ----------
        params : list of torch.Tensor
            The tensors the state belongs to, in the same order.
        active : torch.Tensor, optional
            `(M,)` bool: models that had data in this step; None means all.
        """
        flags = [True] * len(self.lr) if active is None else active.tolist()
        for m, has_data in enumerate(flags):
            if not has_data:
                continue
            adam(
                [p.detach()[m] for p in params],
                [p.grad[m] for p in params],
                [s[m] for s in self.exp_avg],
                [s[m] for s in self.exp_avg_sq],
                [],
                self.steps[m],
                fused=self.fused,
                amsgrad=False,
                beta1=BETA1,
                beta2=BETA2,
                lr=self.lr[m],
                weight_decay=0.0,
                eps=EPS,
                maximize=False,
            )

    def keep(self, index):
        """Keep only the state of the models at these stack positions (a LongTensor)."""
        positions = index.tolist()
        self.lr = [self.lr[i] for i in positions]
        self.steps = [self.steps[i] for i in positions]
        self.exp_avg = [s[index] for s in self.exp_avg]
        self.exp_avg_sq = [s[index] for s in self.exp_avg_sq]
