"""BEATs (Chen et al. 2022, microsoft/unilm `beats/`): the audio transformer over 16x16 fbank patches.

Our own implementation for inference. Its state dict has exactly the keys of the official `BEATs` module,
so the released `{'cfg', 'model'}` checkpoints (pre-trained iter1 .. iter3+, and fine-tuned ones with a
`predictor` and optionally a `label_dict`) load strictly, key for key.

Architecture (facts from `beats/BEATs.py` and `beats/backbone.py` @ 768a3c8):

- normalised Kaldi fbank (B, T, 128) -> Conv2d 16x16 stride 16 -> (B, T//16 * 8, 512) patches in time-major
  order (patch index = time step * 8 + frequency patch), LayerNorm, Linear to the encoder width;
- a grouped, weight-normalised convolutional positional embedding (kernel 128) added, then LayerNorm
  (post-norm encoders);
- post-norm transformer layers with DeepNorm residual scaling ((2 L)^(1/4)) and T5-style bucketed relative
  position bias. There is one bias table: layer 0 owns it and every other layer holds the same module, so
  the state dict lists it under every layer. Each layer scales the shared, un-gated bias by a GRU-style gate
  computed from its *projected* query (`backbone.py:652-658`);
- no final LayerNorm for post-norm encoders: the output is the last layer's output.

Dropout and layer drop are training-only and omitted. The attention is computed with
`scaled_dot_product_attention`, which equals the official max-subtracted softmax up to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..beats_config import BEATsConfig
from ..weights import CheckpointError

SHARED_TABLE_SUFFIX = "self_attn.relative_attention_bias.weight"


def _gelu_fp32(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x.float()).type_as(x)  # the official gelu runs in fp32 whatever the input dtype


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"gelu": _gelu_fp32, "gelu_accurate": _gelu_tanh, "gelu_fast": _gelu_tanh, "relu": F.relu,
               "tanh": torch.tanh, "linear": lambda x: x}  # fmt: skip


def relative_position_buckets(length: int, num_buckets: int, max_distance: int, device=None) -> torch.Tensor:
    """T5-style bidirectional buckets of (key - query) offsets, shape (length, length), int64.

    Half the buckets per direction; offsets below a quarter of `num_buckets` get their own bucket, larger ones
    share log-spaced buckets up to `max_distance`. Float ops in the official order, so the bucket boundaries
    are the same.
    """
    positions = torch.arange(length, dtype=torch.long, device=device)
    offsets = positions[None, :] - positions[:, None]
    half = num_buckets // 2
    exact = half // 2
    buckets = (offsets > 0).long() * half
    distance = offsets.abs()
    log_ratio = torch.log(distance.clamp_min(1).float() / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (half - exact)).long()).clamp_max(half - 1)
    return buckets + torch.where(distance < exact, distance, large)


class WeightNormConv1d(nn.Module):
    """Conv1d with `torch.nn.utils.weight_norm(dim=2)` parameters (`weight_g`, `weight_v`, `bias`).

    weight = weight_g * weight_v / ||weight_v||, the norm taken over output and input channels for each
    kernel position: the official positional convolution.
    """

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.padding, self.groups = kernel_size // 2, groups
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel_size))
        self.weight_v = nn.Parameter(torch.randn(channels, channels // groups, kernel_size) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.weight_v.norm(dim=(0, 1), keepdim=True)
        weight = self.weight_g * self.weight_v / norm
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class ConvPositionalEmbedding(nn.Sequential):
    """(B, C, T) -> (B, C, T): weight-normalised grouped conv, trimmed to T for even kernels, then GELU.

    An nn.Sequential so the parameters sit under `pos_conv.0.` as in the official checkpoints.
    """

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__(WeightNormConv1d(channels, kernel_size, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        return F.gelu(self[0](x)[..., :length])


class RelativePositionSelfAttention(nn.Module):
    """Multi-head self-attention with a gated, shared relative position bias. Batch-first (B, L, C)."""

    def __init__(self, config: BEATsConfig, owns_bias_table: bool):
        super().__init__()
        dim, heads = config.encoder_embed_dim, config.encoder_attention_heads
        self.num_heads, self.head_dim = heads, config.head_dim
        self.gru_rel_pos = config.gru_rel_pos
        if config.relative_position_embedding and owns_bias_table:
            self.relative_attention_bias = nn.Embedding(config.num_buckets, heads)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        if config.gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def forward(self, x: torch.Tensor, position_bias: torch.Tensor | None) -> torch.Tensor:
        """x (B, L, C), position_bias (H, L, L) un-gated or None -> (B, L, C)."""
        batch, length, dim = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, d)

        query = heads(self.q_proj(x))
        key, value = heads(self.k_proj(x)), heads(self.v_proj(x))
        bias = None
        if position_bias is not None:
            bias = position_bias.unsqueeze(0).to(query.dtype)
            if self.gru_rel_pos:
                # Two sigmoid gates per head and query position from the projected (unscaled) query.
                gates = torch.sigmoid(self.grep_linear(query).view(batch, self.num_heads, length, 2, 4).sum(-1))
                gate_a, gate_b = gates.chunk(2, dim=-1)
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias  # (B, H, L, 1) * (1, H, L, L)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=bias)
        return self.out_proj(attended.transpose(1, 2).reshape(batch, length, dim))


class EncoderLayer(nn.Module):
    """A transformer layer: post-norm with DeepNorm residual scaling, or pre-norm (`layer_norm_first`)."""

    def __init__(self, config: BEATsConfig, owns_bias_table: bool):
        super().__init__()
        dim = config.encoder_embed_dim
        self.layer_norm_first = config.layer_norm_first
        self.activation = ACTIVATIONS[config.activation_fn]
        self.self_attn = RelativePositionSelfAttention(config, owns_bias_table)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.encoder_ffn_embed_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_embed_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.residual_scale = math.pow(2 * config.encoder_layers, 1 / 4) if config.deep_norm else 1.0

    def forward(self, x: torch.Tensor, position_bias: torch.Tensor | None) -> torch.Tensor:
        if self.layer_norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x), position_bias)
            return x + self.fc2(self.activation(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x * self.residual_scale + self.self_attn(x, position_bias))
        return self.final_layer_norm(x * self.residual_scale + self.fc2(self.activation(self.fc1(x))))


class TransformerEncoder(nn.Module):
    """(B, L, C) patch features -> the output of every layer, each (B, L, C)."""

    def __init__(self, config: BEATsConfig):
        super().__init__()
        self.config = config
        self.pos_conv = ConvPositionalEmbedding(config.encoder_embed_dim, config.conv_pos, config.conv_pos_groups)
        self.layers = nn.ModuleList(EncoderLayer(config, owns_bias_table=i == 0) for i in range(config.encoder_layers))
        if config.relative_position_embedding:
            for layer in self.layers[1:]:  # one table, registered under every layer as in the official module
                layer.self_attn.relative_attention_bias = self.layers[0].self_attn.relative_attention_bias
        self.layer_norm = nn.LayerNorm(config.encoder_embed_dim)
        self._bucket_cache: dict[tuple[int, str], torch.Tensor] = {}

    def position_bias(self, length: int, device: torch.device) -> torch.Tensor | None:
        """The shared un-gated bias (H, L, L), or None without relative position embedding."""
        if not self.config.relative_position_embedding:
            return None
        cache_key = (length, str(device))
        buckets = self._bucket_cache.get(cache_key)
        if buckets is None:
            buckets = relative_position_buckets(length, self.config.num_buckets, self.config.max_distance, device)
            self._bucket_cache = {cache_key: buckets}  # keep one: HEAR calls repeat one length
        return self.layers[0].self_attn.relative_attention_bias(buckets).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, num_layers: int | None = None) -> list[torch.Tensor]:
        """x (B, L, C) -> outputs of layers 0 .. num_layers - 1 (all by default).

        A pre-norm encoder's final LayerNorm is applied to the last layer's output only when all layers run,
        as the official `TransformerEncoder.forward` does with `layer=None`.
        """
        num_layers = len(self.layers) if num_layers is None else num_layers
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        if not self.config.layer_norm_first:
            x = self.layer_norm(x)
        position_bias = self.position_bias(x.shape[1], x.device)
        outputs = []
        for layer in self.layers[:num_layers]:
            x = layer(x, position_bias)
            outputs.append(x)
        if self.config.layer_norm_first and num_layers == len(self.layers):
            outputs[-1] = self.layer_norm(outputs[-1])
        return outputs


class BEATs(nn.Module):
    """BEATs encoder (and, for fine-tuned checkpoints, its `predictor`) on normalised Kaldi fbank.

    `forward(fbank)`: (B, T, 128) with T >= patch size -> (B, P, C) last-layer patch features,
    P = (T // 16) * (128 // 16), time-major. `layer_outputs` gives every layer, `class_probabilities` the
    fine-tuned clip-level sigmoid outputs.
    """

    def __init__(self, config: BEATsConfig):
        super().__init__()
        config.validate()
        self.config = config
        patch = config.input_patch_size
        if config.embed_dim != config.encoder_embed_dim:
            self.post_extract_proj = nn.Linear(config.embed_dim, config.encoder_embed_dim)
        else:
            self.post_extract_proj = None
        self.patch_embedding = nn.Conv2d(1, config.embed_dim, patch, stride=patch, bias=config.conv_bias)
        self.encoder = TransformerEncoder(config)
        self.layer_norm = nn.LayerNorm(config.embed_dim)
        self.predictor = nn.Linear(config.encoder_embed_dim, config.predictor_class) if config.finetuned_model else None

    @property
    def patch_size(self) -> int:
        return self.config.input_patch_size

    @property
    def embedding_size(self) -> int:
        return self.config.encoder_embed_dim

    @property
    def num_layers(self) -> int:
        return self.config.encoder_layers

    def frequency_patches(self, num_mel_bins: int = 128) -> int:
        return num_mel_bins // self.patch_size

    def patch_features(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, T, M) normalised fbank -> (B, (T // p) * (M // p), C) encoder inputs, time-major."""
        if fbank.dim() != 3:
            raise ValueError(f"fbank must be (batch, frames, mel bins), got shape {tuple(fbank.shape)}")
        if fbank.shape[1] < self.patch_size:
            raise ValueError(f"fbank has {fbank.shape[1]} frames; BEATs needs at least {self.patch_size} (one patch)")
        patches = self.patch_embedding(fbank.unsqueeze(1))  # (B, E, T // p, M // p)
        patches = self.layer_norm(patches.flatten(2).transpose(1, 2))
        return patches if self.post_extract_proj is None else self.post_extract_proj(patches)

    def layer_outputs(self, fbank: torch.Tensor, num_layers: int | None = None) -> list[torch.Tensor]:
        """(B, T, M) -> [(B, P, C)] for encoder layers 0 .. num_layers - 1 (default all)."""
        return self.encoder(self.patch_features(fbank), num_layers)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.layer_outputs(fbank)[-1]

    def class_probabilities(self, fbank: torch.Tensor) -> torch.Tensor:
        """Fine-tuned models: (B, T, M) -> (B, classes), sigmoid of the patch-averaged predictor logits."""
        return torch.sigmoid(self.patch_logits(self(fbank)).mean(dim=1))

    def patch_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, P, C) last-layer features -> (B, P, classes) predictor logits (fine-tuned checkpoints only)."""
        if self.predictor is None:
            raise ValueError("this BEATs checkpoint is pre-trained (cfg finetuned_model False): it has no predictor")
        return self.predictor(features)


@dataclass(frozen=True)
class BEATsCheckpoint:
    """A loaded official checkpoint: the model (eval mode) and, for fine-tuned ones, the class names."""

    model: BEATs
    labels: dict[int, str] | None


def check_shared_bias_tables(state: dict[str, torch.Tensor], source: str) -> None:
    """Every layer's relative-position table key must hold the one shared table (aliases in official files)."""
    tables = {key: value for key, value in state.items() if key.endswith(SHARED_TABLE_SUFFIX)}
    first_key = "encoder.layers.0." + SHARED_TABLE_SUFFIX
    if first_key not in tables:
        return  # the strict load names the missing key
    for key, table in tables.items():
        if table.shape != tables[first_key].shape or not torch.equal(table, tables[first_key]):
            raise CheckpointError(
                f"{source}: {key} differs from {first_key}. BEATs shares one relative position table across "
                "layers (official checkpoints store the same tensor under every layer); this file was edited or "
                "is not a BEATs checkpoint"
            )


def load_beats_state(model: BEATs, state: dict, source: str) -> None:
    """Strict load that names missing, unexpected and mis-shaped keys."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: 'model' must be a state dict of tensors")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
             if k in state and state[k].shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or wrong:
        problems = [
            f"{label} ({len(keys)}): {', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''}"
            for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong))
            if keys
        ]
        hint = ""
        if any(k.startswith("predictor.") for k in missing + unexpected):
            hint = " The cfg's finetuned_model flag disagrees with the weights (predictor.*)."
        raise CheckpointError(
            f"{source} does not match its BEATs cfg: " + "; ".join(problems) + "." + hint + " Official BEATs "
            "checkpoints are {'cfg': ..., 'model': ...} files from the microsoft/unilm beats README."
        )
    check_shared_bias_tables(state, source)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def read_beats_checkpoint(path) -> dict:
    """torch.load an official BEATs file safely (weights_only), with clear errors for foreign files."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"BEATs checkpoint {path} does not exist") from None
    except Exception as err:
        raise CheckpointError(
            f"cannot read BEATs checkpoint {path} ({type(err).__name__}: {str(err)[:200]}). The file is truncated, "
            "corrupt, or not a PyTorch checkpoint; download it again"
        ) from err
    if not isinstance(payload, dict) or not {"cfg", "model"} <= set(payload):
        found = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not an official BEATs checkpoint: expected a dict with 'cfg' and 'model', found {found}"
        )
    return payload


def load_beats_checkpoint(path) -> BEATsCheckpoint:
    """Load an official `{'cfg', 'model'[, 'label_dict']}` BEATs checkpoint, strictly, in eval mode."""
    payload = read_beats_checkpoint(path)
    config = BEATsConfig.from_cfg(payload["cfg"])
    model = BEATs(config)
    load_beats_state(model, payload["model"], str(path))
    labels = payload.get("label_dict")
    if labels is not None:
        if not isinstance(labels, dict):
            raise CheckpointError(f"{path}: label_dict should be a dict, got {type(labels).__name__}")
        labels = {int(index): str(name) for index, name in labels.items()}
    return BEATsCheckpoint(model.eval(), labels)
