"""HEAR module: BEATs (Chen et al. 2022), from Microsoft's official `{'cfg', 'model'}` checkpoints.

    model = hear_ssl.beats.load_model("BEATs_iter3_plus_AS2M.pt")
    embeddings, timestamps = hear_ssl.beats.get_timestamp_embeddings(audio, model)  # 160 ms steps
    scene = hear_ssl.beats.get_scene_embeddings(audio, model)  # audio: (n_sounds, n_samples) at 16 kHz

No weights are bundled: Microsoft publishes them as OneDrive downloads in the unilm `beats/README.md`
(`CHECKPOINTS` lists each one). Any official checkpoint works, pre-trained or fine-tuned; the architecture comes
from the file's `cfg`. Embedding choices are in `hear_ssl.embedders.beats`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .embedders.beats import BEATsEmbedder
from .hear import get_scene_embeddings, get_timestamp_embeddings
from .models.beats import load_beats_checkpoint
from .weights import CheckpointError

DOWNLOAD_PAGE = "https://github.com/microsoft/unilm/tree/master/beats"
LICENSE = "MIT (microsoft/unilm LICENSE, code and released models)"


@dataclass(frozen=True)
class BEATsCheckpointInfo:
    """A released BEATs checkpoint. Microsoft publishes no size or checksum, so none is recorded."""

    name: str
    filename: str
    url: str
    description: str
    finetuned: bool


def _entry(name, filename, share, description, finetuned=False):
    return BEATsCheckpointInfo(name, filename, f"https://1drv.ms/u/s!AqeByhGUtINrg{share}", description, finetuned)


# The OneDrive links of `beats/README.md` (unilm @ 768a3c8); file names are those the downloads carry.
CHECKPOINTS: dict[str, BEATsCheckpointInfo] = {
    entry.name: entry
    for entry in [
        _entry("beats-iter1", "BEATs_iter1.pt", "cpmY7IHhgc9q0pT7Q?e=uQuisJ", "iteration 1 (random-projection tokenizer), AS2M pre-trained"),
        _entry("beats-iter2", "BEATs_iter2.pt", "cpwwEGgUyiI-jQyQw?e=1rP1RI", "iteration 2, AS2M pre-trained"),
        _entry("beats-iter3", "BEATs_iter3.pt", "cpxJUNDxg4eU0r-vA?e=qezPJ5", "iteration 3, AS2M pre-trained"),
        _entry("beats-iter3-plus-as20k", "BEATs_iter3_plus_AS20K.pt", "cpvdNz8-aYim60CIg?e=53V8pg", "iteration 3+, tokenizer from AS20K fine-tuning"),
        _entry("beats-iter3-plus-as2m", "BEATs_iter3_plus_AS2M.pt", "cpke6_lRSZEKD5j2Q?e=A3FpOf", "iteration 3+, tokenizer from AS2M fine-tuning"),
        _entry("beats-iter1-ft-as2m-cpt1", "BEATs_iter1_finetuned_on_AS2M_cpt1.pt", "cpuRfRZmco2XulmFw?e=f2INHa", "iteration 1, AudioSet fine-tuned (527 classes), checkpoint 1", True),
        _entry("beats-iter1-ft-as2m-cpt2", "BEATs_iter1_finetuned_on_AS2M_cpt2.pt", "cpyMlTmnRh0Wp_Qgg?e=sgzv8H", "iteration 1, AudioSet fine-tuned, checkpoint 2", True),
        _entry("beats-iter2-ft-as2m-cpt1", "BEATs_iter2_finetuned_on_AS2M_cpt1.pt", "cp4l547zKa7xPqy8w?e=rsLdPr", "iteration 2, AudioSet fine-tuned, checkpoint 1", True),
        _entry("beats-iter2-ft-as2m-cpt2", "BEATs_iter2_finetuned_on_AS2M_cpt2.pt", "cp5APbt_2bdIQvX0w?e=2cd2ry", "iteration 2, AudioSet fine-tuned, checkpoint 2", True),
        _entry("beats-iter3-ft-as2m-cpt1", "BEATs_iter3_finetuned_on_AS2M_cpt1.pt", "cplb48ll1zIt82eWQ?e=XyxrX7", "iteration 3, AudioSet fine-tuned, checkpoint 1", True),
        _entry("beats-iter3-ft-as2m-cpt2", "BEATs_iter3_finetuned_on_AS2M_cpt2.pt", "cptb4S-CeJnlJGtZA?e=2FyDy3", "iteration 3, AudioSet fine-tuned, checkpoint 2", True),
        _entry("beats-iter3-plus-as20k-ft-as2m-cpt1", "BEATs_iter3_plus_AS20K_finetuned_on_AS2M_cpt1.pt", "cp2YHUCT1uZx2Kysw?e=nvu1Dw", "iteration 3+ (AS20K), AudioSet fine-tuned, checkpoint 1", True),
        _entry("beats-iter3-plus-as20k-ft-as2m-cpt2", "BEATs_iter3_plus_AS20K_finetuned_on_AS2M_cpt2.pt", "cp092af0h7P3kXKFA?e=kUkPhN", "iteration 3+ (AS20K), AudioSet fine-tuned, checkpoint 2", True),
        _entry("beats-iter3-plus-as2m-ft-as2m-cpt1", "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt", "cpoZecQbiXeaUjN8A?e=DasbeC", "iteration 3+ (AS2M), AudioSet fine-tuned, checkpoint 1", True),
        _entry("beats-iter3-plus-as2m-ft-as2m-cpt2", "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt", "cpj8ujXH1YUtxooEg?e=E9Ncea", "iteration 3+ (AS2M), AudioSet fine-tuned, checkpoint 2", True),
    ]
}  # fmt: skip
MODEL_NAMES = tuple(CHECKPOINTS)


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
    if model_name is not None and model_name not in CHECKPOINTS:
        raise ValueError(f"unknown BEATs model_name {model_name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if not str(model_file_path):
        wanted = CHECKPOINTS[model_name or "beats-iter3-plus-as2m"]
        raise ValueError(
            "hear_ssl.beats bundles no weights: Microsoft publishes them as downloads. "
            f"Download an official checkpoint, e.g. {wanted.filename} from {wanted.url} (all are listed on "
            f"{DOWNLOAD_PAGE}), and pass its path: load_model('/path/to/{wanted.filename}')"
        )
    path = Path(model_file_path)
    if not path.is_file():
        raise CheckpointError(f"BEATs checkpoint {path} does not exist; download it from {DOWNLOAD_PAGE}")
    loaded = load_beats_checkpoint(path)
    if model_name is not None and CHECKPOINTS[model_name].finetuned != loaded.model.config.finetuned_model:
        kind = "fine-tuned" if loaded.model.config.finetuned_model else "pre-trained"
        raise CheckpointError(f"{path} is a {kind} BEATs checkpoint, which {model_name} is not")
    return BEATsEmbedder(loaded.model, labels=loaded.labels, name=model_name or path.stem, **options)


__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "CHECKPOINTS", "MODEL_NAMES"]
