"""The HEAR API on top of the registry: `load_model`, `get_scene_embeddings`, `get_timestamp_embeddings`.

Each log-mel HEAR module (`hear_ssl.byol_a`, `byol_s`, `hybrid`, `barlow_twins`) binds `load_family_model`
to its family of registry architectures (`Architecture.family`); `load_model` here serves any registered
name by handing over to its family's module. heareval passes `--model-options` JSON as keyword arguments
to `load_model`, so every choice (model_name, precision, ...) is a keyword.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from .config import EncoderConfig, FramingConfig, FrontEndConfig, NormConfig
from .embedder import AudioEmbedder
from .models import build_encoder
from .registry import (
    ModelSpec,
    available_models,
    available_weights,
    get_architecture,
    get_spec,
    get_weights,
    split_name,
)
from .weights import CheckpointError, load_state, read_checkpoint, resolve_weights, shapes_match, verify_sha256

# The parts of a hear-ssl file's embedded config, and the dataclass each is rebuilt with.
CONFIG_PARTS = {"encoder": EncoderConfig, "frontend": FrontEndConfig, "norm": NormConfig, "framing": FramingConfig}


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options):
    """Any registered model: hands over to the HEAR module of its family (`hear_ssl.<family>.load_model`).

    Parameters
    ----------
    model_file_path : str or Path
        "" for the entry's own weights (Hub, then bundled), `hf://owner/repo/file[@revision]`, or a local file.
    model_name : str
        `architecture` (its default weights) or `architecture.tag`; see `hear_ssl.available_models()` and
        `hear_ssl.available_weights()`.
    **options
        Passed to the family's `load_model`.
    """
    if model_name is None:
        raise ValueError(
            "pass model_name (see hear_ssl.available_models()), or load through a HEAR module such as "
            "hear_ssl.byol_a, which infers the variant from the checkpoint"
        )
    module = importlib.import_module(get_architecture(model_name).module)
    return module.load_model(model_file_path, model_name, **options)


def load_family_model(
    model_file_path: str | os.PathLike = "",
    model_name: str | None = None,
    *,
    family: str,
    default: str,
    **options,
) -> AudioEmbedder:
    """Build a log-mel model of `hear_ssl.<family>` and load its weights (what the four modules call).

    Parameters
    ----------
    model_file_path : str or Path
        "" for the weights entry's own file (Hub at its pinned commit, then bundled), `hf://owner/repo/file
        [@revision]` for a Hub file, or a local `.pth` (state dict) / `.safetensors` checkpoint.
    model_name : str, optional
        `architecture` or `architecture.tag` served by this family. Without a tag the architecture's
        default weights are meant; with a path and no name, the architecture is inferred from the file.
    family : str
        The HEAR module's family (`hear_ssl.<family>`); `default` is its default architecture.
    **options
        Engine options: `precision` ("fp32", "bf16", "fp16"), `compile` (torch.compile the encoder),
        `batch_seconds` and `chunk_seconds` (memory bounds), `serab_compat` (bool, per-input-normalised
        models only).
    """
    served = available_models(family)
    if model_name is not None and get_architecture(model_name).family != family:
        raise ValueError(
            f"model_name {model_name!r} is not served by this module (hear_ssl.{family}); it is served by "
            f"{get_architecture(model_name).module}. This module serves: {', '.join(served)}"
        )
    entry = get_weights(model_name or default)
    try:
        resolved = resolve_weights(model_file_path, entry)
    except CheckpointError as err:
        if model_file_path or model_name is not None or entry.bundled or entry.hub is not None:
            raise  # the user's own file or name, or a bundled/Hub file that failed: its own message says why
        raise CheckpointError(no_default_message(family, err if entry.url else "")) from None
    state, file_config = read_checkpoint(resolved.path)
    tagged = model_name is not None and split_name(model_name)[1] is not None
    if resolved.origin != "path" or tagged:
        # The file is (or is declared to be) this entry's file: the entry is the truth, the file must agree.
        if resolved.origin == "path":
            verify_sha256(resolved.path, entry)
        spec = get_spec(entry.name)
        if file_config is not None:
            check_file_agrees(spec, file_config, resolved.path)
    else:
        if model_name is None and len(served) > 1 and file_config:
            name = closest_candidate(file_config, served)
        elif model_name is None and len(served) > 1:
            name = infer_variant(state, served, resolved.path)
        else:
            name = split_name(model_name or default)[0]
        spec = user_file_spec(name, file_config, resolved.path, name_given=model_name is not None)
    model = make_embedder(spec, **options)
    load_state(model.encoder, state, resolved.path, spec.name)
    return model.eval()


def no_default_message(family: str, reason: Exception | str) -> str:
    """What `load_model("")` of a module without bundled default weights says: that, and how to pass a file."""
    return (
        f"hear_ssl.{family} ships no bundled default weights, so load_model('') has nothing to load "
        "(docs/pretraining-defaults.md: a default must beat its random-init twin and the log-mel baseline). "
        f"Pass a checkpoint: hear_ssl.{family}.load_model('path/to/encoder.safetensors'), e.g. one trained with "
        "`hear-ssl pretrain ...` and exported with `hear-ssl export runs/x/ckpt.pt --out encoder.safetensors`, "
        f"or a Hub file 'hf://owner/repo/file.safetensors'. {reason}"
    ).rstrip()


def user_file_spec(architecture: str, file_config: dict | None, path, name_given: bool) -> ModelSpec:
    """The configs for a user's own file of `architecture`.

    A bare state dict (official key layout) is processed as the architecture's official release was; a
    hear-ssl file's embedded configs win. A file of another encoder than the one named is an error.
    """
    entries = [get_weights(name) for name in available_weights(architecture)]
    official = [e for e in entries if e.format == "official"]
    entry = official[0] if file_config is None and official else get_weights(architecture)
    # A known release under its published file name is checked even when its tag was not given.
    for candidate in entries:
        if candidate.filename == path.name:
            verify_sha256(path, candidate)
    base = replace(get_spec(entry.name), name=architecture, weights=None)
    if file_config is None:
        return base
    updates = {key: cls.from_dict(file_config[key]) for key, cls in CONFIG_PARTS.items() if key in file_config}
    found = updates.get("encoder", base.encoder)
    if found.arch != base.encoder.arch or (name_given and found != base.encoder):
        raise CheckpointError(
            f"{path} holds a {describe_encoder(found)} but {architecture} is a {describe_encoder(base.encoder)}; "
            "load it with the matching module / model_name (see hear_ssl.available_models())"
        )
    return replace(base, name=file_config.get("name", architecture), **updates)


def check_file_agrees(spec: ModelSpec, file_config: dict, path) -> None:
    """A file loaded as registry entry `spec.name` must embed the entry's configs (no silent override)."""
    for key, cls in CONFIG_PARTS.items():
        if key in file_config and cls.from_dict(file_config[key]) != getattr(spec, key):
            raise CheckpointError(
                f"{path} does not match the registry entry {spec.name}: its embedded {key} config is "
                f"{file_config[key]} but the entry says {getattr(spec, key).to_dict()}. Load it without a tag "
                f"(model_name={split_name(spec.name)[0]!r}) to use the file's own configs, or fix the entry."
            )


def describe_encoder(config: EncoderConfig) -> str:
    return f"{config.arch} encoder" + ("" if config.arch == "cvt" else f" of width d={config.d}")


def make_embedder(spec: ModelSpec, serab_compat: bool = False, **options) -> AudioEmbedder:
    norm = spec.norm
    if serab_compat:
        if norm.mode != "per_input":
            raise ValueError(f"serab_compat applies to per-input-normalised models, not {spec.name}")
        norm = NormConfig(**{**norm.to_dict(), "serab_compat": True})
    return AudioEmbedder(spec.name, spec.encoder, spec.frontend, norm, spec.framing, **options)


def closest_candidate(config: dict, candidates: Sequence[str]) -> str:
    """The architecture a hear-ssl checkpoint belongs to: same encoder kind, same width if there is one."""
    encoder = config.get("encoder", {})
    specs = {name: get_spec(name).encoder for name in candidates}
    same_arch = [n for n, e in specs.items() if e.arch == encoder.get("arch")] or list(specs)
    same_width = [n for n in same_arch if specs[n].d == encoder.get("d")]
    return (same_width or same_arch)[0]


def infer_variant(state: dict, candidates: Sequence[str], path) -> str:
    for name in candidates:
        if shapes_match(build_encoder(get_spec(name).encoder), state):
            return name
    raise CheckpointError(
        f"{path} matches none of this module's models ({', '.join(candidates)}) by its tensor names and "
        "shapes; it belongs to another architecture or is not an encoder checkpoint"
    )


def check_audio(audio, model: AudioEmbedder) -> torch.Tensor:
    """HEAR input: (n_sounds, n_samples) at model.sample_rate. Returns float32 on the model's device."""
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(audio)
    if not isinstance(audio, torch.Tensor):
        raise TypeError(f"audio must be a torch.Tensor of shape (n_sounds, n_samples), got {type(audio).__name__}")
    if audio.dim() != 2:
        raise ValueError(
            f"audio must be 2-D (n_sounds, n_samples), got shape {tuple(audio.shape)}; "
            "for one clip use audio.unsqueeze(0), for stereo average the channels first"
        )
    if audio.shape[1] == 0:
        raise ValueError("audio has zero samples per clip; pass at least one sample")
    if not audio.is_floating_point():
        if audio.dtype in (torch.int16, torch.int32):
            audio = audio.float() / float(torch.iinfo(audio.dtype).max + 1)
        else:
            raise TypeError(f"audio dtype {audio.dtype} is not supported; pass float32 or int16 PCM")
    if not torch.isfinite(audio).all():
        raise ValueError("audio contains NaN or Inf samples; clean or clip them before embedding")
    device = next(model.parameters()).device
    return audio.to(device=device, dtype=torch.float32)


def get_scene_embeddings(audio, model: AudioEmbedder) -> torch.Tensor:
    """(n_sounds, n_samples) -> (n_sounds, model.scene_embedding_size) float32, on the model's device."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, model.scene_embedding_size)
    return model.scene_embeddings(audio)


def get_timestamp_embeddings(audio, model: AudioEmbedder) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, n_samples) -> embeddings (n_sounds, n_timestamps, D), timestamps in ms (n_sounds, n_timestamps)."""
    audio = check_audio(audio, model)
    if audio.shape[0] == 0:
        return audio.new_zeros(0, 0, model.timestamp_embedding_size), audio.new_zeros(0, 0)
    return model.timestamp_embeddings(audio)
