"""Finding, verifying and reading weights: local files, the Hugging Face Hub, or bundled defaults.

Checkpoints are read with `torch.load(weights_only=True)` or safetensors only, so a checkpoint can never
run code. Files hear-ssl writes (safetensors) carry their model config in the metadata under
`hear_ssl_config`; bare official state dicts get their config from the registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch

from .registry import ModelSpec

HUB_PREFIX = "hf://"
CONFIG_METADATA_KEY = "hear_ssl_config"
_HUB_PATTERN = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>[^@]+?)(?:@(?P<rev>[\w./-]+))?$")


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not belong to the model asked for."""


def weights_dir() -> Path:
    """Where bundled defaults live: `$HEAR_SSL_WEIGHTS_DIR`, else the installed bundle, else the checkout's
    `weights/` (editable installs)."""
    override = os.environ.get("HEAR_SSL_WEIGHTS_DIR")
    if override:
        return Path(override)
    installed = Path(__file__).resolve().parent / "weights_bundle"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / "weights"


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def parse_hub_reference(reference: str) -> tuple[str, str, str | None]:
    """`hf://owner/repo/path/to/file.safetensors[@revision]` -> (repo_id, filename, revision)."""
    match = _HUB_PATTERN.match(reference)
    if not match:
        raise CheckpointError(
            f"malformed Hub reference {reference!r}; expected hf://owner/repo/file.safetensors[@revision]"
        )
    return match["repo"], match["file"], match["rev"]


def download_from_hub(reference: str) -> Path:
    """Fetch (or reuse from the local Hub cache) a file; honours HF_HUB_OFFLINE=1 and HF_HOME."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import LocalEntryNotFoundError

    repo_id, filename, revision = parse_hub_reference(reference)
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision))
    except LocalEntryNotFoundError as err:
        raise CheckpointError(
            f"{reference} is not in the local Hugging Face cache and cannot be downloaded now ({err}). "
            "Connect to the internet once, or unset HF_HUB_OFFLINE, or pass a local file path."
        ) from err


def resolve_checkpoint(model_file_path: str | os.PathLike, spec: ModelSpec) -> Path:
    """Turn the user's `model_file_path` into a local file.

    "" means the bundled default of `spec`; `hf://...` a Hub file; anything else a local path.
    """
    reference = os.fspath(model_file_path) if model_file_path else ""
    if not reference:
        if spec.bundled is None:
            raise CheckpointError(
                f"model {spec.name!r} has no bundled default weights yet. Pass a checkpoint: "
                f"load_model('path/to/{spec.official.filename if spec.official else 'weights.pth'}', "
                f"model_name={spec.name!r}) or a Hub file 'hf://owner/repo/file.safetensors'."
            )
        path = weights_dir() / spec.bundled
        if not path.is_file():
            raise CheckpointError(f"bundled weights for {spec.name!r} are missing: {path} (reinstall hear-ssl)")
        return path
    if reference.startswith(HUB_PREFIX):
        return download_from_hub(reference)
    path = Path(reference).expanduser()
    if not path.is_file():
        hint = ""
        if re.match(r"^[\w.-]+/[\w.-]+$", reference):
            hint = f" If you meant a Hugging Face repo, write hf://{reference}/<file>."
        raise CheckpointError(f"checkpoint file not found: {path}.{hint}")
    return path


def verify_official(path: Path, spec: ModelSpec) -> None:
    """Check size and sha256 when the file is the registry's known official checkpoint."""
    official = spec.official
    if official is None or official.sha256 is None or path.name != official.filename:
        return
    found = sha256_of(path)
    if found != official.sha256:
        raise CheckpointError(
            f"{path} does not match the official {spec.name} checkpoint: expected sha256 {official.sha256}, "
            f"found {found} ({path.stat().st_size:,} bytes, expected {official.num_bytes:,}). "
            f"The file is truncated or different; download it again from {official.source}."
        )


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Read a state dict and, for hear-ssl files, the embedded config. Never unpickles code."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}
            config = json.loads(metadata[CONFIG_METADATA_KEY]) if CONFIG_METADATA_KEY in metadata else None
            return state, config
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {err}). The file is truncated, corrupt, "
            "or not a PyTorch/safetensors checkpoint."
        ) from err
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        return payload["state_dict"], payload.get("config")
    if isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload, None
    raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state dict of tensors")


def shapes_match(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    expected = model.state_dict()
    return expected.keys() == state.keys() and all(expected[k].shape == state[k].shape for k in expected)


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path, model_name: str) -> None:
    """Strict load with an error naming what differs, and weights cast to the model's dtype."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {_preview(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_preview(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatches {_preview(wrong_shape)}")
        raise CheckpointError(
            f"{source} is not a {model_name} checkpoint: " + "; ".join(parts) + ". Pick the model_name that "
            "matches the checkpoint (see hear_ssl.available_models())."
        )
    cast = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(cast, strict=True)


def _preview(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)} in all)"


def save_checkpoint(path, encoder: torch.nn.Module, configs: dict, dtype: torch.dtype | None = None) -> str:
    """Write HEAR-ready safetensors carrying their configs; returns the file's sha256.

    `configs` maps "encoder" / "frontend" / "norm" / "framing" to config dataclasses (or dicts), so
    `load_model(path)` rebuilds the model exactly. The write is atomic (temp file, then rename).
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
        for k, v in encoder.state_dict().items()
    }
    metadata = {
        CONFIG_METADATA_KEY: json.dumps({k: v if isinstance(v, dict) else v.to_dict() for k, v in configs.items()})
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, path)
    return sha256_of(path)
