"""Shared helpers for the HEAR-module tests: fixtures, recipe weights, the input contract of every module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from .requires import unavailable

CLIPS = ("a_3s", "b_1p37s", "c_batch2_1s")

# The HEAR bad-input matrix: input, error type, message fragment (every module must say the same).
BAD_AUDIO = [
    (torch.zeros(2, 0), ValueError, "zero samples"),
    (torch.zeros(16000), ValueError, "2-D"),
    (torch.zeros(1, 2, 16000), ValueError, "2-D"),
    (torch.tensor([[0.0, float("nan")] * 800]), ValueError, "NaN or Inf"),
    (torch.tensor([[0.0, float("inf")] * 800]), ValueError, "NaN or Inf"),
    ([[0.0] * 100], TypeError, "torch.Tensor"),
    (torch.zeros(1, 100, dtype=torch.bool), TypeError, "dtype"),
]


def seeds_dir(reference_dir: Path) -> Path:
    path = reference_dir / "seeds"
    if not path.is_dir():
        unavailable(f"seed fixtures absent at {path}")
    return path


def load_recipe(seeds: Path):
    """The fixture folder's `recipe.py`, imported by path (it is test data, never part of the package)."""
    spec = importlib.util.spec_from_file_location("seed_recipe", seeds / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_fixture(seeds: Path, name: str) -> dict:
    return torch.load(seeds / name, map_location="cpu", weights_only=True)


def relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    """max |actual - reference| / max |reference|."""
    assert actual.shape == reference.shape, (tuple(actual.shape), tuple(reference.shape))
    return float((actual.float() - reference.float()).abs().max() / reference.abs().max())


def synthetic_clips(seconds: float, seed: int = 0, n: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * 16000)) / 16000
    tone = torch.sin(2 * torch.pi * (300 + 200 * t) * t)
    return 0.1 * torch.randn(n, len(t), generator=generator) + 0.3 * tone


def assert_bad_audio_rejected(calls, model, audio, error, message: str) -> None:
    """Each embedding function in `calls` raises `error` naming the problem (`message`) for `audio`."""
    for call in calls:
        with pytest.raises(error, match=message):
            call(audio, model)


def assert_input_types_agree(module, model, audio: torch.Tensor) -> None:
    """float64, numpy and int16 PCM input give the float32 result; an empty batch gives (0, D)."""
    reference = module.get_scene_embeddings(audio, model)
    torch.testing.assert_close(module.get_scene_embeddings(audio.double(), model), reference)
    torch.testing.assert_close(module.get_scene_embeddings(audio.numpy(), model), reference)
    pcm = (audio.clamp(-1, 1) * 32767).round().to(torch.int16)
    torch.testing.assert_close(
        module.get_scene_embeddings(pcm, model), module.get_scene_embeddings(pcm.float() / 32768, model)
    )
    assert module.get_scene_embeddings(audio[:0], model).shape == (0, model.scene_embedding_size)
