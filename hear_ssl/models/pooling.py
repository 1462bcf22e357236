"""Temporal pooling shared by all encoders."""

import torch


def mean_max_pool(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, D) frame features -> (B, D): max over time plus mean over time, as BYOL-A pools."""
    if frames.dim() != 3:
        raise ValueError(f"expected frame features (batch, time, dim), got {tuple(frames.shape)}")
    return frames.amax(dim=1) + frames.mean(dim=1)


def flatten_frequency(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) -> (B, T, F * C), frequency-major: the layout the official fc layers were trained on."""
    batch, channels, freq, time = feature_map.shape
    return feature_map.permute(0, 3, 2, 1).reshape(batch, time, freq * channels)
