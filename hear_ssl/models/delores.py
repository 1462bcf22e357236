"""DeLoRes-S and DeLoRes-M (LAPE): the AudioNTT2020 encoder under LAPE's key names.

LAPE's `AudioNTT2020Task6` (`src/encoder/audiontt.py`) is BYOL-A's AudioNTT2020 with each conv block in its
own `features_{1,2,3}` Sequential; the layers, the channel-fastest flatten (index = mel' * 64 + c) and the fc
MLP are the same, so hear-ssl reuses `AudioNTT2020` (n_mels 64, d 2048) and renames keys with
`convert_lape_state_dict`. Checkpoint layouts (Lightning `state_dict` or bare):

- DeLoRes-S upstream: `encoder.encoder.features_*`, `encoder.encoder.fc.*` plus the Barlow-Twins head `p.*`;
- DeLoRes-M upstream: `encoder_q.encoder.*` (query encoder, used), `encoder_k.encoder.*` (momentum copy),
  `encoder_{q,k}.fc.*` (contrastive projection), `queue`, `queue_ptr`, `p1.*`..`p3.*`;
- a `DELORES_S` module state dict (`encoder.features_*`) or a bare `AudioNTT2020Task6` one (`features_*`).

LAPE's own downstream loader (`load_pretrained_encoder`, strict=False) maps only `encoder_q.` keys, so it
silently loads none of a DeLoRes-S checkpoint's encoder weights; here a checkpoint either loads every one
of the 25 encoder tensors or raises `CheckpointError`.
"""

from __future__ import annotations

import re

import torch

from ..config import EncoderConfig
from ..delores_config import ENCODER_PREFIXES
from ..weights import CheckpointError
from .audiontt2020 import CONV_CHANNELS, AudioNTT2020
from .pooling import flatten_frequency

DELORES_ENCODER = EncoderConfig(arch="audiontt2020", n_mels=64, d=2048)
# LAPE block i (`features_{i}`) holds AudioNTT2020 `features` layers 4(i-1) .. 4(i-1)+3.
_LAPE_BLOCK = re.compile(r"^features_(?P<block>[123])\.(?P<layer>[01])\.(?P<rest>.+)$")
# Training-only parts of the upstream checkpoints: ignored when embedding.
TRAINING_ONLY = re.compile(r"^(p\d*\.|encoder_k\.|encoder_q\.fc\.|queue$|queue_ptr$)")


def build_delores_encoder() -> AudioNTT2020:
    """A randomly initialised DeLoRes encoder (AudioNTT2020, n_mels 64, d 2048)."""
    return AudioNTT2020(DELORES_ENCODER)


def lape_to_audiontt_key(key: str) -> str:
    """`features_2.1.weight` -> `features.5.weight`; `fc.*` is unchanged."""
    match = _LAPE_BLOCK.match(key)
    if match is None:
        return key
    index = 4 * (int(match["block"]) - 1) + int(match["layer"])
    return f"features.{index}.{match['rest']}"


def detect_variant(state: dict[str, torch.Tensor]) -> str:
    """DeLoRes-M checkpoints hold a MoCo query encoder (`encoder_q.`); everything else is read as DeLoRes-S."""
    return "delores-m" if any(key.startswith("encoder_q.encoder.") for key in state) else "delores-s"


def convert_lape_state_dict(state: dict[str, torch.Tensor], variant: str = "delores-s") -> dict[str, torch.Tensor]:
    """LAPE upstream / encoder state dict -> `AudioNTT2020` state dict (25 tensors), checked key for key.

    Raises
    ------
    CheckpointError
        When no prefix holds all 25 encoder tensors with the expected shapes, or keys are left that are
        neither encoder nor known training-only parts (another model's checkpoint).
    """
    if variant not in ENCODER_PREFIXES:
        raise ValueError(f"unknown DeLoRes variant {variant!r}; choose one of {sorted(ENCODER_PREFIXES)}")
    expected = build_delores_encoder().state_dict()
    for prefix in ENCODER_PREFIXES[variant]:
        owned = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        converted = {lape_to_audiontt_key(key): value for key, value in owned.items()}
        if not set(expected) <= set(converted):
            continue
        leftovers = [
            key
            for key in state
            if not key.startswith(prefix) or lape_to_audiontt_key(key[len(prefix) :]) not in expected
        ]
        unknown = [key for key in leftovers if not TRAINING_ONLY.match(key)]
        if unknown:
            raise CheckpointError(
                f"DeLoRes checkpoint has unexpected keys {unknown[:4]} ({len(unknown)} in all) beside its encoder "
                f"under {prefix!r}; it is not a LAPE {variant} checkpoint"
            )
        wrong = [
            f"{k}: {tuple(converted[k].shape)} vs {tuple(v.shape)}"
            for k, v in expected.items()
            if converted[k].shape != v.shape
        ]
        if wrong:
            raise CheckpointError(f"DeLoRes checkpoint tensors have the wrong shapes: {wrong[:4]}")
        return {key: converted[key] for key in expected}
    sample = sorted(state)[:4]
    raise CheckpointError(
        f"not a {variant} checkpoint: none of the prefixes {list(ENCODER_PREFIXES[variant])} holds the 25 "
        f"AudioNTT2020Task6 tensors (features_1..3, fc); its keys start {sample}"
    )


# Layers a DeLoRes model can embed with: 1..3 = the flattened output of conv block k (LAPE's
# `return_all_layers` x_k, the layers its downstream `finetune_layer` picks), 4 = the fc output (the embedding).
LAYERS = (1, 2, 3, 4)
FINAL_LAYER = 4


def layer_time_stride(layer: int) -> int:
    """Log-mel frames per frame of `layer` (each conv block halves time)."""
    return 2 ** min(layer, 3)


def layer_size(layer: int, n_mels: int = DELORES_ENCODER.n_mels, d: int = DELORES_ENCODER.d) -> int:
    """Feature width of `layer`: 64 channels x remaining mel bins for conv blocks, d for fc."""
    return d if layer == FINAL_LAYER else CONV_CHANNELS * (n_mels // 2**layer)


def layer_frames(encoder: AudioNTT2020, x: torch.Tensor, layer: int = FINAL_LAYER) -> torch.Tensor:
    """(B, 1, 64, T) standardised log-mel -> (B, T // layer_time_stride(layer), layer_size(layer)) frames."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS} (1-3: conv blocks, 4: fc), got {layer!r}")
    frames = flatten_frequency(encoder.features[: 4 * min(layer, 3)](x))  # channel fastest, as LAPE flattens
    return encoder.fc(frames) if layer == FINAL_LAYER else frames


def block_outputs(encoder: AudioNTT2020, x: torch.Tensor) -> list[torch.Tensor]:
    """The frames of every layer, as LAPE's `return_all_layers=True` returns them (one pass per layer).

    Parameters
    ----------
    x : (B, 1, 64, T) standardised log-mel.

    Returns
    -------
    [(B, T // 2, 2048), (B, T // 4, 1024), (B, T // 8, 512), (B, T // 8, 2048)]
    """
    return [layer_frames(encoder, x, layer) for layer in LAYERS]
