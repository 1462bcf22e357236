"""HEAR module: the equivariant self-supervised tempo TCN (Quinton, ISMIR 2022), 44.1 kHz.

    model = hear_ssl.tempo.load_model()                       # the bundled published weights
    scene = hear_ssl.tempo.get_scene_embeddings(audio, model)  # (n_sounds, 16); audio at 44.1 kHz
    tempo = hear_ssl.tempo.get_tempo_estimates(audio, model)   # (n_sounds,), proportional to tempo

`load_model()` uses `weights/tempo-tcn-quinton2022.safetensors` (registry `tempo-tcn.bundled`), the published weights
(`pretrained_model/TCN-pretrained-220204-1729-002-8b0f9fa5.pt`, ISC-style licence, notice in the model card
`weights/tempo-tcn-quinton2022.md`) converted with `convert_official`. The original `.pt` (a bare state dict
saved from CUDA tensors; registry `tempo-tcn.official`) also loads directly, and so does the file `hear-ssl export`
writes for a `hear-ssl pretrain --objective tempo` run (same keys, float32). Embeddings: `hear_ssl.embedders.tempo`.

Options: `precision` ("fp32", "bf16"), `excerpt_frames` (mel frames per excerpt for long clips).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from . import registry
from .embedders.tempo import TempoEmbedder
from .hear import check_audio
from .io import atomic_path, sha256_file
from .models.tempo_tcn import TempoTCNConfig
from .weights import CONFIG_METADATA_KEY, load_state, read_checkpoint, resolve_weights, verify_sha256

MODEL_NAMES = tuple(registry.available_models("tempo"))
DEFAULT_MODEL = "tempo-tcn"
OFFICIAL = registry.get_weights("tempo-tcn.official")  # the published .pt (sha256, size, where)
BUNDLED = registry.get_weights("tempo-tcn.bundled").filename


def convert_official(source: str | os.PathLike, target: str | os.PathLike) -> str:
    """Write the published `.pt` state dict as hear-ssl safetensors (fp32, same keys); returns its sha256.

    Raises
    ------
    CheckpointError
        If `source` is not the tempo TCN's state dict.
    """
    from safetensors.torch import save_file

    source = Path(source)
    state, _ = read_checkpoint(source)
    load_state(TempoEmbedder().encoder, state, source, "tempo-tcn")  # strict: the 77 official keys
    # One metadata entry: safetensors writes several in arbitrary order, and the file should be reproducible.
    config = {"name": "tempo-tcn", "tcn": asdict(TempoTCNConfig())}
    config["source"] = {"file": source.name, "sha256": sha256_file(source)}
    metadata = {CONFIG_METADATA_KEY: json.dumps(config, sort_keys=True)}
    with atomic_path(target) as partial:
        save_file({k: v.contiguous() for k, v in state.items()}, str(partial), metadata=metadata)
    return sha256_file(target)


def load_model(
    model_file_path: str | os.PathLike = "",
    model_name: str | None = None,
    *,
    precision: str = "fp32",
    excerpt_frames: int | None = None,
) -> TempoEmbedder:
    """The tempo TCN with the bundled weights ("") or a local file (the official `.pt`, our safetensors, or an
    export of a `--objective tempo` run)."""
    if model_name is not None and registry.split_name(model_name)[0] not in MODEL_NAMES:
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.tempo; choose one of {MODEL_NAMES}")
    entry = registry.get_weights(model_name or DEFAULT_MODEL)
    resolved = resolve_weights(model_file_path, entry)
    if resolved.origin == "path" and model_name is not None and registry.split_name(model_name)[1]:
        verify_sha256(resolved.path, entry)  # a tag names one file
    path = resolved.path
    state, _ = read_checkpoint(path)
    options = {} if excerpt_frames is None else {"excerpt_frames": excerpt_frames}
    model = TempoEmbedder(name=entry.name, precision=precision, **options)
    load_state(model.encoder, state, path, "tempo-tcn")
    return model.eval()


def get_scene_embeddings(audio, model: TempoEmbedder) -> torch.Tensor:
    """(n_sounds, n_samples) 44.1-kHz audio -> (n_sounds, 16) float32: the TCN's dense-layer features."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, model.scene_embedding_size)
    return model.scene_embeddings(audio)


def get_timestamp_embeddings(audio, model: TempoEmbedder) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, n_samples) -> TCN frames (n_sounds, T, 16) every 10 ms, centred timestamps in ms (n_sounds, T)."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, 0, model.timestamp_embedding_size), audio.new_zeros(0, 0)
    return model.timestamp_embeddings(audio)


def get_tempo_estimates(audio, model: TempoEmbedder) -> torch.Tensor:
    """(n_sounds, n_samples) -> (n_sounds,) regression output, proportional to tempo (self-supervised, not BPM)."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0)
    return model.tempo_estimates(audio)


__all__ = [
    "load_model",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "get_tempo_estimates",
    "convert_official",
    "MODEL_NAMES",
]
