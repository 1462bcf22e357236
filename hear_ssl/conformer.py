"""HEAR module: Conformer wav2vec 2.0 encoders for general audio (Srivastava et al., ICASSP 2022).

    model = hear_ssl.conformer.load_model("hear-ssl-conformer-w2v2-4x192.safetensors")
    embeddings, timestamps = hear_ssl.conformer.get_timestamp_embeddings(audio, model)  # (n_sounds, n_samples), 16 kHz

The authors publish no weights, so none is bundled: pass a file you trained and exported,

    hear-ssl pretrain --objective conformer_w2v2 --data DIR --out-dir runs/conformer
    hear-ssl export runs/conformer/ckpt.pt --out conformer.safetensors

whose metadata carries the encoder's size, the log-mel front-end and the corpus statistics. Chunking,
pooling and timestamps: `hear_ssl.embedders.conformer`.

Options (keywords of `load_model`, i.e. heareval `--model-options`): `model_name` (one of MODEL_NAMES; checked
against the file), `layer` (one block, 0-based; default the last), `precision` ("fp32", "bf16"),
`chunk_seconds` (default 10).
"""

from __future__ import annotations

import os

from . import registry
from .config import FrontEndConfig, NormConfig
from .conformer_config import ConformerConfig
from .embedders.checkpoint import resolve_user_weights
from .embedders.conformer import ConformerEmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .weights import CheckpointError, load_state, read_checkpoint

FAMILY = "conformer"
MODEL_NAMES = tuple(registry.available_models(FAMILY))
DEFAULT_MODEL = "conformer-w2v2-base"  # names the family's main size only: nothing is bundled


def load_model(
    model_file_path: str | os.PathLike = "",
    model_name: str | None = None,
    *,
    layer: int | None = None,
    precision: str = "fp32",
    chunk_seconds: float = 10.0,
) -> ConformerEmbedder:
    """A Conformer HEAR model from a `hear-ssl export` file; see the module docstring for the options.

    Raises
    ------
    CheckpointError
        No file given (none is published or bundled), an unreadable file, a file that is not a hear-ssl
        Conformer export, or one whose encoder is not `model_name`.
    """
    if model_name is not None and registry.get_architecture(model_name).family != FAMILY:
        raise ValueError(f"model_name {model_name!r} is not served by hear_ssl.conformer; choose one of {MODEL_NAMES}")
    entry = registry.get_weights(model_name or DEFAULT_MODEL)
    path = resolve_user_weights(model_file_path, entry)
    state, config = read_checkpoint(path)
    if not isinstance(config, dict) or config.get("family") != FAMILY:
        raise CheckpointError(
            f"{path} is not a hear-ssl Conformer export (no 'family': 'conformer' in its hear_ssl_config metadata); "
            "write one with `hear-ssl export` from a `hear-ssl pretrain --objective conformer_w2v2` checkpoint"
        )
    try:
        encoder_config = ConformerConfig(**config["encoder"])
        frontend, norm = FrontEndConfig.from_dict(config["frontend"]), NormConfig.from_dict(config["norm"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its hear_ssl_config metadata is incomplete or invalid ({err})") from err
    if model_name is not None and registry.get_architecture(model_name).config != encoder_config:
        wanted = registry.get_architecture(model_name).config
        raise CheckpointError(
            f"{path} holds a {encoder_config.layers}x{encoder_config.dim} Conformer, not {model_name} "
            f"({wanted.layers}x{wanted.dim}); pick the matching model_name or leave it out"
        )
    known = [n for n in MODEL_NAMES if registry.get_architecture(n).config == encoder_config]
    name = model_name or (known[0] if known else config.get("name", "conformer-w2v2"))
    model = ConformerEmbedder(
        encoder_config, frontend, norm, name=name, layer=layer, precision=precision, chunk_seconds=chunk_seconds
    )
    load_state(model.encoder, state, path, name)
    return model.eval()


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
