"""M independent copies of heareval's downstream MLP, run as one batched model.

heareval 2021.1.3 (`FullyConnectedPrediction`) builds, per hidden layer,
`Linear -> norm -> Dropout -> ReLU` (norm after ReLU when `norm_after_activation`), then a `Linear`
projection to the labels. Linear weights are initialised with the grid's `initialization(weight,
gain=calculate_gain(previous activation))` ("linear" for the first layer, "relu" after a hidden
layer); biases keep `nn.Linear`'s default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`; BatchNorm starts at
weight 1, bias 0, running mean 0, running variance 1, momentum 0.1, eps 1e-5.

Each tensor of all M models is one leaf with a leading model axis (`weight0` is `(M, D, H)`), so one
autograd pass computes every model's gradient with batched matrix products, and `StackedAdam`
updates all models with a few passes over memory. The models share an architecture (hidden layers,
width, norm) but not their learning rate, dropout or initialisation; a model that finished training
leaves the stack (`keep`). A batch is either one `(B, D)` input shared by every model, or `(M, B, D)` with a
`(M, B, 1)` row mask when models train on different rows (folds).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

BN_MOMENTUM = 0.1
BN_EPS = 1e-5


class StackedMLP:
    """M MLPs of one architecture, run together.

    Parameters
    ----------
    confs : list of dict
        One heareval grid configuration per model (`hidden_layers`, `hidden_dim`, `hidden_norm`,
        `norm_after_activation`, `dropout`, `initialization` are read here).
    n_in, n_out : int
        Embedding size and number of labels.
    device : torch.device
    seeds : list of int
        One per model: seeds its initialisation, drawn on the CPU so CPU and CUDA runs start from the
        same weights and a model's weights do not depend on the other models in the stack.
    """

    def __init__(self, confs, n_in, n_out, device, seeds):
        arch = {architecture(c) for c in confs}
        if len(arch) != 1:
            raise ValueError(f"StackedMLP needs one architecture, got {len(arch)} different ones")
        self.hidden_layers, self.hidden_dim, norm, self.norm_after = arch.pop()
        self.batch_norm = norm is torch.nn.BatchNorm1d
        self.n_in, self.n_out, self.device = n_in, n_out, torch.device(device)
        dims = [n_in] + [self.hidden_dim] * self.hidden_layers + [n_out]
        per_model = [self._init_model(c, dims, s) for c, s in zip(confs, seeds)]
        self.names = list(per_model[0])
        # params[i] is the (M, ...) leaf of tensor names[i]; `live` holds the models' original numbers.
        self.params = [torch.stack([m[n] for m in per_model]).to(self.device).requires_grad_(True) for n in self.names]
        self._index = {n: i for i, n in enumerate(self.names)}
        self.dropout_all = [float(c["dropout"]) for c in confs]
        # BatchNorm running statistics of the live models: per hidden layer, (M, H) mean and variance.
        n = len(confs)
        n_bn = self.hidden_layers if self.batch_norm else 0
        self.running_mean = [torch.zeros(n, self.hidden_dim, device=self.device) for _ in range(n_bn)]
        self.running_var = [torch.ones(n, self.hidden_dim, device=self.device) for _ in range(n_bn)]
        self.live = list(range(n))
        self._stacked_dropout()

    @property
    def n_models(self):
        return len(self.live)

    def _init_model(self, conf, dims, seed):
        """One model's tensors, drawn like heareval draws them (weights via the grid's init function)."""
        # fork_rng leaves the caller's global RNG as it was; init functions draw from the global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tensors = {}
            last_activation = "linear"
            for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
                weight = torch.empty(fan_out, fan_in)  # nn.Linear's (out, in) layout for the init function
                conf["initialization"](weight, gain=torch.nn.init.calculate_gain(last_activation))
                bound = 1 / math.sqrt(fan_in)
                tensors[f"weight{layer}"] = weight.t().contiguous()
                tensors[f"bias{layer}"] = torch.empty(1, fan_out).uniform_(-bound, bound)
                if self.batch_norm and layer < self.hidden_layers:
                    tensors[f"bn_weight{layer}"] = torch.ones(1, fan_out)
                    tensors[f"bn_bias{layer}"] = torch.zeros(1, fan_out)
                last_activation = "relu"
        return tensors

    def _stacked_dropout(self):
        self.dropout = torch.tensor([self.dropout_all[m] for m in self.live], device=self.device).view(-1, 1, 1)
        self.any_dropout = any(self.dropout_all[m] > 0 for m in self.live)
        # Per live model: keep probability, its inverse (the kept units' multiplier) and a zero, computed once
        # per stack change instead of once per layer and step.
        self._keep = 1 - self.dropout
        self._inv_keep = torch.ones_like(self._keep) / self._keep
        self._zero = torch.zeros((), device=self.device)
        self._noise = None  # numpy buffer for the CPU noise, reused while the shape stays

    def stacked(self, name):
        """The `(M, ...)` leaf of one named tensor (live models only)."""
        return self.params[self._index[name]]

    def positions(self, models):
        """Stack positions of the given models (original numbers) as a LongTensor."""
        return torch.as_tensor([self.live.index(m) for m in models], device=self.device, dtype=torch.long)

    def keep(self, models):
        """Keep only the given models (a subset of `live`, in order) in the stack."""
        pos = self.positions(models)
        self.params = [p.detach()[pos].requires_grad_(True) for p in self.params]
        self.running_mean = [r[pos] for r in self.running_mean]
        self.running_var = [r[pos] for r in self.running_var]
        self.live = list(models)
        self._stacked_dropout()

    def state(self, model):
        """A checkpoint of one model (original number): copies of its tensors and running statistics."""
        pos = self.live.index(model)
        tensors = {n: p.detach()[pos].clone() for n, p in zip(self.names, self.params)}
        running = [(mean[pos].clone(), var[pos].clone()) for mean, var in zip(self.running_mean, self.running_var)]
        return tensors, running

    def load_state(self, states):
        """Make the stack hold exactly these checkpoints (`state()` results), one model each."""
        self.params = [torch.stack([t[n] for t, _ in states]).requires_grad_(True) for n in self.names]
        self.running_mean = [torch.stack([s[1][i][0] for s in states]) for i in range(len(self.running_mean))]
        self.running_var = [torch.stack([s[1][i][1] for s in states]) for i in range(len(self.running_var))]
        self.live = list(range(len(states)))
        self.dropout_all = [0.0] * len(states)  # checkpoints are for prediction
        self._stacked_dropout()

    def forward(self, x, train, mask=None, counts=None, generator=None):
        """Logits of every live model.

        Parameters
        ----------
        x : torch.Tensor
            `(B, D)` shared by all models, or `(M, B, D)`.
        train : bool
            Training mode: batch statistics (and running-statistics updates), dropout.
        mask : torch.Tensor, optional
            `(M, B, 1)` float, 1 for real rows; None when every row of every model is real.
        counts : torch.Tensor, optional
            `(M, 1, 1)` number of real rows per model (with `mask`).
        generator : torch.Generator or numpy.random.Generator, optional
            Dropout randomness (numpy's on the CPU, where it is several times faster).

        Returns
        -------
        torch.Tensor
            `(M, B, n_out)` logits.
        """
        h = x
        for layer in range(self.hidden_layers):
            h = _linear(h, self.stacked(f"weight{layer}"), self.stacked(f"bias{layer}"))
            if self.batch_norm and not self.norm_after:
                h = self._batch_norm(layer, h, train, mask, counts)
            if train and self.any_dropout:
                h = h * self._dropout_scale(h, generator)
            h = F.relu(h)
            if self.batch_norm and self.norm_after:
                h = self._batch_norm(layer, h, train, mask, counts)
        last = self.hidden_layers
        return _linear(h, self.stacked(f"weight{last}"), self.stacked(f"bias{last}"))

    def _dropout_scale(self, h, generator):
        """Inverted-dropout multipliers: 0 with probability p, else 1 / (1 - p), per model's p."""
        if isinstance(generator, np.random.Generator):
            if self._noise is None or self._noise.shape != tuple(h.shape):
                self._noise = np.empty(tuple(h.shape), dtype=np.float32)
            generator.random(out=self._noise, dtype=np.float32)  # the same stream as generator.random(shape)
            noise = torch.from_numpy(self._noise)
        else:
            noise = torch.rand(h.shape, device=h.device, generator=generator)
        # 1 / keep where kept, else 0: the same numbers as `(noise < keep).float() / keep`, in one pass.
        return torch.where(noise < self._keep, self._inv_keep.to(h.dtype), self._zero.to(h.dtype))

    def _batch_norm(self, layer, h, train, mask, counts):
        """Per-model BatchNorm1d over the batch axis of `(M, B, H)` activations."""
        weight = self.stacked(f"bn_weight{layer}")
        bias = self.stacked(f"bn_bias{layer}")
        mean_buf, var_buf = self.running_mean[layer], self.running_var[layer]
        m, b, width = h.shape
        if mask is None and train and b < 2:
            # torch's BatchNorm refuses a 1-row batch (heareval crashes there); treat it as masked.
            mask, counts = torch.ones_like(h[..., :1]), torch.full((m, 1, 1), float(b), device=h.device)
        if mask is None:
            # torch's fused kernel, with model x unit as the channel axis: (B, M*H).
            flat = h.transpose(0, 1).reshape(b, m * width)
            out = F.batch_norm(
                flat,
                mean_buf.view(-1),
                var_buf.view(-1),
                weight.reshape(-1),
                bias.reshape(-1),
                training=train,
                momentum=BN_MOMENTUM,
                eps=BN_EPS,
            )
            return out.view(b, m, width).transpose(0, 1)
        if not train:
            return (h - mean_buf.unsqueeze(1)) * torch.rsqrt(var_buf.unsqueeze(1) + BN_EPS) * weight + bias
        # Rows differ per model: statistics over each model's real rows only.
        n = counts.clamp(min=1)
        mean = (h * mask).sum(1, keepdim=True) / n
        var = ((h - mean) * mask).square().sum(1, keepdim=True) / n
        with torch.no_grad():
            # torch tracks the unbiased variance; a model without rows in this batch keeps its statistics.
            unbiased = var * (n / (n - 1).clamp(min=1))
            present = (counts > 0).view(-1, 1)
            mean_buf.copy_(torch.where(present, mean_buf.lerp(mean[:, 0], BN_MOMENTUM), mean_buf))
            var_buf.copy_(torch.where(present, var_buf.lerp(unbiased[:, 0], BN_MOMENTUM), var_buf))
        return (h - mean) * torch.rsqrt(var + BN_EPS) * weight + bias


def _linear(h, weight, bias):
    """`h @ weight + bias` per model; a shared `(B, D)` input is multiplied by every model's weight."""
    if h.dim() == 2:
        # einsum lowers this to one GEMM against the stacked weights instead of M copies of `h`.
        return torch.einsum("bd,mdh->mbh", h, weight) + bias
    return torch.baddbmm(bias, h, weight)


def architecture(conf):
    """The part of a configuration that fixes tensor shapes: models sharing it can be stacked."""
    if conf["hidden_layers"] == 0:  # width and norm are unused without a hidden layer
        return (0, 0, None, False)
    return (conf["hidden_layers"], conf["hidden_dim"], conf["hidden_norm"], conf["norm_after_activation"])
