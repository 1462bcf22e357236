"""DECAR configuration and processing as plain dataclasses (no torch at import: the registry reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DECARConfig:
    """DECAR's `DeepCluster_ICASSP`: EfficientNet-B0, one input channel, TF-"same" padding; 1280-d pooled output."""

    backbone: str = "efficientnet-b0"
    in_channels: int = 1

    # Registry protocol: sizes and one-cell descriptions for listings and the docs table.

    @property
    def embedding_size(self) -> int:
        return 1280

    def num_parameters(self) -> int:
        """Backbone parameters (the embedding model; the DeepCluster MLP head is not part of it)."""
        import torch

        from .models.decar import EfficientNetB0

        with torch.device("meta"):
            return sum(p.numel() for p in EfficientNetB0(self.in_channels).parameters())

    def describe(self) -> str:
        return "EfficientNet-B0 (1 channel, TF-same padding); scene = average-pooled swished 1280-d map"

    def describe_timestamps(self) -> str:
        return "320 ms steps (32 STFT frames), map averaged over frequency"


@dataclass(frozen=True)
class DECARProcessing:
    """DECAR's training features (`hear_ssl.frontends.tf_mel`), time-first (B, 1, T, 64)."""

    def describe(self) -> str:
        return (
            "16 kHz, L2-normalised wave; STFT frame 400 / hop 160 / fft 1024, periodic Hann, no centring; "
            "magnitude, TF mel 64 bands 60-7800 Hz, clip [1e-5, 1e8], ln"
        )
