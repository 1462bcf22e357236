"""The HEAR API on top of the registry: `load_model`, `get_scene_embeddings`, `get_timestamp_embeddings`.

Each HEAR module (`hear_ssl.byol_a`, `byol_s`, `hybrid`, `barlow_twins`) binds these to its family of
registry entries. heareval passes `--model-options` JSON as keyword arguments to `load_model`, so every
choice (model_name, precision, ...) is a keyword.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from .config import EncoderConfig, FramingConfig, FrontEndConfig, NormConfig
from .embedder import AudioEmbedder
from .models import build_encoder
from .registry import ModelSpec, get_spec
from .weights import CheckpointError, load_state, read_checkpoint, resolve_checkpoint, shapes_match, verify_official


def load_model(
    model_file_path: str | os.PathLike = "",
    model_name: str | None = None,
    *,
    candidates: Sequence[str] | None = None,
    default: str | None = None,
    **options,
) -> AudioEmbedder:
    """Build a model and load its weights.

    Parameters
    ----------
    model_file_path : str or Path
        "" for the bundled default, `hf://owner/repo/file[@revision]` for a Hub file, or a local `.pth`
        (state dict) / `.safetensors` checkpoint.
    model_name : str, optional
        A registry name (`hear_ssl.available_models()`). When omitted and a checkpoint is given, the
        variant is inferred from the checkpoint's tensor shapes among `candidates`.
    **options
        Engine options: `precision` ("fp32", "bf16", "fp16"), `compile` (torch.compile the encoder),
        `batch_seconds` and `chunk_seconds` (memory bounds), `serab_compat` (bool, per-input-normalised
        models only).
    """
    candidates = list(candidates) if candidates else ([model_name] if model_name else [])
    if model_name is not None and candidates and model_name not in candidates:
        raise ValueError(f"model_name {model_name!r} is not served by this module; choose one of {candidates}")
    name = model_name or default or (candidates[0] if candidates else None)
    if name is None:
        raise ValueError("pass model_name (see hear_ssl.available_models())")
    spec = get_spec(name)
    path = resolve_checkpoint(model_file_path, spec)
    verify_official(path, spec)
    state, file_config = read_checkpoint(path)
    if model_name is None and len(candidates) > 1:
        spec = closest_candidate(file_config, candidates) if file_config else infer_variant(state, candidates, path)
    if file_config is not None:
        spec = spec_from_file_config(spec, file_config)
    model = make_embedder(spec, **options)
    load_state(model.encoder, state, path, spec.name)
    return model.eval()


def make_embedder(spec: ModelSpec, serab_compat: bool = False, **options) -> AudioEmbedder:
    norm = spec.norm
    if serab_compat:
        if norm.mode != "per_input":
            raise ValueError(f"serab_compat applies to per-input-normalised models, not {spec.name}")
        norm = NormConfig(**{**norm.to_dict(), "serab_compat": True})
    return AudioEmbedder(spec.name, spec.encoder, spec.frontend, norm, spec.framing, **options)


def spec_from_file_config(spec: ModelSpec, config: dict) -> ModelSpec:
    """hear-ssl checkpoints carry encoder / front-end / normalisation / framing configs: they win."""
    from dataclasses import replace

    parts = {
        "encoder": EncoderConfig,
        "frontend": FrontEndConfig,
        "norm": NormConfig,
        "framing": FramingConfig,
    }
    updates = {key: cls.from_dict(config[key]) for key, cls in parts.items() if key in config}
    if "name" in config:
        updates["name"] = config["name"]
    if "encoder" in updates and updates["encoder"].arch != spec.encoder.arch:
        raise CheckpointError(
            f"checkpoint holds a {updates['encoder'].arch} encoder but {spec.name} is {spec.encoder.arch}; "
            "load it with the matching module / model_name"
        )
    return replace(spec, **updates)


def closest_candidate(config: dict, candidates: Sequence[str]) -> ModelSpec:
    """The module entry a hear-ssl checkpoint belongs to: same architecture, same width if there is one."""
    encoder = config.get("encoder", {})
    specs = [get_spec(name) for name in candidates]
    same_arch = [s for s in specs if s.encoder.arch == encoder.get("arch")] or specs
    same_width = [s for s in same_arch if s.encoder.d == encoder.get("d")]
    return (same_width or same_arch)[0]


def infer_variant(state: dict, candidates: Sequence[str], path) -> ModelSpec:
    for name in candidates:
        spec = get_spec(name)
        if shapes_match(build_encoder(spec.encoder), state):
            return spec
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
