"""WavLM configuration: the official `WavLMConfig` fields as a frozen dataclass (torch-free: the registry
imports it), the safe `conv_feature_layers` parser, and conversion from/to a transformers `config.json`."""

from __future__ import annotations

import ast
import math
from dataclasses import asdict, dataclass, fields

DEFAULT_CONV_LAYERS = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"
EXTRACTOR_MODES = ("default", "layer_norm")
ACTIVATIONS = ("gelu", "gelu_accurate", "relu", "tanh", "linear")


# --------------------------------------------------------------------------------------------- config


def parse_conv_layers(spec: str) -> tuple[tuple[int, int, int], ...]:
    """Parse a `conv_feature_layers` string without `eval`.

    Accepts list literals of `(channels, kernel, stride)` int tuples joined by `+` and repeated by `* n`,
    e.g. ``"[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"``.

    Raises
    ------
    ValueError
        For any other expression, or tuples that are not three positive ints.
    """
    if not isinstance(spec, str):
        raise ValueError(f"conv_feature_layers must be a string like {DEFAULT_CONV_LAYERS!r}, got {spec!r}")
    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"conv_feature_layers {spec!r} is not a list expression: {err.msg}") from err

    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(node.op, ast.Mult) and isinstance(left, list) and type(right) is int:
                return left * right
            if isinstance(node.op, ast.Mult) and type(left) is int and isinstance(right, list):
                return left * right
        raise ValueError(
            f"conv_feature_layers {spec!r}: unsupported element {ast.unparse(node)!r}; only lists of "
            "(channels, kernel, stride) int tuples, '+' and '* n' are allowed"
        )

    layers = value(tree.body)
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"conv_feature_layers {spec!r} must be a non-empty list of (channels, kernel, stride)")
    for layer in layers:
        if not (isinstance(layer, tuple) and len(layer) == 3 and all(type(v) is int and v > 0 for v in layer)):
            raise ValueError(f"conv_feature_layers {spec!r}: {layer!r} is not (channels, kernel, stride) > 0")
    return tuple(layers)


@dataclass(frozen=True)
class WavLMConfig:
    """The official `WavLMConfig` fields (defaults as in `WavLM.py`); checkpoints' `cfg` dicts override them.

    Only the architecture fields change the inference forward; the dropout and masking ones are kept so a
    checkpoint's `cfg` round-trips.
    """

    extractor_mode: str = "default"
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_norm_first: bool = False
    conv_feature_layers: str = DEFAULT_CONV_LAYERS
    conv_bias: bool = False
    feature_grad_mult: float = 1.0
    normalize: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    encoder_layerdrop: float = 0.0
    dropout_input: float = 0.0
    dropout_features: float = 0.0
    mask_length: int = 10
    mask_prob: float = 0.65
    mask_selection: str = "static"
    mask_other: float = 0
    no_mask_overlap: bool = False
    mask_min_space: int = 1
    mask_channel_length: int = 10
    mask_channel_prob: float = 0.0
    mask_channel_selection: str = "static"
    mask_channel_other: float = 0
    no_mask_channel_overlap: bool = False
    mask_channel_min_space: int = 1
    conv_pos: int = 128
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False

    def __post_init__(self):
        if self.extractor_mode not in EXTRACTOR_MODES:
            raise ValueError(f"extractor_mode {self.extractor_mode!r} is not one of {EXTRACTOR_MODES}")
        if self.activation_fn not in ACTIVATIONS:
            raise ValueError(f"activation_fn {self.activation_fn!r} is not supported; use one of {ACTIVATIONS}")
        if self.encoder_embed_dim % self.encoder_attention_heads:
            raise ValueError(
                f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                f"encoder_attention_heads {self.encoder_attention_heads}"
            )
        if self.encoder_embed_dim % self.conv_pos_groups:
            raise ValueError(f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by conv_pos_groups")
        parse_conv_layers(self.conv_feature_layers)

    @classmethod
    def from_cfg(cls, cfg: dict) -> WavLMConfig:
        """From an official checkpoint's `cfg` dict. Keys this class does not know are ignored (the official
        class stores them but never reads them)."""
        if not isinstance(cfg, dict):
            raise ValueError(f"a WavLM checkpoint's 'cfg' must be a dict, got {type(cfg).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in cfg.items() if key in known})

    def to_cfg(self) -> dict:
        return asdict(self)

    @property
    def conv_layers(self) -> tuple[tuple[int, int, int], ...]:
        return parse_conv_layers(self.conv_feature_layers)

    @property
    def hop_samples(self) -> int:
        """Samples between consecutive output frames (320 for the released stack: 20 ms at 16 kHz)."""
        return math.prod(stride for _, _, stride in self.conv_layers)

    @property
    def receptive_field(self) -> int:
        """Samples one output frame sees (400 for the released stack: 25 ms)."""
        field = 1
        for _, kernel, stride in reversed(self.conv_layers):
            field = (field - 1) * stride + kernel
        return field

    @property
    def embedding_size(self) -> int:
        """Width of the default output (the `layer="all"` option gives (encoder_layers + 1) times this)."""
        return self.encoder_embed_dim

    def num_parameters(self) -> int:
        import torch

        from .models.wavlm import WavLM

        with torch.device("meta"):  # shapes only
            return sum(p.numel() for p in WavLM(self).parameters())

    def describe(self) -> str:
        norm = "pre-LN" if self.layer_norm_first else "post-LN"
        conv = "LayerNorm conv stack" if self.extractor_mode == "layer_norm" else "GroupNorm on conv 0"
        return (
            f"WavLM, {self.encoder_layers} layers, d={self.encoder_embed_dim}, {self.encoder_attention_heads} heads, "
            f"{norm}, {conv}, gated rel. pos. ({self.num_buckets} buckets, max {self.max_distance})"
        )

    def describe_timestamps(self) -> str:
        hop_ms = 1000.0 * self.hop_samples / 16000
        field_ms = 1000.0 * self.receptive_field / 16000
        return f"{field_ms:g} ms / {hop_ms:g} ms, native frames (default extract_features output)"

    def num_frames(self, num_samples: int) -> int:
        """Output frames for a clip of `num_samples` (0 when shorter than the receptive field)."""
        frames = num_samples
        for _, kernel, stride in self.conv_layers:
            frames = (frames - kernel) // stride + 1 if frames >= kernel else 0
        return frames


def config_from_hf(hf_config: dict, normalize: bool | None = None) -> WavLMConfig:
    """A transformers `WavLMConfig` (config.json dict) -> the official config fields that shape the model.

    `normalize` (the waveform layer norm) is not in config.json. By default it follows the conv stack, as in
    the official cfgs: the layer-norm stack (WavLM-Large) is the one trained on normalised input.
    """
    try:
        dims, kernels, strides = hf_config["conv_dim"], hf_config["conv_kernel"], hf_config["conv_stride"]
        if not len(dims) == len(kernels) == len(strides):
            raise ValueError("conv_dim, conv_kernel and conv_stride differ in length")
        norm = hf_config.get("feat_extract_norm", "group")
        if norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm {norm!r} is not 'group' or 'layer'")
        if not math.isclose(hf_config.get("layer_norm_eps", 1e-5), 1e-5):
            raise ValueError("layer_norm_eps other than 1e-5 is not supported (the official model uses 1e-5)")
        layers = " + ".join(f"[({d},{k},{s})]" for d, k, s in zip(dims, kernels, strides))
        return WavLMConfig(
            extractor_mode="default" if norm == "group" else "layer_norm",
            encoder_layers=hf_config["num_hidden_layers"],
            encoder_embed_dim=hf_config["hidden_size"],
            encoder_ffn_embed_dim=hf_config["intermediate_size"],
            encoder_attention_heads=hf_config["num_attention_heads"],
            activation_fn=hf_config.get("hidden_act", "gelu"),
            layer_norm_first=bool(hf_config.get("do_stable_layer_norm", False)),
            conv_feature_layers=layers,
            conv_bias=bool(hf_config.get("conv_bias", False)),
            conv_pos=hf_config["num_conv_pos_embeddings"],
            conv_pos_groups=hf_config["num_conv_pos_embedding_groups"],
            relative_position_embedding=True,  # every transformers WavLM has the bias on layer 0
            num_buckets=hf_config.get("num_buckets", 320),
            max_distance=hf_config.get("max_bucket_distance", 800),
            gru_rel_pos=True,  # transformers' WavLMAttention always gates
            normalize=(norm == "layer") if normalize is None else bool(normalize),
        )
    except KeyError as err:
        raise ValueError(f"Hugging Face WavLM config lacks {err.args[0]!r}") from err


def hf_config_from(config: WavLMConfig) -> dict:
    """The official config as a transformers `WavLMConfig` dict (the fields that shape the model)."""
    if not (config.relative_position_embedding and config.gru_rel_pos):
        raise ValueError("the transformers layout always has the gated relative-position bias")
    layers = config.conv_layers
    return {
        "model_type": "wavlm",
        "architectures": ["WavLMModel"],
        "conv_dim": [d for d, _, _ in layers],
        "conv_kernel": [k for _, k, _ in layers],
        "conv_stride": [s for _, _, s in layers],
        "conv_bias": config.conv_bias,
        "feat_extract_norm": "group" if config.extractor_mode == "default" else "layer",
        "do_stable_layer_norm": config.layer_norm_first,
        "hidden_size": config.encoder_embed_dim,
        "intermediate_size": config.encoder_ffn_embed_dim,
        "num_hidden_layers": config.encoder_layers,
        "num_attention_heads": config.encoder_attention_heads,
        "hidden_act": config.activation_fn,
        "num_conv_pos_embeddings": config.conv_pos,
        "num_conv_pos_embedding_groups": config.conv_pos_groups,
        "num_buckets": config.num_buckets,
        "max_bucket_distance": config.max_distance,
        "layer_norm_eps": 1e-5,
    }


@dataclass(frozen=True)
class WavLMProcessing:
    """The input a WavLM checkpoint expects: the raw 16 kHz waveform, layer-normalised per clip if `normalize`."""

    normalize: bool

    def describe(self) -> str:
        return "raw 16 kHz waveform" + ("; per-clip layer norm" if self.normalize else "")


# Shapes of the released checkpoints (their `cfg`, as the transformers config.json of microsoft/wavlm-* also
# states); the training-only fields keep the class defaults. Base and Base+ share the architecture.
WAVLM_BASE = WavLMConfig(relative_position_embedding=True, gru_rel_pos=True, max_distance=800)
WAVLM_LARGE = WavLMConfig(
    extractor_mode="layer_norm",
    encoder_layers=24,
    encoder_embed_dim=1024,
    encoder_ffn_embed_dim=4096,
    encoder_attention_heads=16,
    layer_norm_first=True,
    normalize=True,
    relative_position_embedding=True,
    gru_rel_pos=True,
    max_distance=800,
)
