"""What every objective is: an `nn.Module` owning its heads, its targets, its loss and its logged terms.

The training step (`hear_ssl.pretrain.state.train_step`) drives an objective through these calls:

    batch = objective.next_batch(crops, batch_size)  # the sampler's next crops (DECAR: uniform over clusters)
    inputs = objective.inputs(batch, augment)       # views (and targets) of a batch, no gradient
    loss, terms = model(inputs)                     # model = the objective, or its DDP wrapper
    objective.before_optimizer_step(step)           # e.g. DINO drops the frozen last layer's gradients
    terms |= objective.after_step(step)             # e.g. EMA update of the target, logged decay

`begin_step(state)` runs before a step's first micro-batch (DECAR re-clusters there) and `prepare(data)`
once when a run starts from scratch (the hybrid fits its feature standardiser). An EMA target, when an
objective has one, is kept out of the module's registered children: the checkpoint stores it under its own
key, and neither the optimiser nor DDP should see its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ...models import build_encoder
from ...ssl.augment import normalize_batch

if TYPE_CHECKING:
    from ...ssl.augment import BYOLAugment
    from ..config import PretrainConfig
    from ..state import TrainState


@dataclass(frozen=True)
class NoOptions:
    """An objective without settings of its own (the first four read theirs from `PretrainConfig`)."""


@dataclass
class ObjectiveData:
    """What an objective may read about the run's data when it is built or prepared.

    crops : the run's `LogMelCrops` (or any object with `segments`, `crop(i)` and `n_mels`).
    cache_dir : the log-mel cache folder (None in the speed benchmark).
    context : the `DistributedContext`.
    device : where training runs.
    norm_mean, norm_std : the corpus log-mel statistics the encoder's input is standardised with.
    """

    crops: Any
    cache_dir: Any = None
    context: Any = None
    device: str = "cpu"
    norm_mean: float = 0.0
    norm_std: float = 1.0


@dataclass
class ZooExport:
    """An encoder of the model zoo as `hear-ssl export` writes it.

    encoder : a fresh encoder the exported state dict must load into (strictly).
    model_config : stored under `hear_ssl_config` in the safetensors metadata, read by `module`'s `load_model`.
    module : the HEAR module that loads the file, e.g. "hear_ssl.atst".
    name : the default model name.
    description : one line for the model card.
    dtype : what the weights are stored as unless `hear-ssl export --dtype` says otherwise.
    corpus_norm : store the checkpoint's corpus log-mel statistics under `norm` in `model_config` (encoders
        whose input is standardised with them, as the log-mel encoders' is).
    """

    encoder: nn.Module
    model_config: dict
    module: str
    name: str
    description: str
    dtype: str = "float16"
    corpus_norm: bool = False


@dataclass
class Batch:
    """One micro-batch: raw log-mel crops (B, 1, F, T), the same standardised, and their segment ids (B,)."""

    raw: torch.Tensor
    x: torch.Tensor
    ids: torch.Tensor


class Objective(nn.Module):
    """Base class of the objectives; subclasses set `network` (an `EncoderProjector`) in `__init__`."""

    Options: ClassVar[type] = NoOptions
    # Names of the terms this objective logs beyond the columns every log.csv has (see checkpoint.LOG_FIELDS).
    log_terms: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: PretrainConfig, data: ObjectiveData | None = None):
        super().__init__()
        self.config = config
        self.options = config.objective_options
        self.set_target(None)

    # -- construction helpers -------------------------------------------------------------------------
    def new_encoder(self) -> nn.Module:
        return build_encoder(self.config.encoder)

    @classmethod
    def cache_frontend(cls, config: PretrainConfig):
        """The front-end the run's crop cache is built with, whatever `config.frontend` says for the objectives
        of zoo encoders with their own input (BEATs: the Kaldi fbank; tempo: the TCN's 44.1-kHz log mel)."""
        return config.frontend

    @classmethod
    def jitter_crops(cls, config: PretrainConfig) -> bool:
        """Whether crops start anywhere in their segment (False: fixed crops with precomputed targets)."""
        return True

    @classmethod
    def crop_frames(cls, config: PretrainConfig) -> int:
        """Frames per crop the sampler draws (ATST's objectives set their own, much longer crops)."""
        return config.crop_frames

    @classmethod
    def new_augment(cls, config: PretrainConfig, seed: int) -> BYOLAugment:
        """The run's augmenter, whose generator and mixup memory the checkpoint saves (BYOL-A's by default)."""
        from ...ssl.augment import BYOLAugment

        return BYOLAugment(
            memory_size=config.mixup_memory, mixup_ratio=config.mixup_ratio, fader_gain=config.fader_gain,
            freq_scale=config.crop_freq_scale, time_scale=config.crop_time_scale, seed=seed,
        )  # fmt: skip

    @classmethod
    def zoo_export(cls, config: PretrainConfig) -> ZooExport | None:
        """How `hear-ssl export` writes an encoder of the model zoo (None: the log-mel encoders of `config.encoder`)."""
        return None

    # -- the target network ---------------------------------------------------------------------------
    @property
    def target(self) -> nn.Module | None:
        """The EMA target (teacher) network, or None."""
        return self._target

    def set_target(self, target: nn.Module | None) -> None:
        # Bypasses nn.Module registration on purpose (see the module docstring).
        object.__setattr__(self, "_target", target)

    def _apply(self, fn, *args, **kwargs):
        # .to(device) / .float() move the unregistered target along with the module.
        super()._apply(fn, *args, **kwargs)
        if self.target is not None:
            self.target._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.target is not None:
            self.target.train(mode)  # BYOL's target uses batch statistics too
        return self

    @property
    def encoder(self) -> nn.Module:
        return self.network.encoder

    # -- the training step ----------------------------------------------------------------------------
    def prepare(self, data: ObjectiveData) -> None:
        """One-off setup of a run started from scratch (not called on resume: the checkpoint has it)."""

    def begin_step(self, state: TrainState) -> None:
        """Before the first micro-batch of each optimiser step."""

    def next_batch(self, crops, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next micro-batch: raw crops (B, 1, F, T) and segment ids (B,); the sampler's order by default."""
        return crops.next_batch(batch_size)

    def inputs(self, batch: Batch, augment: BYOLAugment) -> dict[str, torch.Tensor]:
        """The tensors `forward` needs for one micro-batch (views, targets); computed without gradient."""
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss, logged terms) of one micro-batch."""
        raise NotImplementedError

    def before_optimizer_step(self, step: int) -> None:
        """After backward, before the optimiser uses the gradients."""

    def after_step(self, step: int) -> dict[str, float]:
        """After the optimiser step `step` (0-based); returns terms to log."""
        return {}


class TwoViewObjective(Objective):
    """Objectives on two BYOL-A-augmented views of each crop: BYOL, Barlow Twins, VICReg and their kin.

    Subclasses set `network` (and optional heads) and implement `ssl_loss(outputs)`; `outputs` puts both
    views through the encoder in one pass, so batch norm sees them together and the encoder runs once.
    """

    def __init__(self, config: PretrainConfig, data: ObjectiveData | None = None):
        super().__init__(config, data)
        self.predictor: nn.Module | None = None

    def inputs(self, batch: Batch, augment: BYOLAugment) -> dict[str, torch.Tensor]:
        view1, view2 = augment(batch.x)
        return {"view1": normalize_batch(view1), "view2": normalize_batch(view2)}

    def outputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`embedding` (2B, D), `projection` (2B, P) and `prediction` (2B, P) when there is a predictor;
        views 1 then 2 stacked on dim 0; `target_projection` (2B, P) when there is an EMA target."""
        both = torch.cat([inputs["view1"], inputs["view2"]], dim=0)
        embedding, projection = self.network(both)
        out = {"embedding": embedding, "projection": projection}
        if self.predictor is not None:
            out["prediction"] = self.predictor(projection)
        if self.target is not None:
            with torch.no_grad():
                out["target_projection"] = self.target(both)[1]
        return out

    def ssl_loss(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self.ssl_loss(self.outputs(inputs))
        return loss, {"ssl_loss": loss.detach()}
