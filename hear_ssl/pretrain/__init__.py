"""Self-supervised pretraining: one training loop for BYOL, Barlow Twins, VICReg and the hybrid objective."""

from .config import PretrainConfig

__all__ = ["PretrainConfig"]
