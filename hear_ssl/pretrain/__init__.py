"""Self-supervised pretraining: one training loop for every objective of `objectives.REGISTRY`."""

from .config import PretrainConfig

__all__ = ["PretrainConfig"]
