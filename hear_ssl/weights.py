"""Finding, verifying and reading weights, in one place: explicit path -> Hugging Face Hub -> bundled file.

`resolve_weights(model_file_path, entry)` is the only place a weights file is looked for. An explicit
path (or `hf://owner/repo/file[@revision]`) always wins; otherwise the registry entry's Hub file is fetched
at its pinned commit through huggingface_hub's cache (`HF_HOME`, `HF_HUB_OFFLINE=1` honoured), then the
bundled copy in `weights/` is used. Every file whose sha256 the registry knows is checked against it.

Checkpoints are read with `torch.load(weights_only=True)` or safetensors only, so a checkpoint can never
run code. Files hear-ssl writes (safetensors) carry their model config in the metadata under
`hear_ssl_config`; bare official state dicts get their config from the registry.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .io import sha256_file
from .registry import Weights

HUB_PREFIX = "hf://"
CONFIG_METADATA_KEY = "hear_ssl_config"
_HUB_PATTERN = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>[^@]+?)(?:@(?P<rev>[\w./-]+))?$")


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not belong to the model asked for."""


@dataclass(frozen=True)
class ResolvedWeights:
    """A local weights file and where it came from: "path" (the user's), "hub" or "bundled" (the registry's)."""

    path: Path
    origin: str


def weights_dir() -> Path:
    """Where bundled defaults live: `$HEAR_SSL_WEIGHTS_DIR`, else the installed bundle, else the checkout's
    `weights/` (editable installs)."""
    override = os.environ.get("HEAR_SSL_WEIGHTS_DIR")
    if override:
        return Path(override)
    installed = Path(__file__).resolve().parent / "weights_bundle"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / "weights"


def parse_hub_reference(reference: str) -> tuple[str, str, str | None]:
    """`hf://owner/repo/path/to/file.safetensors[@revision]` -> (repo_id, filename, revision)."""
    match = _HUB_PATTERN.match(reference)
    if not match:
        raise CheckpointError(
            f"malformed Hub reference {reference!r}; expected hf://owner/repo/file.safetensors[@revision]"
        )
    return match["repo"], match["file"], match["rev"]


def hub_download(repo_id: str, filename: str, revision: str | None, force: bool = False) -> Path:
    """One file through huggingface_hub's cache (at a pinned commit, a cache hit needs no network)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError

    where = f"hf://{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision, force_download=force))
    except LocalEntryNotFoundError as err:
        raise CheckpointError(
            f"{where} is not in the local Hugging Face cache and cannot be downloaded now ({err}). "
            "Connect to the internet once, or unset HF_HUB_OFFLINE, or pass a local file path."
        ) from err
    except HfHubHTTPError as err:
        raise CheckpointError(f"{where} could not be downloaded ({err}); check the repository and file name") from err


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def verify_sha256(path: Path, entry: Weights) -> None:
    """Raise when `path` is not the file the registry entry describes (its sha256, when recorded)."""
    if entry.sha256 is None:
        return
    found = sha256_file(path)
    if found != entry.sha256:
        size = f"{path.stat().st_size:,} bytes" + (f", expected {entry.num_bytes:,}" if entry.num_bytes else "")
        where = entry.url or (f"hf://{entry.hub.repo_id}" if entry.hub else "a fresh hear-ssl install")
        raise CheckpointError(
            f"{path} is not the {entry.name} weights file: expected sha256 {entry.sha256}, found {found} ({size}). "
            f"The file is truncated or different; get it again from {where}."
        )


def _explicit_file(reference: str) -> Path:
    if reference.startswith(HUB_PREFIX):
        return hub_download(*parse_hub_reference(reference))
    path = Path(reference).expanduser()
    if not path.is_file():
        hint = ""
        if re.match(r"^[\w.-]+/[\w.-]+$", reference):
            hint = f" If you meant a Hugging Face repo, write hf://{reference}/<file>."
        raise CheckpointError(f"checkpoint file not found: {path}.{hint}")
    return path


def resolve_weights(model_file_path: str | os.PathLike | None, entry: Weights) -> ResolvedWeights:
    """The local file to load for `entry`: explicit path -> Hub (pinned, sha256-checked) -> bundled.

    Parameters
    ----------
    model_file_path : str or Path or None
        The user's file (a local path or `hf://owner/repo/file[@revision]`); "" or None to use the entry's own.
    entry : Weights
        The registry entry asked for (`hear_ssl.registry.get_weights`).

    Returns
    -------
    ResolvedWeights
        `origin` is "path" for the user's file (checked by the caller, who knows which entry it claims to
        be), "hub" or "bundled" for the entry's file (already checked against its sha256 here).
    """
    reference = os.fspath(model_file_path) if model_file_path else ""
    if reference:
        return ResolvedWeights(_explicit_file(reference), "path")
    hub_problem = ""
    if entry.hub is not None:
        try:
            path = hub_download(entry.hub.repo_id, entry.filename, entry.hub.revision)
        except CheckpointError as err:
            if not entry.bundled:
                raise
            hub_problem = f" (the Hub copy was unavailable: {err})"
        else:
            if sha256_file(path) != entry.sha256 and not _hub_offline():
                # A damaged cache copy: fetch it once more before refusing it.
                path = hub_download(entry.hub.repo_id, entry.filename, entry.hub.revision, force=True)
            verify_sha256(path, entry)
            return ResolvedWeights(path, "hub")
    if entry.bundled:
        path = weights_dir() / entry.filename
        if not path.is_file():
            raise CheckpointError(
                f"bundled weights for {entry.name} are missing: {path}{hub_problem} (reinstall hear-ssl)"
            )
        verify_sha256(path, entry)
        return ResolvedWeights(path, "bundled")
    filename = entry.filename or "weights.pth"
    where = f" from {entry.url}" if entry.url else ""
    raise CheckpointError(
        f"model {entry.name!r} has no bundled default weights yet. Download {filename}{where} yourself and pass "
        f"its path: load_model('path/to/{filename}', model_name={entry.name!r}); or pass a Hub file "
        "'hf://owner/repo/file.safetensors'."
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
