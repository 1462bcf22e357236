"""`PretrainConfig`: every setting of a pretraining run, saved in each checkpoint and model card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..config import EncoderConfig, FrontEndConfig

OBJECTIVES = ("byol", "barlow_twins", "vicreg", "hybrid")
HYBRID_BASES = ("byol", "barlow_twins", "vicreg")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class PretrainConfig:
    """A pretraining run. Defaults follow BYOL-A (Adam, lr 3e-4, EMA 0.99, batch 256, 0.95 s crops).

    Objective heads: BYOL uses a projector (D -> proj_hidden -> proj_dim, BN + ReLU) and a predictor of the
    same shape; Barlow Twins and VICReg use `expander_dims` (Linear + BN + ReLU between layers). The hybrid
    objective adds a head regressing handcrafted features (`features`) of the same segment to the
    `hybrid_base` SSL loss, weighted by `feature_weight`.
    """

    objective: str = "byol"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    # data
    data: str = ""
    cache_dir: str = ""
    out_dir: str = "runs/pretrain"
    crop_frames: int = 96
    max_segments_per_file: int | None = None
    # optimisation
    batch_size: int = 256
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 1.0  # 1.0 = constant lr after warm-up (BYOL-A); < 1 = cosine decay to lr * ratio
    grad_clip: float = 0.0
    # BYOL
    proj_hidden: int = 4096
    proj_dim: int = 256
    ema_decay: float = 0.99
    ema_schedule: str = "constant"  # or "cosine" (BYOL's rise of the decay to 1)
    # Barlow Twins / VICReg
    expander_dims: tuple = (4096, 4096, 4096)
    bt_lambda: float = 5.1e-3
    vicreg_weights: tuple = (25.0, 25.0, 1.0)
    # hybrid
    hybrid_base: str = "byol"
    features: str = "torch"  # "torch", "compare_2016" or "egemaps_v02" (openSMILE)
    feature_weight: float = 1.0
    feature_hidden: int = 1024
    feature_max_segments: int = 20000
    # augmentation (BYOL-A)
    mixup_ratio: float = 0.4
    mixup_memory: int = 2048
    fader_gain: float = 1.0
    # Random resize crop: box size / crop size ranges. (1.0, 1.0) on the frequency axis keeps pitch
    # (no stretching along mel bands), which BYOL-A's default (0.6, 1.5) teaches the encoder to ignore.
    crop_freq_scale: tuple = (0.6, 1.5)
    crop_time_scale: tuple = (0.6, 1.5)
    # run
    seed: int = 42
    dtype: str = "auto"  # auto = bfloat16 autocast on CUDA, float32 on CPU
    device: str = "auto"
    checkpoint_every: int = 200
    log_every: int = 10
    progress: bool = True

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
        if self.hybrid_base not in HYBRID_BASES:
            problems.append(f"hybrid_base must be one of {HYBRID_BASES}, got {self.hybrid_base!r}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.ema_schedule not in ("constant", "cosine"):
            problems.append(f"ema_schedule must be 'constant' or 'cosine', got {self.ema_schedule!r}")
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
    def uses_target_network(self) -> bool:
        return self.objective == "byol" or (self.objective == "hybrid" and self.hybrid_base == "byol")

    @property
    def base_objective(self) -> str:
        return self.hybrid_base if self.objective == "hybrid" else self.objective

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PretrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown PretrainConfig fields {sorted(unknown)}")
        return cls(**values)
