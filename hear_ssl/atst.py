"""HEAR module: ATST-Clip and ATST-Frame (Li, Shao, Li et al. 2022/2024; audiossl), small and base.

    model = hear_ssl.atst.load_model("path/to/atst.ckpt")   # clip/frame and small/base read from the file
    embeddings, timestamps = hear_ssl.atst.get_timestamp_embeddings(audio, model)  # (n_sounds, n_samples), 16 kHz

The official checkpoints (CC BY 4.0) are downloaded by the user (links in `CHECKPOINTS`); none is bundled.
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
from dataclasses import dataclass
from pathlib import Path

import torch

from .embedders.atst import DEFAULT_TRAIN_LEN, ATSTEmbedder
from .hear import check_audio
from .models.atst import encoder_state_from_checkpoint, infer_kind_and_config
from .weights import CheckpointError, load_state, read_checkpoint

LICENSE = "CC BY 4.0 (checkpoints; audiossl code MIT)"


@dataclass(frozen=True)
class ATSTCheckpoint:
    """An official checkpoint: which model it is and where its authors publish it (no size/sha256 published).

    `filename` is None where the authors give only a link (the ATST-Frame Google Drive files).
    """

    kind: str
    variant: str
    filename: str | None
    source: str


CHECKPOINTS = {
    "atst-clip-small": ATSTCheckpoint(
        "clip", "small", "small.ckpt", "https://checkpointstorage.oss-cn-beijing.aliyuncs.com/atst/small.ckpt"
    ),
    "atst-clip-base": ATSTCheckpoint(
        "clip", "base", "base.ckpt", "https://checkpointstorage.oss-cn-beijing.aliyuncs.com/atst/base.ckpt"
    ),
    "atst-frame-small": ATSTCheckpoint(
        "frame",
        "small",
        None,
        "https://drive.google.com/file/d/1xZoOTuxV415icYONYbeFQzgrmJQf4a4B (link 'atstframe_samll' in audiossl "
        "methods/atstframe/README.md)",
    ),
    "atst-frame-base": ATSTCheckpoint(
        "frame",
        "base",
        None,
        "https://drive.google.com/file/d/1bGJSZWlAIIJ6GL5Id5dW0PTB72DL-QDQ (link 'atstframe_base' in audiossl "
        "methods/atstframe/README.md)",
    ),
}
MODEL_NAMES = tuple(CHECKPOINTS)


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
    if model_name is not None and model_name not in CHECKPOINTS:
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.atst; choose one of {MODEL_NAMES}")
    if not model_file_path:
        wanted = [model_name] if model_name else list(MODEL_NAMES)
        where = "; ".join(f"{name}: {CHECKPOINTS[name].source}" for name in wanted)
        raise CheckpointError(
            "hear_ssl.atst bundles no weights (the official checkpoints are CC BY 4.0 and downloaded by the "
            f"user). Download one and pass its path, e.g. load_model('path/to/base.ckpt'). {where}"
        )
    path = Path(os.fspath(model_file_path)).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    state, hparams = read_atst_checkpoint(path)
    try:
        kind, config = infer_kind_and_config(state, hparams, num_heads)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err
    name = model_name or next(
        (n for n, c in CHECKPOINTS.items() if c.kind == kind and c.variant == hparams.get("arch")), f"atst-{kind}"
    )
    if model_name is not None and CHECKPOINTS[model_name].kind != kind:
        raise CheckpointError(
            f"{path} holds an ATST-{kind.capitalize()} encoder, not {model_name}; pass model_name='atst-{kind}-...' "
            "or leave model_name out"
        )
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


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "CHECKPOINTS"]
