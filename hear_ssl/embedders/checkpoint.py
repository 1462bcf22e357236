"""Reading foreign training checkpoints (Lightning `.ckpt`, DeepCluster `.pth.tar`) without running their code.

Such files often pickle Python objects beside the tensors: LAPE's Lightning `hyper_parameters` hold the encoder
*class*, for example, which `torch.load(weights_only=True)` refuses. Unpickling those objects would import (and
could run) the authors' code, so every global the weights-only unpickler refuses is replaced by an inert
placeholder (`torch.serialization.safe_globals`), nothing else is allowed, and only the
state dict is used.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..registry import Weights
from ..weights import CheckpointError, resolve_weights


class ForeignObject:
    """Stands in for a class or function a checkpoint references; accepts and drops its arguments."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def resolve_user_weights(model_file_path: str | os.PathLike, entry: Weights) -> Path:
    """The user's checkpoint for a registry entry whose authors publish no weights (local path or `hf://...`).

    "" raises: there is no default to fall back on, so the error says what to pass instead.
    """
    if not model_file_path:
        raise CheckpointError(
            f"{entry.architecture} has no published weights, so hear-ssl bundles none. Pass your checkpoint: "
            f"load_model('path/to/checkpoint', model_name={entry.architecture!r}). Expected: "
            + entry.description.removeprefix("user-provided; none published. ")
        )
    return resolve_weights(model_file_path, entry).path


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint: a `.safetensors` file, or a torch file's `payload["state_dict"]` when
    present (Lightning, DeepCluster), else the payload itself when it is a dict of tensors.

    Raises
    ------
    CheckpointError
        The file is missing, truncated, not a torch checkpoint, or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise CheckpointError(f"cannot read safetensors file {path} ({type(err).__name__}: {err})") from err
    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        with torch.serialization.safe_globals([(ForeignObject, name) for name in foreign]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {str(err)[:300]}). The file is truncated, "
            "corrupt, or not a PyTorch checkpoint."
        ) from err
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not payload or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointError(
            f"{path} holds a {type(payload).__name__}, not a state dict of tensors (nor a checkpoint dict with "
            "one under 'state_dict')"
        )
    return payload
