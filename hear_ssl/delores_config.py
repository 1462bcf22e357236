"""DeLoRes-S / -M configuration and processing as plain dataclasses (no torch at import: the registry reads them)."""

from __future__ import annotations

from dataclasses import dataclass

# Where each variant's encoder sits in its LAPE upstream Lightning checkpoint, most specific first.
ENCODER_PREFIXES = {
    "delores-s": ("encoder.encoder.", "encoder.", ""),
    "delores-m": ("encoder_q.encoder.", "encoder.", ""),
}


@dataclass(frozen=True)
class DeLoResConfig:
    """LAPE's `AudioNTT2020Task6` (= BYOL-A's AudioNTT2020) with `variant` naming which checkpoint layout holds it."""

    variant: str = "delores-s"
    n_mels: int = 64
    d: int = 2048

    def __post_init__(self):
        if self.variant not in ENCODER_PREFIXES:
            raise ValueError(f"unknown DeLoRes variant {self.variant!r}; choose one of {sorted(ENCODER_PREFIXES)}")

    # Registry protocol: sizes and one-cell descriptions for listings and the docs table.

    @property
    def embedding_size(self) -> int:
        return self.d

    def num_parameters(self) -> int:
        import torch

        from .models.delores import build_delores_encoder

        with torch.device("meta"):
            return sum(p.numel() for p in build_delores_encoder().parameters())

    def describe(self) -> str:
        return f"AudioNTT2020 (LAPE AudioNTT2020Task6), d={self.d}; scene = max_t + mean_t"

    def describe_timestamps(self) -> str:
        return "native 80 ms fc frames, stamped 35 + 80 j ms (layer=1/2/3: conv blocks at 20/40/80 ms)"


@dataclass(frozen=True)
class DeLoResProcessing:
    """LAPE's input (`hear_ssl.frontends.slaney_mel`), standardised per clip (LAPE: running dataset statistics)."""

    def describe(self) -> str:
        return (
            "16 kHz, n_fft 1024, hop 160, Hann, centred; power, 64 Slaney mel bands 60-7800 Hz (Slaney norm), "
            "log(x + eps); per-clip mean/std (LAPE trains with running dataset statistics)"
        )
