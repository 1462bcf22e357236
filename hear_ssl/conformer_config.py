"""Conformer wav2vec 2.0 encoder configuration as plain dataclasses (no torch at import: the registry reads them).

Facts from Srivastava et al., "Conformer-based self-supervised learning for non-speech audio tasks" (ICASSP
2022), as read by torchaudio's prototype `conformer_wav2vec2_base` / `_large` (written with the authors' team):
64-band log-mel input, a feature encoder that merges 4 frames into one 40-ms step and projects it to 256
channels, then 12 Conformer blocks (base: d=256, 8 heads; large: d=768, 12 heads; FFN 1024 in both),
depthwise kernels 31 in the first block and 15 in the others, the convolution module before self-attention,
and a one-group GroupNorm in it instead of BatchNorm. There is no positional embedding: the depthwise
convolutions before attention carry relative position.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import FrontEndConfig


@dataclass(frozen=True)
class ConformerConfig:
    """One Conformer wav2vec 2.0 encoder (what `hear_ssl.models.conformer.ConformerEncoder` builds)."""

    n_mels: int = 64
    stride: int = 4  # log-mel frames per encoder step (4 x 10 ms = 40 ms)
    extractor_dim: int = 256  # feature-encoder output channels (the contrastive targets' input)
    dim: int = 256
    layers: int = 12
    heads: int = 8
    ffn: int = 1024
    first_kernel: int = 31  # depthwise kernel of block 0
    kernel: int = 15  # depthwise kernel of the other blocks
    convolution_first: bool = True
    group_norm: bool = True  # GroupNorm(1) in the convolution module (False: BatchNorm1d)
    dropout: float = 0.1

    def __post_init__(self):
        problems = []
        for name in ("n_mels", "stride", "extractor_dim", "dim", "layers", "heads", "ffn"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.heads >= 1 and self.dim % self.heads:
            problems.append(f"{self.heads} heads do not divide the width {self.dim}; e.g. dim 192 with 4 heads")
        for name in ("first_kernel", "kernel"):
            if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                problems.append(f"{name} must be a positive odd number (same-length depthwise conv), got "
                                f"{getattr(self, name)}")  # fmt: skip
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must lie in [0, 1), got {self.dropout}")
        if problems:
            raise ValueError("invalid Conformer config: " + "; ".join(problems))

    # Registry protocol: sizes and one-cell descriptions for listings and the docs table.

    @property
    def embedding_size(self) -> int:
        return self.dim

    def num_parameters(self) -> int:
        import torch

        from .models.conformer import ConformerEncoder

        with torch.device("meta"):  # shapes only
            return sum(p.numel() for p in ConformerEncoder(self).parameters())

    def describe(self) -> str:
        return (
            f"Conformer wav2vec 2.0 (Srivastava et al. 2022), {self.layers} blocks, d={self.dim}, {self.heads} heads, "
            f"FFN {self.ffn}, conv kernels {self.first_kernel}/{self.kernel}"
        )

    def describe_timestamps(self) -> str:
        return f"{10 * self.stride} ms steps, last block (layer= picks another); scene = mean over steps"


VARIANTS = {
    # Small enough to train on a CPU (the equal-budget comparison of the transformer objectives).
    "4x192": ConformerConfig(dim=192, layers=4, heads=4, ffn=768),
    "base": ConformerConfig(),
    "large": ConformerConfig(dim=768, heads=12),
}


@dataclass(frozen=True)
class ConformerProcessing:
    """Input of every hear-ssl Conformer: the file's log-mel front-end, standardised with its corpus statistics
    (both stored in the exported file's metadata, which `hear_ssl.conformer` reads)."""

    frontend: FrontEndConfig = FrontEndConfig()

    def describe(self) -> str:
        fe = self.frontend
        return (
            f"log-mel {fe.n_mels} bands, n_fft {fe.n_fft}, hop {fe.hop_length}; (x - corpus mean) / corpus std, "
            "both read from the file"
        )


__all__ = ["ConformerConfig", "ConformerProcessing", "VARIANTS"]
