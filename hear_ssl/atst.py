"""HEAR module: ATST-Clip and ATST-Frame (Li, Shao, Li et al. 2022/2024; audiossl), small and base.

    model = hear_ssl.atst.load_model("path/to/atst.ckpt")   # clip/frame and small/base read from the file
    embeddings, timestamps = hear_ssl.atst.get_timestamp_embeddings(audio, model)  # (n_sounds, n_samples), 16 kHz

The official checkpoints (CC BY 4.0) are downloaded by the user (links in the registry entries
`atst-{clip,frame}-{small,base}.official`, `hear_ssl.get_weights(name).url`); none is bundled.
Accepted files: the official Lightning `.ckpt` (encoder under `model.teacher.encoder.`, with or without
`hyper_parameters`), the older ATST-Clip `{'teacher', 'args'}` format, and bare encoder state dicts
(`.pt`/`.pth`/`.safetensors`). Chunking, pooling and where they differ from the official code:
`hear_ssl.embedders.atst`.

Options (keywords of `load_model`, i.e. heareval `--model-options`): `model_name` (one of MODEL_NAMES; checked
against the file), `layer` (one block, 0-based; default all blocks concatenated), `precision` ("fp32",
"bf16"), `batch_seconds`, `num_heads` (only for non-standard widths, where the file cannot say).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from . import registry
from .atst_config import ATSTArchitecture
from .embedders.atst import DEFAULT_TRAIN_LEN, ATSTEmbedder
from .hear import check_audio
from .models.atst import encoder_state_from_checkpoint, infer_kind_and_config
from .weights import CheckpointError, load_state, read_checkpoint, resolve_weights, verify_sha256

MODEL_NAMES = tuple(registry.available_models("atst"))
DEFAULT_MODEL = "atst-frame-base"  # only names the family's main model: nothing is bundled


def read_atst_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Encoder state dict and hyper-parameters of a local file. Never unpickles code."""
    if path.suffix == ".safetensors":
        state, _ = read_checkpoint(path)
        return state, {}
    try:
        # The older format pickles its argparse Namespace; that class only holds attributes.
        with torch.serialization.safe_globals([argparse.Namespace]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {err}). The file is truncated, corrupt, "
            "or not a PyTorch checkpoint."
        ) from err
    try:
        return encoder_state_from_checkpoint(payload)
    except ValueError as err:
        raise CheckpointError(f"{path} is not an ATST checkpoint: {err}") from err


def load_model(
    model_file_path: str | os.PathLike = "",
    model_name: str | None = None,
    *,
    layer: int | None = None,
    precision: str = "fp32",
    batch_seconds: float | None = None,
    num_heads: int | None = None,
) -> ATSTEmbedder:
    """Build an ATST HEAR model from an official checkpoint; see the module docstring for the options.

    Raises
    ------
    CheckpointError
        No file given (none is bundled), missing/unreadable file, or a file that is not the model asked for.
    """
    entry = None
    if model_name is not None:
        if registry.split_name(model_name)[0] not in MODEL_NAMES:
            raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.atst; choose one of {MODEL_NAMES}")
        entry = registry.get_weights(model_name)
    if not model_file_path:
        if entry is not None:
            resolve_weights(None, entry)  # nothing is bundled: raises, saying where to download the file
        where = "; ".join(f"{name}: {registry.get_weights(name).url}" for name in MODEL_NAMES)
        raise CheckpointError(
            "hear_ssl.atst bundles no weights (the official checkpoints are CC BY 4.0 and downloaded by the "
            f"user). Download one and pass its path, e.g. load_model('path/to/base.ckpt'). {where}"
        )
    path = resolve_weights(model_file_path, entry or registry.get_weights(DEFAULT_MODEL)).path
    if entry is not None and registry.split_name(model_name)[1]:
        verify_sha256(path, entry)  # a tag names one file (a no-op while the authors publish no sha256)
    state, hparams = read_atst_checkpoint(path)
    try:
        kind, config = infer_kind_and_config(state, hparams, num_heads)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err
    # The registry architecture this file is (official shapes), else a descriptive name.
    known = [n for n in MODEL_NAMES if registry.get_architecture(n).config == ATSTArchitecture(kind, config)]
    if entry is not None:
        wanted = registry.get_architecture(entry.name).config
        if wanted.kind != kind:
            raise CheckpointError(
                f"{path} holds an ATST-{kind.capitalize()} encoder, not {model_name}; pass "
                f"model_name='atst-{kind}-...' or leave model_name out"
            )
        if wanted.encoder != config:
            raise CheckpointError(
                f"{path} is not {entry.name}: its encoder is {config.embed_dim} wide with {config.depth} blocks, "
                f"{entry.architecture} is {wanted.encoder.embed_dim} wide with {wanted.encoder.depth}; pick the "
                "matching model_name or leave it out"
            )
    name = entry.name if entry is not None else (f"{known[0]}.official" if known else f"atst-{kind}")
    model = ATSTEmbedder(
        kind,
        config,
        name=name,
        layer=layer,
        train_len=float(hparams.get("train_len", DEFAULT_TRAIN_LEN)),
        precision=precision,
        batch_seconds=batch_seconds,
    )
    load_state(model.encoder, state, path, name)
    return model.eval()


def get_scene_embeddings(audio, model: ATSTEmbedder) -> torch.Tensor:
    """(n_sounds, n_samples) 16-kHz audio -> (n_sounds, model.scene_embedding_size) float32."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, model.scene_embedding_size)
    return model.scene_embeddings(audio)


def get_timestamp_embeddings(audio, model: ATSTEmbedder) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, n_samples) -> embeddings (n_sounds, T, D), one per 40-ms token; timestamps (n_sounds, T) ms."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, 0, model.timestamp_embedding_size), audio.new_zeros(0, 0)
    return model.timestamp_embeddings(audio)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
