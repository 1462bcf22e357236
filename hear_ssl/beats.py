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


ONEDRIVE = "https://1drv.ms/u/s!AqeByhGUtINrg"
# The links of `beats/README.md` (unilm @ 768a3c8), per pre-training iteration: the pre-trained model, then the
# two AudioSet (AS2M, 527 classes) fine-tuned checkpoints. File names are those the downloads carry.
_RELEASES = {
    "iter1": ("random-projection tokenizer", "cpmY7IHhgc9q0pT7Q?e=uQuisJ",
              "cpuRfRZmco2XulmFw?e=f2INHa", "cpyMlTmnRh0Wp_Qgg?e=sgzv8H"),
    "iter2": ("Tokenizer_iter2", "cpwwEGgUyiI-jQyQw?e=1rP1RI",
              "cp4l547zKa7xPqy8w?e=rsLdPr", "cp5APbt_2bdIQvX0w?e=2cd2ry"),
    "iter3": ("Tokenizer_iter3", "cpxJUNDxg4eU0r-vA?e=qezPJ5",
              "cplb48ll1zIt82eWQ?e=XyxrX7", "cptb4S-CeJnlJGtZA?e=2FyDy3"),
    "iter3_plus_AS20K": ("Tokenizer_iter3+ (AS20K)", "cpvdNz8-aYim60CIg?e=53V8pg",
                         "cp2YHUCT1uZx2Kysw?e=nvu1Dw", "cp092af0h7P3kXKFA?e=kUkPhN"),
    "iter3_plus_AS2M": ("Tokenizer_iter3+ (AS2M)", "cpke6_lRSZEKD5j2Q?e=A3FpOf",
                        "cpoZecQbiXeaUjN8A?e=DasbeC", "cpj8ujXH1YUtxooEg?e=E9Ncea"),
}  # fmt: skip


def _release_entries():
    for stem, (tokenizer, pretrained, *finetuned) in _RELEASES.items():
        name = "beats-" + stem.lower().replace("_", "-")
        about = f"BEATs {stem.replace('_plus_', '+ ')}, AudioSet-2M pre-trained with {tokenizer}"
        yield BEATsCheckpointInfo(name, f"BEATs_{stem}.pt", ONEDRIVE + pretrained, about, False)
        for number, share in enumerate(finetuned, start=1):
            yield BEATsCheckpointInfo(
                f"{name}-ft-as2m-cpt{number}",
                f"BEATs_{stem}_finetuned_on_AS2M_cpt{number}.pt",
                ONEDRIVE + share,
                f"{about}, fine-tuned on AudioSet-2M (527 classes), checkpoint {number}",
                True,
            )


CHECKPOINTS: dict[str, BEATsCheckpointInfo] = {entry.name: entry for entry in _release_entries()}
MODEL_NAMES = tuple(CHECKPOINTS)
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
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown hear_ssl.beats option(s) {unknown}; the options are {', '.join(OPTIONS)}")
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
