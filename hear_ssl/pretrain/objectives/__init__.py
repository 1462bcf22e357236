"""The pretraining objectives, one class per file; this table is the only list of them.

Adding an objective is one new file here (a subclass of `base.Objective`) and one line in `REGISTRY`.
Classes are imported on first use, so listing the names (for `--help` or config validation) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import PretrainConfig
    from .base import Objective, ObjectiveData

# name -> "module:Class" inside this package.
REGISTRY = {
    "byol": "byol:BYOL",
    "barlow_twins": "barlow_twins:BarlowTwins",
    "vicreg": "vicreg:VICReg",
    "hybrid": "hybrid:Hybrid",
    "atst_clip": "atst_clip:ATSTClip",
    "atst_frame": "atst_frame:ATSTFrame",
    "beats": "beats:BEATsMaskedLabels",
    "beats_tokenizer": "beats_tokenizer:BEATsTokenizerTraining",
    "dino": "dino:DINO",
    "vibcreg": "vibcreg:VIbCReg",
    "tempo": "tempo:Tempo",
    "decar": "decar:DECAR",
    "conformer_w2v2": "conformer_w2v2:ConformerW2V2",
}
OBJECTIVES = tuple(REGISTRY)


def objective_class(name: str) -> type[Objective]:
    if name not in REGISTRY:
        raise ValueError(f"unknown objective {name!r}; choose from {OBJECTIVES}")
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module_name}"), class_name)


def build_objective(config: PretrainConfig, data: ObjectiveData | None = None) -> Objective:
    """The objective `config.objective` with freshly initialised encoder and heads.

    `data` (the run's crops, cache folder, process group) is needed only by objectives that read the corpus
    when they are built (the hybrid with openSMILE features, DECAR's clustering).
    """
    return objective_class(config.objective)(config, data)
