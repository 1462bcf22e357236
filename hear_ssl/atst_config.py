"""ATST configuration and processing as plain dataclasses (no torch at import: the registry reads them).

`ATSTConfig` is one encoder (the official `AST` / `FrameAST` constructor arguments that matter at inference);
`VARIANTS` are the official `*_small` / `*_base` constructors. `ATSTArchitecture` (registry family config)
adds which encoder it is; `ATSTProcessing` is the input pipeline of every official checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ATSTConfig:
    """One ATST encoder; `spec_w` frames of positional embedding (1001 = 10 s + 1) bound the input length."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    patch_h: int = 64
    patch_w: int = 4
    spec_h: int = 64
    spec_w: int = 1001
    norm_eps: float = 1e-6

    @property
    def num_patches(self) -> int:
        return (self.spec_h // self.patch_h) * (self.spec_w // self.patch_w)

    @property
    def max_frames(self) -> int:
        """Longest input (mel frames) whose patches all have a positional embedding."""
        return self.spec_w // self.patch_w * self.patch_w


# The official constructors `AST_small/base`, `FrameAST_small/base` (`audio_transformer.py`).
VARIANTS = {
    "small": ATSTConfig(embed_dim=384, depth=12, num_heads=6),
    "base": ATSTConfig(embed_dim=768, depth=12, num_heads=12),
}


@dataclass(frozen=True)
class ATSTArchitecture:
    """Registry family config: ATST-Clip ("clip") or ATST-Frame ("frame") with an `ATSTConfig`.

    Embeddings concatenate every block (the authors' default): ATST-Frame depth x D per 40-ms token and for
    the scene; ATST-Clip [CLS..., patch mean...] = 2 x depth x D for the scene, depth x D per token.
    """

    kind: str
    encoder: ATSTConfig

    @classmethod
    def official(cls, kind: str, variant: str) -> ATSTArchitecture:
        return cls(kind, VARIANTS[variant])

    @property
    def embedding_size(self) -> int:
        width = self.encoder.depth * self.encoder.embed_dim
        return 2 * width if self.kind == "clip" else width

    def num_parameters(self) -> int:
        import torch

        from .models.atst import ENCODERS

        with torch.device("meta"):  # shapes only
            return sum(p.numel() for p in ENCODERS[self.kind](self.encoder).parameters())

    def describe(self) -> str:
        e = self.encoder
        name = "ATST-Clip (CLS token)" if self.kind == "clip" else "ATST-Frame"
        return f"{name} ViT, 64x{e.patch_w} mel patches, {e.depth} blocks, d={e.embed_dim}, {e.num_heads} heads"

    def describe_timestamps(self) -> str:
        return f"{10 * self.encoder.patch_w} ms tokens, all {self.encoder.depth} blocks concatenated"


@dataclass(frozen=True)
class ATSTProcessing:
    """ATST's input: 16-kHz dB mel (64 bands 60-7800 Hz, 80 dB below each clip's peak) min-max scaled;
    ATST-Clip chunks of `train_len` seconds (the checkpoint's `hyper_parameters.train_len`, default 6)."""

    train_len: float = 6.0

    def describe(self) -> str:
        return f"dB mel 64 bands, hop 10 ms, top 80 dB, min-max (-79.6482, 50.6842); clip chunks {self.train_len:g} s"


__all__ = ["ATSTArchitecture", "ATSTConfig", "ATSTProcessing", "VARIANTS"]
