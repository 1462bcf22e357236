"""Tempo TCN configuration and processing as plain dataclasses (no torch at import: the registry reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TempoTCNConfig:
    num_filters: int = 16
    num_dilations: int = 10
    kernel_size: int = 5
    n_mels: int = 81
    dense_units: int = 16
    # Classification bins of the (unused) `tempo_block.output` layer: tempo_range (0, 300).
    tempo_classes: int = 300

    @property
    def frames_lost(self) -> int:
        """Mel frames the two valid 3x3 convolutions remove (half at each end)."""
        return 4

    # Registry protocol: sizes and one-cell descriptions for listings and the docs table.

    @property
    def embedding_size(self) -> int:
        """The scene embedding (`tempo_block.dense`) and timestamp (TCN frame) width."""
        return self.dense_units

    def num_parameters(self) -> int:
        import torch

        from .models.tempo_tcn import TempoTCN

        with torch.device("meta"):
            return sum(p.numel() for p in TempoTCN(self).parameters())

    def describe(self) -> str:
        return f"TCN, {self.num_filters} filters, {self.num_dilations} dilated residual blocks, regression head"

    def describe_timestamps(self) -> str:
        return f"10 ms frames ({self.num_filters}-channel TCN output)"


@dataclass(frozen=True)
class TempoProcessing:
    """The TCN's input (`hear_ssl.frontends.tempo_logmel`): 44.1-kHz magnitude mel, log(x + 1e-7)."""

    def describe(self) -> str:
        return "44.1 kHz, n_fft 2048, hop 441, magnitude, 81 HTK mel bands 30-17000 Hz, log(x + 1e-7)"
