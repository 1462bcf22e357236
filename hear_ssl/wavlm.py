"""HEAR module: WavLM Base, Base+ and Large (official `{'cfg','model'}` files or the Hugging Face layout).

    model = hear_ssl.wavlm.load_model("WavLM-Base+.pt")               # the official checkpoint
    model = hear_ssl.wavlm.load_model("path/to/wavlm-large/")          # a Hugging Face snapshot folder
    model = hear_ssl.wavlm.load_model("hf://microsoft/wavlm-base-plus/pytorch_model.bin")
    frames, timestamps = hear_ssl.wavlm.get_timestamp_embeddings(audio, model)  # (n, T, D), 20-ms hop
    scene = hear_ssl.wavlm.get_scene_embeddings(audio, model)                   # (n, D), mean over frames

The architecture always comes from the checkpoint (`cfg`, or `config.json` beside a Hugging Face file).
Options (also heareval's `--model-options` JSON): `layer` (None = the default `extract_features` output,
an int 0..L, or "all"), `precision` ("fp32" or "bf16"), `chunk_seconds` / `context_seconds` (long-clip
windows), `batch_seconds` (audio per encoder pass); see `hear_ssl.embedders.wavlm`. No weights are bundled.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import hear, registry
from .embedders.wavlm import WavLMEmbedder
from .models.wavlm import load_checkpoint
from .weights import HUB_PREFIX, CheckpointError, hub_download, parse_hub_reference, resolve_weights, verify_sha256

MODEL_NAMES = tuple(registry.available_models("wavlm"))
DEFAULT_MODEL = "wavlm-base-plus"
OPTIONS = ("layer", "precision", "chunk_seconds", "context_seconds", "batch_seconds")
# The config fields that make two WavLMs the same network (the rest only act in training).
SHAPE_FIELDS = (
    "extractor_mode", "encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_attention_heads",
    "activation_fn", "layer_norm_first", "conv_bias", "conv_pos", "conv_pos_groups", "relative_position_embedding",
    "num_buckets", "max_distance", "gru_rel_pos",
)  # fmt: skip


def _where_to_get_weights() -> str:
    files = ", ".join(registry.get_weights(f"{name}.official").filename for name in MODEL_NAMES)
    repos = ", ".join(
        registry.get_weights(f"{name}.hf").url.removeprefix("https://huggingface.co/") for name in MODEL_NAMES
    )
    return f"the official checkpoints ({files}; links in {registry.WAVLM_README}) or a Hugging Face snapshot of {repos}"


def _same_network(a, b) -> bool:
    return a.conv_layers == b.conv_layers and all(getattr(a, f) == getattr(b, f) for f in SHAPE_FIELDS)


def release_names(config) -> list[str]:
    """The registered WavLM architectures whose network `config` is (Base and Base+ share one)."""
    return [name for name in MODEL_NAMES if _same_network(config, registry.get_architecture(name).config)]


def _local_checkpoint(reference: str, entry: registry.Weights | None) -> Path:
    """The user's file or folder; `hf://owner/repo/file[@revision]` is fetched with its config.json."""
    if not reference.startswith(HUB_PREFIX) and Path(reference).expanduser().is_dir():
        return Path(reference).expanduser()  # a Hugging Face snapshot folder
    try:  # an explicit reference never uses the entry's own source
        path = resolve_weights(reference, entry or registry.get_weights(DEFAULT_MODEL)).path
    except CheckpointError as err:
        raise CheckpointError(f"{err} Get {_where_to_get_weights()}.") from err
    if reference.startswith(HUB_PREFIX):
        repo_id, _, revision = parse_hub_reference(reference)
        hub_download(repo_id, "config.json", revision)  # lands beside the weights in the snapshot
    return path


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options) -> WavLMEmbedder:
    """Load a WavLM checkpoint as a HEAR model.

    Parameters
    ----------
    model_file_path : an official `{'cfg','model'}` file, a Hugging Face `microsoft/wavlm-*` folder (or its
        weight file with config.json beside it), or `hf://owner/repo/pytorch_model.bin[@revision]`.
    model_name : optional registry name (`wavlm-base`, `wavlm-base-plus`, `wavlm-large`, optionally with a
        `.official` / `.hf` tag). The network always comes from the file; a given name must match it.
    **options : `layer`, `precision`, `chunk_seconds`, `context_seconds`, `batch_seconds` (see `WavLMEmbedder`).

    Raises
    ------
    CheckpointError
        No file given (no weights are bundled; the message says where to get them), unreadable or foreign
        files, or a file whose network differs from `model_name`'s.
    """
    if model_name is not None and registry.get_architecture(model_name).family != "wavlm":
        raise ValueError(f"model_name {model_name!r} is not a WavLM model; choose one of {list(MODEL_NAMES)}")
    if options.pop("serab_compat", False):  # the CLI passes it for every model
        raise ValueError("serab_compat applies to per-input-normalised log-mel models, not WavLM")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown WavLM option(s) {unknown}; the options are {list(OPTIONS)}")
    reference = os.fspath(model_file_path) if model_file_path else ""
    if not reference:
        raise CheckpointError(
            "hear_ssl.wavlm bundles no weights; pass model_file_path: " + _where_to_get_weights() + "."
        )
    entry = registry.get_weights(model_name) if model_name is not None else None
    path = _local_checkpoint(reference, entry)
    if entry is not None and path.is_file():
        verify_sha256(path, entry)
    encoder = load_checkpoint(path)
    name = model_name
    if model_name is not None:
        expected = registry.get_architecture(model_name).config
        if not _same_network(encoder.config, expected):
            raise CheckpointError(
                f"{path} holds a different network than {model_name} ({encoder.config.describe()} vs "
                f"{expected.describe()}); pick the matching model_name or leave it out"
            )
    else:  # name the release the network matches, if any
        name = "/".join(release_names(encoder.config)) or "wavlm"
    return WavLMEmbedder(encoder, name=name, **options)


def get_scene_embeddings(audio, model: WavLMEmbedder):
    """(n_sounds, n_samples) at 16 kHz -> (n_sounds, model.scene_embedding_size) float32."""
    return hear.get_scene_embeddings(audio, model)


def get_timestamp_embeddings(audio, model: WavLMEmbedder):
    """(n_sounds, n_samples) -> embeddings (n_sounds, T, D) and frame-centre timestamps in ms (n_sounds, T)."""
    return hear.get_timestamp_embeddings(audio, model)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
