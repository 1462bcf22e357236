"""HEAR module: WavLM Base, Base+ and Large (official `{'cfg','model'}` files or the Hugging Face layout).

    model = hear_ssl.wavlm.load_model("WavLM-Base+.pt")               # the official checkpoint
    model = hear_ssl.wavlm.load_model("path/to/wavlm-large/")          # a Hugging Face snapshot folder
    model = hear_ssl.wavlm.load_model("hf://microsoft/wavlm-base-plus/pytorch_model.bin")
    frames, timestamps = hear_ssl.wavlm.get_timestamp_embeddings(audio, model)  # (n, T, D), 20-ms hop
    scene = hear_ssl.wavlm.get_scene_embeddings(audio, model)                   # (n, D), mean over frames

The architecture always comes from the checkpoint (`cfg`, or `config.json` beside a Hugging Face file).
Options (also heareval's `--model-options` JSON): `layer` (None = the default `extract_features` output,
an int 0..L, or "all"), `precision` ("fp32" or "bf16"), `chunk_seconds` / `context_seconds` (long-clip
windows); see `hear_ssl.embedders.wavlm`. There are no bundled weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import hear
from .embedders.wavlm import WavLMEmbedder
from .models.wavlm import load_checkpoint
from .weights import HUB_PREFIX, CheckpointError, download_from_hub, parse_hub_reference

OFFICIAL_README = "https://github.com/microsoft/unilm/tree/master/wavlm#pre-trained-models"


@dataclass(frozen=True)
class WavLMRelease:
    """A published WavLM checkpoint. No sizes or hashes are listed: neither source publishes them."""

    name: str
    official_file: str  # `{'cfg','model'}` file linked from the official README (Azure blob / Google Drive)
    hub_repo: str  # Hugging Face transformers layout (config.json + pytorch_model.bin); revision not pinned
    normalize: bool  # per-clip waveform layer norm (cfg.normalize)
    pretraining_data: str


RELEASES = {
    "wavlm-base": WavLMRelease("wavlm-base", "WavLM-Base.pt", "microsoft/wavlm-base", False, "LibriSpeech 960 h"),
    "wavlm-base-plus": WavLMRelease(
        "wavlm-base-plus", "WavLM-Base+.pt", "microsoft/wavlm-base-plus", False, "Libri-Light + GigaSpeech + VoxPopuli"
    ),
    "wavlm-large": WavLMRelease(
        "wavlm-large", "WavLM-Large.pt", "microsoft/wavlm-large", True, "Libri-Light + GigaSpeech + VoxPopuli"
    ),
}
MODEL_NAMES = tuple(RELEASES)
OPTIONS = ("layer", "precision", "chunk_seconds", "context_seconds")


def _where_to_get_weights() -> str:
    files = ", ".join(release.official_file for release in RELEASES.values())
    repos = ", ".join(release.hub_repo for release in RELEASES.values())
    return f"the official checkpoints ({files}; links in {OFFICIAL_README}) or a Hugging Face snapshot of {repos}"


def _resolve(reference: str) -> Path:
    """A local file or folder, or `hf://owner/repo/file[@revision]` (fetched with its config.json)."""
    if reference.startswith(HUB_PREFIX):
        repo_id, filename, revision = parse_hub_reference(reference)
        path = download_from_hub(reference)
        # The Hub layout needs config.json from the same repo and revision (preprocessor config if present).
        download_from_hub(f"{HUB_PREFIX}{repo_id}/config.json" + (f"@{revision}" if revision else ""))
        try:
            download_from_hub(f"{HUB_PREFIX}{repo_id}/preprocessor_config.json" + (f"@{revision}" if revision else ""))
        except (CheckpointError, OSError):  # optional: the normalisation flag then follows the conv stack
            pass
        return path
    path = Path(reference).expanduser()
    if not path.exists():
        raise CheckpointError(f"WavLM checkpoint not found: {path}. Get {_where_to_get_weights()}.")
    return path


def load_model(model_file_path: str | os.PathLike = "", model_name: str | None = None, **options) -> WavLMEmbedder:
    """Load a WavLM checkpoint as a HEAR model.

    Parameters
    ----------
    model_file_path : an official `{'cfg','model'}` file, a Hugging Face `microsoft/wavlm-*` folder (or its
        weight file with config.json beside it), or `hf://owner/repo/pytorch_model.bin[@revision]`.
    model_name : optional label, one of MODEL_NAMES; the architecture comes from the file either way.
    **options : `layer`, `precision`, `chunk_seconds`, `context_seconds` (see `WavLMEmbedder`).
    """
    if model_name is not None and model_name not in RELEASES:
        raise ValueError(f"model_name {model_name!r} is not a WavLM release; choose one of {list(MODEL_NAMES)}")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown WavLM option(s) {unknown}; the options are {list(OPTIONS)}")
    reference = os.fspath(model_file_path) if model_file_path else ""
    if not reference:
        raise CheckpointError(
            "hear_ssl.wavlm bundles no weights; pass model_file_path: " + _where_to_get_weights() + "."
        )
    encoder = load_checkpoint(_resolve(reference))
    return WavLMEmbedder(encoder, name=model_name or "wavlm", **options)


def get_scene_embeddings(audio, model: WavLMEmbedder):
    """(n_sounds, n_samples) at 16 kHz -> (n_sounds, model.scene_embedding_size) float32."""
    return hear.get_scene_embeddings(audio, model)


def get_timestamp_embeddings(audio, model: WavLMEmbedder):
    """(n_sounds, n_samples) -> embeddings (n_sounds, T, D) and frame-centre timestamps in ms (n_sounds, T)."""
    return hear.get_timestamp_embeddings(audio, model)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "MODEL_NAMES", "RELEASES"]
