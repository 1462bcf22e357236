"""BEATs masked label prediction (Chen et al. 2023): one iteration of BEATs pre-training.

Two iterations, each step resumable and exported in the official `{'cfg', 'model'}` layout:

    hear-ssl pretrain --objective beats --data DIR --out-dir runs/it1 --crop-frames 992   # random projection
    hear-ssl export runs/it1/ckpt.pt --out it1.pt                                        # hear_ssl.beats loads it
    hear-ssl pretrain --objective beats_tokenizer --teacher it1.pt --data DIR --out-dir runs/tok
    hear-ssl export runs/tok/ckpt.pt --out tokenizer2.pt                                 # official tokenizer layout
    hear-ssl pretrain --objective beats --tokenizer tokenizer2.pt --data DIR --out-dir runs/it2

    fbank  = normalised Kaldi fbank of the crop (B, T, 128)    # the cache holds the raw fbank (`cache_frontend`)
    labels = tokenizer(fbank)                                  # (B, P) code ids of the 16x16 patches
    keep   = a random 25 % of the patches per clip             # drawn on the device from a saved generator
    h      = BEATs encoder(patch features[keep])               # only the visible patches are encoded
    logits = label predictor(h scattered back, mask embedding elsewhere)  # (B, P, codes)
    loss   = cross-entropy of logits vs labels on the masked patches

Iteration 1 (no `--beats-tokenizer`) labels with a frozen `RandomProjectionTokenizer` seeded from `--seed`;
later iterations read a tokenizer trained by `--objective beats_tokenizer` (official checkpoint layout). The
encoder is `hear_ssl.models.beats.BEATs` (child `model`, official key layout), so `hear-ssl export` writes an
official `{'cfg', 'model'}` file that `hear_ssl.beats.load_model` reads. The label predictor (mask embedding, a
small BEATs transformer over the whole patch sequence, a linear layer to the codes) is training-only; its depth
is our choice (`predictor_layers`), as the paper's pre-training code is not public. The frozen tokenizer is a
child too, so a checkpoint is complete without its file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...beats_config import BEATS_BASE, BEATS_FBANK, BEATsConfig
from ...frontends.kaldi_fbank import KALDI_FBANK_CACHE, normalise_beats_fbank
from ...models.beats import BEATs, TransformerEncoder
from ...models.beats_tokenizer import RandomProjectionTokenizer, load_tokenizer
from .base import Batch, Objective

PATCH = BEATS_BASE.input_patch_size  # 16 fbank frames x 16 bins


def beats_encoder_config(layers: int, dim: int, heads: int, ffn: int) -> BEATsConfig:
    """The released BEATs' architecture (DeepNorm, gated relative positions) at another size."""
    if dim % heads or dim % BEATS_BASE.conv_pos_groups:
        raise ValueError(
            f"BEATs width {dim} must be divisible by its {heads} heads and by {BEATS_BASE.conv_pos_groups} "
            "(the positional convolution's groups); e.g. 192 with 3 or 4 heads"
        )
    if layers < 1:
        raise ValueError(f"BEATs needs at least one layer, got {layers}")
    return replace(BEATS_BASE, encoder_layers=layers, encoder_embed_dim=dim, encoder_attention_heads=heads,
                   encoder_ffn_embed_dim=ffn)  # fmt: skip


def crops_to_fbank(raw: torch.Tensor) -> torch.Tensor:
    """Cached crops (B, 1, 128, T) of raw Kaldi fbank -> BEATs input (B, T, 128), normalised as at inference."""
    return normalise_beats_fbank(raw[:, 0].transpose(1, 2), BEATS_FBANK)


def check_crop(config) -> None:
    if config.crop_frames < PATCH:
        raise ValueError(
            f"BEATs crops need at least {PATCH} frames (one patch), got --crop-frames {config.crop_frames}"
        )


class SavedGenerator(nn.Module):
    """A torch generator on the batch's device whose state travels in the owner's state dict (`_extra_state`)."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self.generator: torch.Generator | None = None
        self._pending: dict | None = None  # a loaded state, applied when the device is known

    def get(self, device) -> torch.Generator:
        device = torch.device(device)
        if self.generator is None or self.generator.device != device:
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
            if self._pending is not None:
                self.generator.set_state(self._pending["state"])
                self._pending = None
        return self.generator

    def get_extra_state(self) -> dict:
        if self.generator is None:
            return self._pending or {"state": None}
        return {"state": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator = None
        self._pending = state if state.get("state") is not None else None


def visible_patches(batch: int, patches: int, mask_ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(B, V) sorted indices of the patches each clip keeps: the same count V per clip, chosen at random."""
    masked = min(patches - 1, max(1, round(mask_ratio * patches)))
    scores = torch.rand(batch, patches, generator=generator, device=generator.device)
    return scores.argsort(dim=1)[:, : patches - masked].sort(dim=1).values


@dataclass(frozen=True)
class BEATsOptions:
    layers: int = field(default=12, metadata={"help": "BEATs encoder layers (12 = BEATs base)"})
    dim: int = field(default=768, metadata={"help": "BEATs encoder width"})
    heads: int = field(default=12, metadata={"help": "attention heads"})
    ffn: int = field(default=3072, metadata={"help": "feed-forward width"})
    mask_ratio: float = field(default=0.75, metadata={"help": "fraction of patches masked (BEATs: 0.75)"})
    predictor_layers: int = field(default=2, metadata={"help": "transformer layers of the label predictor"})
    tokenizer: str = field(
        default="", metadata={"help": "tokenizer checkpoint (official layout) of the previous iteration; "
                              "empty = iteration 1, random projection", "alias": "--tokenizer"},
    )  # fmt: skip
    quant_n: int = field(default=1024, metadata={"help": "iteration 1: random codebook size"})
    quant_dim: int = field(default=256, metadata={"help": "iteration 1: random projection / code dimension"})

    def __post_init__(self):
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be between 0 and 1, got {self.mask_ratio}")
        if self.predictor_layers < 1:
            raise ValueError("predictor_layers must be at least 1 (mask embeddings need context to predict from)")


class BEATsMaskedLabels(Objective):
    """Masked patch label prediction with a frozen tokenizer; the encoder is a `BEATs` in official layout."""

    Options = BEATsOptions
    log_terms = ("mask_accuracy",)

    def __init__(self, config, data=None):
        super().__init__(config, data)
        check_crop(config)
        options = self.options
        encoder_config = beats_encoder_config(options.layers, options.dim, options.heads, options.ffn)
        self.model = BEATs(encoder_config)
        self.mask_embedding = nn.Parameter(torch.randn(options.dim) * 0.02)
        self.predictor = TransformerEncoder(replace(encoder_config, encoder_layers=options.predictor_layers))
        if options.tokenizer:
            tokenizer = load_tokenizer(options.tokenizer)
            num_codes = tokenizer.quant_n
        else:
            tokenizer = RandomProjectionTokenizer(PATCH, options.quant_n, options.quant_dim, seed=config.seed)
            num_codes = options.quant_n
        self.tokenizer = tokenizer.requires_grad_(False)
        self.label_head = nn.Linear(options.dim, num_codes)
        self.masking = SavedGenerator(config.seed * 1000 + 7)

    @classmethod
    def cache_frontend(cls, config):
        return KALDI_FBANK_CACHE

    @property
    def encoder(self) -> BEATs:
        return self.model

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()  # frozen: its codebook must not move
        return self

    @torch.no_grad()
    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        fbank = crops_to_fbank(batch.raw)
        labels = self.tokenizer.labels(fbank)
        keep = visible_patches(
            labels.shape[0], labels.shape[1], self.options.mask_ratio, self.masking.get(fbank.device)
        )
        return {"fbank": fbank, "labels": labels, "visible": keep}

    def forward(self, inputs):
        fbank, labels, keep = inputs["fbank"], inputs["labels"], inputs["visible"]
        patches = self.model.patch_features(fbank)  # (B, P, C)
        batch, count, width = patches.shape
        index = keep[..., None].expand(-1, -1, width)
        encoded = self.model.encoder(patches.gather(1, index))[-1]  # (B, V, C)
        canvas = self.mask_embedding.to(encoded.dtype).expand(batch, count, width)
        logits = self.label_head(self.predictor(canvas.scatter(1, index, encoded))[-1]).float()
        masked = torch.ones_like(labels, dtype=torch.bool).scatter(1, keep, False)
        loss = F.cross_entropy(logits[masked], labels[masked])
        accuracy = (logits[masked].argmax(-1) == labels[masked]).float().mean()
        return loss, {"ssl_loss": loss.detach(), "mask_accuracy": accuracy.detach()}

    @staticmethod
    def export_payload(checkpoint: dict, options: BEATsOptions) -> dict:
        """The official `{'cfg', 'model'}` BEATs checkpoint of a training checkpoint's encoder."""
        config = beats_encoder_config(options.layers, options.dim, options.heads, options.ffn)
        state = {k[len("model.") :]: v for k, v in checkpoint["model"].items() if k.startswith("model.")}
        return {"cfg": config.to_cfg(), "model": state}
