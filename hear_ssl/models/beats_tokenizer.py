"""BEATs acoustic tokenizers (Chen et al. 2023): fbank patches -> discrete labels for masked label prediction.

Two tokenizers, one per kind of BEATs iteration:

- `RandomProjectionTokenizer` (iteration 1): each 16x16 patch of the normalised fbank, flattened, goes through a
  frozen random linear projection and takes the id of its nearest neighbour (cosine) in a frozen random
  codebook. Projection and codebook are drawn from a seeded generator and stored as buffers, so a checkpoint
  holds them.
- `BEATsTokenizer` (iteration 2 on): the BEATs patch embedding and transformer encoder, a Linear-Tanh-Linear
  `quantize_layer` and a `NormEMAQuantizer`: l2-normalised codes updated by an exponential moving average of the
  l2-normalised mean of the vectors assigned to them, initialised by cosine k-means on the first batch, with a
  commitment loss `beta * mse(sg(z_q), z)`. Its state dict has the key names of the official `Tokenizers`
  module (microsoft/unilm `beats/Tokenizers.py`, `beats/quantizer.py`), and `save_tokenizer` / `load_tokenizer`
  read and write the official `{'cfg', 'model'}` checkpoint layout (cfg = the official `TokenizersConfig` fields).

The estimator that trains a `BEATsTokenizer` (it reconstructs a teacher's features from the codes) is part of
the training objective (`hear_ssl.pretrain.objectives.beats_tokenizer`), not of the tokenizer checkpoint.
"""

from __future__ import annotations

from dataclasses import fields

import torch
import torch.nn.functional as F
from torch import nn

from ..beats_config import BEATsConfig
from ..weights import CheckpointError
from .beats import TransformerEncoder, load_beats_state

# BEATsConfig fields the official TokenizersConfig does not have (the tokenizer is never fine-tuned).
NOT_TOKENIZER_FIELDS = ("layer_wise_gradient_decay_ratio", "finetuned_model", "predictor_dropout", "predictor_class")
KMEANS_ITERATIONS = 10


def l2norm(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, p=2, dim=-1)


def patchify(fbank: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, T, M) -> (B, (T // p) * (M // p), p * p) flattened patches, time-major like the BEATs patch embedding."""
    batch, frames, bins = fbank.shape
    steps, bands = frames // patch, bins // patch
    x = fbank[:, : steps * patch, : bands * patch].reshape(batch, steps, patch, bands, patch)
    return x.permute(0, 1, 3, 2, 4).reshape(batch, steps * bands, patch * patch)


def cosine_kmeans(
    samples: torch.Tensor, num_clusters: int, generator: torch.Generator, iterations: int = KMEANS_ITERATIONS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spherical k-means of l2-normalised `samples` (N, D) -> (centres (K, D) unit norm, cluster sizes (K,)).

    Centres start at K samples drawn from `generator` (with replacement when N < K); an empty cluster keeps its
    previous centre.
    """
    count = samples.shape[0]
    if count >= num_clusters:
        pick = torch.randperm(count, generator=generator, device=generator.device)[:num_clusters]
    else:
        pick = torch.randint(0, count, (num_clusters,), generator=generator, device=generator.device)
    means = samples[pick.to(samples.device)]
    sizes = torch.zeros(num_clusters, device=samples.device)
    for _ in range(iterations):
        assignment = (samples @ means.T).argmax(dim=-1)
        sizes = torch.bincount(assignment, minlength=num_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assignment, samples)
        updated = l2norm(sums / sizes.clamp_min(1)[:, None])
        means = torch.where((sizes == 0)[:, None], means, updated)
    return means, sizes


class CodebookEMA(nn.Module):
    """The official `EmbeddingEMA`'s state: codes `weight` (K, D), `cluster_size`, `embed_avg`, `initted`.

    `embed_avg` is kept for the layout only: the normalised EMA update writes `weight` directly.
    """

    def __init__(self, num_tokens: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_tokens, dim))
        self.register_buffer("cluster_size", torch.zeros(num_tokens))
        self.register_buffer("embed_avg", torch.zeros(num_tokens, dim))
        self.register_buffer("initted", torch.zeros(1))


class NormEMAQuantizer(nn.Module):
    """Vector quantiser on the unit sphere with EMA code updates (no gradient reaches the codebook).

    forward(z (..., D)) -> (z_q straight-through (..., D), commitment loss, code ids (...,)). In training mode it
    k-means-initialises an un-initialised codebook from the batch, then moves every used code towards the
    normalised mean of its vectors: w <- normalise(decay * w + (1 - decay) * normalise(mean)).
    """

    def __init__(self, num_tokens: int, dim: int, decay: float = 0.99, beta: float = 1.0):
        super().__init__()
        self.num_tokens, self.dim, self.decay, self.beta = num_tokens, dim, decay, beta
        self.embedding = CodebookEMA(num_tokens, dim)
        self.register_buffer("cluster_size", torch.zeros(num_tokens))
        self.generator: torch.Generator | None = None  # the k-means draw; the owning objective sets and saves it

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Ids (N,) of the nearest codes (euclidean = cosine on the sphere) to unit vectors z (N, D)."""
        codes = self.embedding.weight
        distance = z.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * z @ codes.T
        return distance.argmin(dim=1)

    @torch.no_grad()
    def kmeans_init(self, flat: torch.Tensor) -> None:
        generator = self.generator or torch.Generator(device=flat.device).manual_seed(0)
        means, sizes = cosine_kmeans(flat, self.num_tokens, generator)
        self.embedding.weight.copy_(means)
        self.embedding.cluster_size.copy_(sizes)
        self.embedding.initted.fill_(1.0)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        """One normalised EMA step of the codes from unit vectors `flat` (N, D) assigned to `ids` (N,)."""
        counts = torch.bincount(ids, minlength=self.num_tokens).to(flat.dtype)
        sums = torch.zeros(self.num_tokens, self.dim, device=flat.device, dtype=flat.dtype).index_add_(0, ids, flat)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)  # every rank keeps the same codebook
            torch.distributed.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        unused = counts == 0
        means = l2norm(sums / counts.clamp_min(1)[:, None])
        means = torch.where(unused[:, None], self.embedding.weight, means)
        self.embedding.weight.copy_(l2norm(self.decay * self.embedding.weight + (1 - self.decay) * means))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = l2norm(z.float())  # distances and updates in float32, also under autocast
        flat = z.reshape(-1, self.dim)
        if self.training and not bool(self.embedding.initted.item()):
            self.kmeans_init(flat.detach())
        ids = self.nearest(flat.detach())
        z_q = self.embedding.weight[ids].view(z.shape)
        if self.training:
            self.ema_update(flat.detach(), ids)
        loss = self.beta * F.mse_loss(z_q.detach(), z)
        return z + (z_q - z).detach(), loss, ids.view(z.shape[:-1])


def tokenizer_cfg(encoder: BEATsConfig, quant_n: int, quant_dim: int) -> dict:
    """The official `TokenizersConfig` dict: the BEATs encoder fields it shares, plus the codebook size."""
    cfg = {k: v for k, v in encoder.to_cfg().items() if k not in NOT_TOKENIZER_FIELDS}
    return {**cfg, "quant_n": quant_n, "quant_dim": quant_dim}


class BEATsTokenizer(nn.Module):
    """The trained acoustic tokenizer: (B, T, 128) normalised fbank -> code ids (B, P), P as in `BEATs`."""

    def __init__(self, encoder: BEATsConfig, quant_n: int = 1024, quant_dim: int = 256, decay: float = 0.99):
        super().__init__()
        encoder.validate()
        self.config, self.quant_n, self.quant_dim = encoder, quant_n, quant_dim
        patch = encoder.input_patch_size
        if encoder.embed_dim != encoder.encoder_embed_dim:
            self.post_extract_proj = nn.Linear(encoder.embed_dim, encoder.encoder_embed_dim)
        else:
            self.post_extract_proj = None
        self.patch_embedding = nn.Conv2d(1, encoder.embed_dim, patch, stride=patch, bias=encoder.conv_bias)
        self.encoder = TransformerEncoder(encoder)
        self.layer_norm = nn.LayerNorm(encoder.embed_dim)
        self.quantize = NormEMAQuantizer(quant_n, quant_dim, decay=decay, beta=1.0)
        width = encoder.encoder_embed_dim
        self.quantize_layer = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, quant_dim))

    @property
    def patch_size(self) -> int:
        return self.config.input_patch_size

    def cfg(self) -> dict:
        return tokenizer_cfg(self.config, self.quant_n, self.quant_dim)

    def quantize_input(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, T, M) -> (B, P, quant_dim) vectors before quantisation."""
        patches = self.patch_embedding(fbank.unsqueeze(1))
        patches = self.layer_norm(patches.flatten(2).transpose(1, 2))
        if self.post_extract_proj is not None:
            patches = self.post_extract_proj(patches)
        return self.quantize_layer(self.encoder(patches)[-1])

    def forward(self, fbank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, M) -> (quantised (B, P, quant_dim) straight-through, commitment loss, ids (B, P))."""
        return self.quantize(self.quantize_input(fbank))

    @torch.no_grad()
    def labels(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, T, M) -> code ids (B, P) int64 (no codebook update)."""
        z = l2norm(self.quantize_input(fbank).float())
        return self.quantize.nearest(z.reshape(-1, self.quant_dim)).view(z.shape[:-1])


class RandomProjectionTokenizer(nn.Module):
    """Iteration 1's frozen tokenizer: random projection of flattened patches + nearest random unit code."""

    def __init__(self, patch_size: int, quant_n: int, quant_dim: int, seed: int):
        super().__init__()
        self.patch_size = patch_size
        generator = torch.Generator().manual_seed(seed)
        dim_in = patch_size * patch_size
        self.register_buffer("projection", torch.randn(dim_in, quant_dim, generator=generator) / dim_in**0.5)
        self.register_buffer("codebook", l2norm(torch.randn(quant_n, quant_dim, generator=generator)))

    @torch.no_grad()
    def labels(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, T, M) normalised fbank -> code ids (B, P) int64."""
        projected = l2norm(patchify(fbank.float(), self.patch_size) @ self.projection)
        return (projected @ self.codebook.T).argmax(dim=-1)


def save_tokenizer(tokenizer: BEATsTokenizer, path) -> None:
    """Write the official tokenizer checkpoint layout `{'cfg': TokenizersConfig dict, 'model': state dict}`."""
    from ..io import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in tokenizer.state_dict().items()}
    atomic_torch_save({"cfg": tokenizer.cfg(), "model": state}, path)


def tokenizer_from_payload(payload: dict, source: str) -> BEATsTokenizer:
    """Build a tokenizer from an official `{'cfg', 'model'}` payload and load its weights strictly."""
    cfg = payload["cfg"]
    if not isinstance(cfg, dict) or "quant_n" not in cfg or "quant_dim" not in cfg:
        raise CheckpointError(
            f"{source} is not a BEATs tokenizer checkpoint: its cfg has no quant_n / quant_dim (an SSL model "
            "checkpoint? pass it as --beats_tokenizer-teacher, and a tokenizer as --beats-tokenizer)"
        )
    known = {f.name for f in fields(BEATsConfig)}
    encoder = BEATsConfig.from_cfg({k: v for k, v in cfg.items() if k in known})
    tokenizer = BEATsTokenizer(encoder, int(cfg["quant_n"]), int(cfg["quant_dim"]))
    state = payload["model"]
    # The BEATs strict loader names missing / unexpected / mis-shaped keys and checks the shared bias table.
    load_beats_state(tokenizer, state, source)
    return tokenizer


def load_tokenizer(path) -> BEATsTokenizer:
    """Read an official-layout BEATs tokenizer checkpoint (ours or Microsoft's `Tokenizer_iter*.pt`), eval mode."""
    from .beats import read_beats_checkpoint

    return tokenizer_from_payload(read_beats_checkpoint(path), str(path)).eval()
