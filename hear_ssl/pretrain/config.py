"""`PretrainConfig`: every setting of a pretraining run, saved in each checkpoint and model card.

Each field carries its command-line help (and choices) in its metadata: `hear-ssl pretrain` generates its
flags from these fields, so a new setting is declared once, here. Settings of the objectives added after the
first four live in their own file (`objectives/<name>.py`, an `Options` dataclass) and reach this config as
`options`, a plain dict checked against that dataclass.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

from ..config import EncoderConfig, FrontEndConfig
from .objectives import OBJECTIVES, objective_class

DTYPES = ("auto", "float32", "bfloat16", "float16")
EMA_SCHEDULES = ("constant", "cosine")


def setting(default=MISSING, help: str = "", choices=None, cli: bool = True, default_factory=MISSING):
    """A config field documented for `--help`; `cli=False` keeps it off the command line."""
    metadata = {"help": help, "choices": choices, "cli": cli}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class PretrainConfig:
    """A pretraining run. Defaults follow BYOL-A (Adam, lr 3e-4, EMA 0.99, batch 256, 0.95 s crops).

    Objective heads: BYOL uses a projector (D -> proj_hidden -> proj_dim, BN + ReLU) and a predictor of the
    same shape; Barlow Twins and VICReg use `expander_dims` (Linear + BN + ReLU between layers). The hybrid
    objective adds a head regressing handcrafted features (`features`) of the same segment to the
    `hybrid_base` SSL loss, weighted by `feature_weight`.
    """

    objective: str = setting("byol", "self-supervised objective", choices=OBJECTIVES)
    encoder: EncoderConfig = setting(default_factory=EncoderConfig, cli=False)
    frontend: FrontEndConfig = setting(default_factory=FrontEndConfig, cli=False)
    # data
    data: str = setting("", "audio folder (recursive) or a text file listing audio paths")
    cache_dir: str = setting("", "log-mel shard cache folder (default <out-dir>/logmel-cache)")
    out_dir: str = setting("runs/pretrain", "run folder: checkpoint, log.csv, exported weights")
    crop_frames: int = setting(96, "frames per training crop (96 = 0.95 s)")
    max_segments_per_file: int | None = setting(None, "cap on segments per file so long tracks cannot dominate")
    # optimisation
    batch_size: int = setting(256, "crops per process and micro-step")
    grad_accum: int = setting(1, "micro-steps per optimiser step")
    max_steps: int = setting(1000, "optimiser steps in total (raise it to continue a finished run)")
    lr: float = setting(3e-4, "peak learning rate (AdamW)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    warmup_steps: int = setting(0, "linear learning-rate warm-up steps")
    # 1.0 = constant lr after warm-up (BYOL-A); < 1 = cosine decay to lr * ratio
    min_lr_ratio: float = setting(1.0, "final lr / peak lr of a cosine decay (1 = constant)")
    grad_clip: float = setting(0.0, "clip the gradient norm to this (0 = off)")
    # BYOL
    proj_hidden: int = setting(4096, "BYOL projector / predictor hidden width")
    proj_dim: int = setting(256, "BYOL projection size")
    ema_decay: float = setting(0.99, "BYOL target EMA decay (base value for the cosine schedule)")
    ema_schedule: str = setting("constant", "EMA decay schedule (cosine = BYOL's rise to 1)", choices=EMA_SCHEDULES)
    # Barlow Twins / VICReg
    expander_dims: tuple[int, ...] = setting((4096, 4096, 4096), "Barlow Twins / VICReg / VIbCReg projector widths")
    bt_lambda: float = setting(5.1e-3, "Barlow Twins off-diagonal weight")
    vicreg_weights: tuple[float, ...] = setting((25.0, 25.0, 1.0), "VICReg invariance, variance, covariance weights")
    # hybrid
    hybrid_base: str = setting("byol", "SSL objective inside the hybrid objective (a two-view objective)")
    features: str = setting("torch", "hybrid regression targets: torch, compare_2016 or egemaps_v02 (openSMILE)")
    feature_weight: float = setting(1.0, "weight of the feature regression loss")
    feature_hidden: int = setting(1024, "hidden width of the feature regression head")
    feature_max_segments: int = setting(20000, "openSMILE features are computed for at most this many segments")
    # augmentation (BYOL-A)
    mixup_ratio: float = setting(0.4, "mixup weight upper bound (0 = no mixup)")
    mixup_memory: int = setting(2048, "past samples kept for mixup")
    fader_gain: float = setting(1.0, "random linear fader range (0 = off)")
    # Random resize crop: box size / crop size ranges. (1.0, 1.0) on the frequency axis keeps pitch
    # (no stretching along mel bands), which BYOL-A's default (0.6, 1.5) teaches the encoder to ignore.
    crop_freq_scale: tuple[float, ...] = setting((0.6, 1.5), "random resize crop: box height / crop height range")
    crop_time_scale: tuple[float, ...] = setting((0.6, 1.5), "random resize crop: box width / crop width range")
    # run
    seed: int = setting(42, "random seed")
    dtype: str = setting("auto", "auto = bf16 autocast on CUDA, fp32 on CPU", choices=DTYPES)
    device: str = setting("auto", "auto, cpu, cuda or cuda:N")
    checkpoint_every: int = setting(200, "steps between checkpoints")
    log_every: int = setting(10, "steps between log.csv rows")
    progress: bool = setting(True, cli=False)
    # settings of the chosen objective's `Options` dataclass (flags --<objective>-<setting>)
    options: dict = setting(default_factory=dict, cli=False)

    def __post_init__(self):
        for name in ("expander_dims", "vicreg_weights", "crop_freq_scale", "crop_time_scale"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.encoder, dict):
            object.__setattr__(self, "encoder", EncoderConfig.from_dict(self.encoder))
        if isinstance(self.frontend, dict):
            object.__setattr__(self, "frontend", FrontEndConfig.from_dict(self.frontend))
        problems = []
        if self.objective not in OBJECTIVES:
            problems.append(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        else:
            try:
                # Stored with every default filled in, so a later change of a default cannot alter a resumed run.
                resolved = asdict(objective_class(self.objective).Options(**self.options))
                object.__setattr__(self, "options", resolved)
            except (TypeError, ValueError) as err:
                problems.append(f"options of objective {self.objective!r}: {err}")
        if self.hybrid_base not in hybrid_bases():
            problems.append(f"hybrid_base must be one of {hybrid_bases()}, got {self.hybrid_base!r}")
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices and f.name != "objective":
                problems.append(f"{f.name} must be one of {choices}, got {getattr(self, f.name)!r}")
        if self.batch_size < 2:
            problems.append("batch_size must be at least 2 (the losses use batch statistics)")
        if self.max_steps < 1 or self.grad_accum < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            problems.append("max_steps, grad_accum, checkpoint_every and log_every must be positive")
        for name in ("crop_freq_scale", "crop_time_scale"):
            scale = getattr(self, name)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                problems.append(f"{name} must be two numbers 0 < low <= high, got {scale}")
        if self.encoder.n_mels != self.frontend.n_mels:
            problems.append(f"encoder n_mels {self.encoder.n_mels} != front-end n_mels {self.frontend.n_mels}")
        if problems:
            raise ValueError("invalid pretraining config: " + "; ".join(problems))

    @property
    def objective_options(self):
        """The chosen objective's own settings, as its typed `Options` dataclass."""
        return objective_class(self.objective).Options(**self.options)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PretrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown PretrainConfig fields {sorted(unknown)}")
        return cls(**values)


def hybrid_bases() -> tuple[str, ...]:
    """Objectives the hybrid objective can add its feature regression to: those on two augmented views whose
    settings are fields of this config (an objective's own `Options` would not reach it inside the hybrid)."""
    from .objectives.base import NoOptions, TwoViewObjective

    return tuple(
        name
        for name in OBJECTIVES
        if issubclass(objective_class(name), TwoViewObjective) and objective_class(name).Options is NoOptions
    )
