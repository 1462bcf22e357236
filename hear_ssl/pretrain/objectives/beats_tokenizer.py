"""BEATs tokenizer training (Chen et al. 2023): distil a BEATs SSL model into a discrete acoustic tokenizer.

    fbank  = normalised Kaldi fbank of the crop (B, T, 128)
    target = teacher(fbank)                                  # a frozen BEATs (the previous iteration), last layer
    z_q    = tokenizer(fbank)                                # BEATs encoder -> quantize_layer -> NormEMA quantiser
    loss   = 1 - cos(estimator(z_q), target) + commitment    # per patch, averaged

The quantiser's codes are k-means-initialised on the first batch and then updated by normalised EMA (no
gradient); the straight-through estimate carries the reconstruction gradient into the tokenizer encoder. The
estimator (a small BEATs transformer) exists only for training. `hear-ssl export` writes the tokenizer alone, in
the official `{'cfg', 'model'}` tokenizer layout, which `--objective beats --beats-tokenizer FILE` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...frontends.kaldi_fbank import KALDI_FBANK_CACHE
from ...models.beats import TransformerEncoder, load_beats_checkpoint
from ...models.beats_tokenizer import BEATsTokenizer
from .base import Batch, Objective
from .beats import SavedGenerator, beats_encoder_config, check_crop, crops_to_fbank


@dataclass(frozen=True)
class BEATsTokenizerOptions:
    teacher: str = field(
        default="",
        metadata={"help": "BEATs SSL model to distil (an exported {'cfg','model'} .pt)", "alias": "--teacher"},
    )
    layers: int = field(default=12, metadata={"help": "tokenizer encoder layers (BEATs: 12)"})
    dim: int = field(default=768, metadata={"help": "tokenizer encoder width"})
    heads: int = field(default=12, metadata={"help": "tokenizer attention heads"})
    ffn: int = field(default=3072, metadata={"help": "tokenizer feed-forward width"})
    quant_n: int = field(default=1024, metadata={"help": "codebook size"})
    quant_dim: int = field(default=256, metadata={"help": "code dimension"})
    codebook_decay: float = field(default=0.99, metadata={"help": "EMA decay of the codebook"})
    estimator_layers: int = field(default=3, metadata={"help": "transformer layers of the estimator"})

    def __post_init__(self):
        if not 0 < self.codebook_decay < 1:
            raise ValueError(f"codebook_decay must be between 0 and 1, got {self.codebook_decay}")


class BEATsTokenizerTraining(Objective):
    """Tokenizer (official layout, child `tokenizer`) + estimator, trained against a frozen teacher."""

    Options = BEATsTokenizerOptions
    log_terms = ("cosine_loss", "commit_loss", "codes_used")

    def __init__(self, config, data=None):
        super().__init__(config, data)
        check_crop(config)
        options = self.options
        if not options.teacher:
            raise ValueError("the BEATs tokenizer distils a trained BEATs model: pass --teacher FILE.pt "
                             "(`hear-ssl export` of an --objective beats run)")  # fmt: skip
        self.teacher = load_beats_checkpoint(options.teacher).model.requires_grad_(False)
        encoder_config = beats_encoder_config(options.layers, options.dim, options.heads, options.ffn)
        self.tokenizer = BEATsTokenizer(encoder_config, options.quant_n, options.quant_dim, options.codebook_decay)
        self.estimator_in = nn.Linear(options.quant_dim, options.dim)
        self.estimator = TransformerEncoder(replace(encoder_config, encoder_layers=options.estimator_layers))
        self.estimator_out = nn.Linear(options.dim, self.teacher.embedding_size)
        self.kmeans = SavedGenerator(config.seed * 1000 + 11)

    @classmethod
    def cache_frontend(cls, config):
        return KALDI_FBANK_CACHE

    @property
    def encoder(self) -> BEATsTokenizer:
        return self.tokenizer

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        fbank = crops_to_fbank(batch.raw)
        self.tokenizer.quantize.generator = self.kmeans.get(fbank.device)
        return {"fbank": fbank, "target": self.teacher(fbank).float()}

    def forward(self, inputs):
        quantized, commit, ids = self.tokenizer(inputs["fbank"])
        estimate = self.estimator_out(
            self.estimator(self.estimator_in(quantized.to(self.estimator_in.weight.dtype)))[-1]
        )
        cosine = 1 - F.cosine_similarity(estimate.float(), inputs["target"], dim=-1).mean()
        loss = cosine + commit
        used = torch.tensor(float(ids.unique().numel()))
        return loss, {"ssl_loss": loss.detach(), "cosine_loss": cosine.detach(), "commit_loss": commit.detach(),
                      "codes_used": used}  # fmt: skip

    @staticmethod
    def export_payload(checkpoint: dict, options: BEATsTokenizerOptions) -> dict:
        """The official `{'cfg', 'model'}` tokenizer checkpoint of a training checkpoint."""
        from ...models.beats_tokenizer import tokenizer_cfg

        config = beats_encoder_config(options.layers, options.dim, options.heads, options.ffn)
        prefix = "tokenizer."
        state = {k[len(prefix) :]: v for k, v in checkpoint["model"].items() if k.startswith(prefix)}
        return {"cfg": tokenizer_cfg(config, options.quant_n, options.quant_dim), "model": state}
