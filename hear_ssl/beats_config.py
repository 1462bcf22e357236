"""BEATs configuration and input processing as plain dataclasses (no torch at import: the registry reads them).

`BEATsConfig` mirrors the official `BEATsConfig` (microsoft/unilm `beats/BEATs.py:26-68`), which released
checkpoints carry as their `cfg` dict. `BEATsFbank` is the input pipeline every released model expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

# Activations the official `get_activation_fn` offers that we implement ("glu" needs a different fc1 layout).
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "relu", "tanh", "linear")


def _checkpoint_error(message: str) -> Exception:
    from .weights import CheckpointError  # imported late: hear_ssl.weights imports torch and the registry

    return CheckpointError(message)


@dataclass(frozen=True)
class BEATsConfig:
    """The official `BEATsConfig` fields, with the official defaults.

    Training-only fields (dropouts, layer drop, gradient decay) are kept so a checkpoint's `cfg` round-trips.
    `ignored_keys` lists `cfg` keys the official class does not define: the official code stores them as
    attributes and never reads them, so they cannot change the model; we record them instead of guessing.
    """

    input_patch_size: int = -1
    embed_dim: int = 512
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_wise_gradient_decay_ratio: float = 1.0
    layer_norm_first: bool = False
    deep_norm: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    encoder_layerdrop: float = 0.0
    dropout_input: float = 0.0
    conv_pos: int = 128
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False
    finetuned_model: bool = False
    predictor_dropout: float = 0.1
    predictor_class: int = 527
    ignored_keys: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_cfg(cls, cfg: dict) -> BEATsConfig:
        """Build from a checkpoint's `cfg` dict; raises CheckpointError for values BEATs cannot run."""
        if not isinstance(cfg, dict):
            raise _checkpoint_error(f"BEATs cfg must be a dict, got {type(cfg).__name__}")
        known = {f.name: f for f in fields(cls) if f.name != "ignored_keys"}
        values = {}
        for key, value in cfg.items():
            if key not in known:
                continue
            expected = type(known[key].default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not expected:
                raise _checkpoint_error(f"BEATs cfg[{key!r}] = {value!r} should be a {expected.__name__}")
            values[key] = value
        config = cls(**values, ignored_keys=tuple(sorted(set(cfg) - set(known))))
        config.validate()
        return config

    def to_cfg(self) -> dict:
        """The `cfg` dict an official checkpoint carries (the official `BEATsConfig.__dict__`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "ignored_keys"}

    def validate(self) -> None:
        if self.input_patch_size <= 0:
            raise _checkpoint_error(
                f"cfg input_patch_size is {self.input_patch_size}: not a BEATs checkpoint cfg (released BEATs use 16)"
            )
        if self.deep_norm and self.layer_norm_first:
            raise _checkpoint_error("cfg sets both deep_norm and layer_norm_first; BEATs allows at most one")
        if self.encoder_embed_dim % self.encoder_attention_heads:
            raise _checkpoint_error(
                f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                f"{self.encoder_attention_heads} attention heads"
            )
        if self.activation_fn not in SUPPORTED_ACTIVATIONS:
            raise _checkpoint_error(
                f"activation_fn {self.activation_fn!r} is not supported; expected one of {SUPPORTED_ACTIVATIONS}"
            )

    @property
    def head_dim(self) -> int:
        return self.encoder_embed_dim // self.encoder_attention_heads

    # Registry protocol: sizes and one-cell descriptions for listings and the docs table.

    @property
    def embedding_size(self) -> int:
        """Width of the default embeddings (the last layer; `layer="all"` gives `encoder_layers` times this)."""
        return self.encoder_embed_dim

    def num_parameters(self) -> int:
        import torch

        from .models.beats import BEATs

        with torch.device("meta"):  # shapes only; the shared position table counts once
            return sum(p.numel() for p in BEATs(self).parameters())

    def describe(self) -> str:
        norm = "DeepNorm post-LN" if self.deep_norm else ("pre-LN" if self.layer_norm_first else "post-LN")
        return (
            f"BEATs ViT, {self.input_patch_size}x{self.input_patch_size} fbank patches, {self.encoder_layers} layers, "
            f"d={self.encoder_embed_dim}, {self.encoder_attention_heads} heads, {norm}"
        )

    def describe_timestamps(self) -> str:
        step_ms = self.input_patch_size * 10
        return f"{step_ms} ms steps ({self.input_patch_size} fbank frames), mean of the frequency patches"


# The released models' shape (all iterations, pre-trained and fine-tuned): BEATs "base", 90 M parameters.
BEATS_BASE = BEATsConfig(
    input_patch_size=16, deep_norm=True, relative_position_embedding=True, gru_rel_pos=True, max_distance=800
)


@dataclass(frozen=True)
class BEATsFbank:
    """BEATs' input: 16-kHz audio x 2^15, Kaldi log fbank (25/10 ms, 128 bins), then (x - mean) / (2 std).

    The statistics are BEATs' dataset ones (`BEATs.preprocess` defaults); the Kaldi settings themselves are
    fixed in `hear_ssl.frontends.kaldi_fbank`.
    """

    mean: float = 15.41663
    std: float = 6.55582

    def describe(self) -> str:
        return f"Kaldi fbank 128 bins, 25/10 ms, wave x 2^15; (x - {self.mean}) / (2 x {self.std})"


BEATS_FBANK = BEATsFbank()
