"""HEAR module: BEATs (Chen et al. 2022), from Microsoft's official `{'cfg', 'model'}` checkpoints.

    model = hear_ssl.beats.load_model("BEATs_iter3_plus_AS2M.pt")
    embeddings, timestamps = hear_ssl.beats.get_timestamp_embeddings(audio, model)  # 160 ms steps
    scene = hear_ssl.beats.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

No weights are bundled: Microsoft publishes them as OneDrive downloads in the unilm `beats/README.md`; the
registry lists each one (`beats-iter3.official`, `beats-iter3.as2m-cpt1`, ...: `hear_ssl.available_weights()`).
Any official checkpoint works, pre-trained or fine-tuned; the architecture comes from the file's `cfg`.
Embedding choices are in `hear_ssl.embedders.beats`.
"""

from __future__ import annotations

import os

from . import registry
from .embedders.beats import BEATsEmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .models.beats import load_beats_checkpoint
from .weights import CheckpointError, resolve_weights, verify_sha256

MODEL_NAMES = tuple(registry.available_models("beats"))
DEFAULT_MODEL = "beats-iter3-plus-as2m"
OPTIONS = ("layer", "precision", "chunk_seconds", "batch_seconds")


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options) -> BEATsEmbedder:
    """Load an official BEATs checkpoint as a HEAR model.

    Parameters
    ----------
    model_file_path : str or Path
        A downloaded official checkpoint (`{'cfg', 'model'[, 'label_dict']}`). Required: nothing is bundled.
    model_name : str, optional
        One of MODEL_NAMES. Only checks that the file is that release's kind (pre-trained or fine-tuned); the
        architecture always comes from the file's `cfg`.
    **options
        `layer` (int index into the encoder layers, -1 = last = default, or "all" = every layer concatenated),
        `precision` ("fp32" or "bf16"), `chunk_seconds` (default 10, the trained context), `batch_seconds`.
    """
    if options.pop("serab_compat", False):  # `hear-ssl embed` passes the flag to every family
        raise ValueError("serab_compat applies to the per-input-normalised log-mel models, not to BEATs")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown hear_ssl.beats option(s) {unknown}; the options are {', '.join(OPTIONS)}")
    entry = registry.get_weights(model_name or DEFAULT_MODEL)
    if registry.get_architecture(entry.name).family != "beats":
        raise ValueError(f"{model_name!r} is not a BEATs model; this module serves {', '.join(MODEL_NAMES)}")
    resolved = resolve_weights(model_file_path, entry)  # nothing is bundled: "" says where to download
    if model_name is not None:
        verify_sha256(resolved.path, entry)  # a no-op today: Microsoft publishes no checksums
    loaded = load_beats_checkpoint(resolved.path)
    finetuned = loaded.model.config.finetuned_model
    if model_name is not None and finetuned != (entry.tag in registry.BEATS_FINETUNED_TAGS):
        kind = "fine-tuned" if finetuned else "pre-trained"
        raise CheckpointError(f"{resolved.path} is a {kind} BEATs checkpoint, which {entry.name} is not")
    name = entry.name if model_name is not None else resolved.path.stem
    return BEATsEmbedder(loaded.model, labels=loaded.labels, name=name, processing=entry.processing, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "DEFAULT_MODEL"]
