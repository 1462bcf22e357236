"""WavLM (Chen et al. 2022) in pure torch, for inference; its state dict is the official one key for key.

The official checkpoints (microsoft/unilm `wavlm/`, MIT) are `{'cfg': dict, 'model': state_dict}` with no key
prefix; `WavLMConfig.from_cfg(ckpt['cfg'])` and `WavLM(config).load_state_dict(ckpt['model'])` load them. The
Hugging Face transformers layout of `microsoft/wavlm-*` converts with `hf_to_official_state_dict` /
`config_from_hf` (and back), without importing transformers.

Architecture, as the official code computes it:

- conv feature extractor, `conv_feature_layers` = [(channels, kernel, stride), ...]: conv → [norm] → GELU; the
  norm is a GroupNorm with one group per channel on conv 0 only (`extractor_mode="default"`, Base/Base+: it
  normalises every channel over the clip's whole time axis) or a channel LayerNorm after every conv
  (`"layer_norm"`, Large);
- LayerNorm over the conv channels, then `post_extract_proj` to the encoder width (absent when equal);
- encoder: x + GELU(weight-normed grouped conv, "same" padding) → [LayerNorm if post-LN] → layers →
  [final LayerNorm if pre-LN (`layer_norm_first`) and the whole stack ran];
- self-attention with a T5-style bucketed relative-position bias held by layer 0 only and reused, un-gated,
  by every layer; with `gru_rel_pos` each layer gates it per head and query frame from its attention input
  (post-LN: the raw layer input; pre-LN: after `self_attn_layer_norm`) split into heads, before the q/k/v
  projections (official `modules.py` fast path).

Dropout, layerdrop, span masking and `feature_grad_mult` only act in training and are left out; `mask_emb`
stays a parameter so the official state dict loads strictly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..wavlm_config import WavLMConfig, config_from_hf

GroupNormStats = tuple[torch.Tensor, torch.Tensor]  # per-clip, per-channel (mean, variance), each (B, C)

# --------------------------------------------------------------------------------------------- layers


def _activation(name: str):
    if name == "gelu":
        return lambda x: F.gelu(x.float()).type_as(x)  # official `gelu` runs in fp32
    if name == "gelu_accurate":
        return lambda x: F.gelu(x, approximate="tanh")
    return {"relu": F.relu, "tanh": torch.tanh, "linear": lambda x: x}[name]


class Fp32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 (as the official conv stack does), returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).type_as(x)


class Fp32GroupNorm(nn.GroupNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type_as(x)


class TransposeLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(-2, -1)


def conv_block(n_in: int, n_out: int, kernel: int, stride: int, norm: str | None, bias: bool) -> nn.Sequential:
    """conv → (identity: the official dropout slot, keeps the indices) → [norm] → GELU.

    Keys: `0.weight`, and `2.weight`/`2.bias` (GroupNorm) or `2.1.weight`/`2.1.bias` (channel LayerNorm).
    """
    conv = nn.Conv1d(n_in, n_out, kernel, stride=stride, bias=bias)
    if norm == "group":
        return nn.Sequential(conv, nn.Identity(), Fp32GroupNorm(n_out, n_out, affine=True), nn.GELU())
    if norm == "layer":
        channel_norm = nn.Sequential(TransposeLast(), Fp32LayerNorm(n_out), TransposeLast())
        return nn.Sequential(conv, nn.Identity(), channel_norm, nn.GELU())
    return nn.Sequential(conv, nn.Identity(), nn.GELU())


class ConvFeatureExtractor(nn.Module):
    """(B, N) waveform -> (B, C, T) conv features."""

    def __init__(self, config: WavLMConfig):
        super().__init__()
        blocks, n_in = [], 1
        for index, (channels, kernel, stride) in enumerate(config.conv_layers):
            if config.extractor_mode == "layer_norm":
                norm = "layer"
            else:
                norm = "group" if index == 0 else None
            blocks.append(conv_block(n_in, channels, kernel, stride, norm, config.conv_bias))
            n_in = channels
        self.conv_layers = nn.ModuleList(blocks)
        self.group_norm_first = config.extractor_mode == "default"

    def forward(self, waveform: torch.Tensor, group_norm_stats: GroupNormStats | None = None) -> torch.Tensor:
        """`group_norm_stats` replaces conv 0's GroupNorm statistics (over this input's time axis) by given
        ones, e.g. those of a whole clip that is encoded window by window."""
        x = waveform.unsqueeze(1)
        for index, block in enumerate(self.conv_layers):
            if index == 0 and group_norm_stats is not None:
                if not self.group_norm_first:
                    raise ValueError("group_norm_stats apply only to the 'default' extractor (GroupNorm on conv 0)")
                conv, _, norm, activation = block
                mean, var = group_norm_stats
                y = conv(x).float()
                y = (y - mean.float()[..., None]) * torch.rsqrt(var.float()[..., None] + norm.eps)
                x = activation((y * norm.weight.float()[:, None] + norm.bias.float()[:, None]).type_as(x))
            else:
                x = block(x)
        return x

    @torch.no_grad()
    def group_norm_statistics(self, waveform: torch.Tensor, segment_samples: int = 1 << 20) -> GroupNormStats:
        """(B, N) -> per-clip, per-channel mean and variance (B, C) of conv 0's output over the whole clip,
        what its GroupNorm (one group per channel) would use, accumulated segment by segment (bounded memory).
        """
        conv = self.conv_layers[0][0]
        kernel, stride = conv.kernel_size[0], conv.stride[0]
        segment_samples -= segment_samples % stride
        total = total_sq = None
        count = 0
        # Segments overlap by kernel - stride samples, so every conv-0 frame is computed exactly once.
        for begin in range(0, max(1, waveform.shape[1] - kernel + 1), segment_samples):
            piece = waveform[:, begin : begin + segment_samples + kernel - stride]
            if piece.shape[1] < kernel:
                break
            y = conv(piece.unsqueeze(1)).double()
            total = y.sum(-1) if total is None else total + y.sum(-1)
            total_sq = (y * y).sum(-1) if total_sq is None else total_sq + (y * y).sum(-1)
            count += y.shape[-1]
        mean = total / count
        return mean.float(), (total_sq / count - mean * mean).clamp(min=0).float()


class WeightNormConv1d(nn.Module):
    """Grouped conv whose weight is `weight_g * weight_v / ||weight_v||`, the norm taken over every dim but the
    kernel axis (torch `weight_norm(dim=2)`): the official parametrisation, under its key names."""

    def __init__(self, channels: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.bias = nn.Parameter(torch.zeros(channels))  # registered first, as the official state dict lists it
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(channels, channels // groups, kernel) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.weight_v
        weight = v * (self.weight_g / v.norm(dim=(0, 1), keepdim=True))
        out = F.conv1d(x, weight.to(x.dtype), self.bias.to(x.dtype), padding=self.kernel // 2, groups=self.groups)
        # "Same" length: an even kernel with padding k//2 yields one frame too many, drop the last one.
        return out[..., :-1] if self.kernel % 2 == 0 else out


def relative_position_buckets(length: int, num_buckets: int, max_distance: int, device=None) -> torch.Tensor:
    """(T, T) bucket of key position j relative to query position i (bidirectional T5 scheme).

    Half the buckets are for j > i. Within a half, distances below a quarter of `num_buckets` get a bucket
    each; larger ones are spaced logarithmically up to `max_distance`, beyond which they share the last one.
    """
    positions = torch.arange(length, dtype=torch.long, device=device)
    relative = positions[None, :] - positions[:, None]
    half = num_buckets // 2
    buckets = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    # clamp(min=1) only avoids log(0) on entries that take the exact branch anyway.
    log_ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, large)


class RelativePositionAttention(nn.Module):
    """Multi-head self-attention with WavLM's (optionally gated) relative-position bias. Input (B, T, D)."""

    def __init__(self, config: WavLMConfig, has_relative_attention_bias: bool):
        super().__init__()
        dim, heads = config.encoder_embed_dim, config.encoder_attention_heads
        self.num_heads, self.head_dim = heads, dim // heads
        self.num_buckets, self.max_distance = config.num_buckets, config.max_distance
        self.gru_rel_pos = config.gru_rel_pos
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.num_buckets, heads)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        if config.gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def compute_bias(self, length: int) -> torch.Tensor:
        """(H, T, T) un-gated relative-position bias."""
        weight = self.relative_attention_bias.weight
        buckets = relative_position_buckets(length, self.num_buckets, self.max_distance, device=weight.device)
        return F.embedding(buckets, weight).permute(2, 0, 1)

    def forward(
        self,
        x: torch.Tensor,
        position_bias: torch.Tensor | None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, D), position_bias (H, T, T) or None -> (B, T, D) and the un-gated bias for the next layer."""
        batch, length, dim = x.shape
        if position_bias is None and hasattr(self, "relative_attention_bias"):
            position_bias = self.compute_bias(length)
        heads = x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)
        mask = None
        if position_bias is not None:
            mask = position_bias.unsqueeze(0).to(x.dtype)  # (1, H, T, T)
            if self.gru_rel_pos:
                gate_a, gate_b = torch.sigmoid(
                    self.grep_linear(heads).view(batch, self.num_heads, length, 2, 4).sum(-1)
                ).chunk(2, dim=-1)
                gate = gate_a * (gate_b * self.grep_a - 1.0) + 2.0  # (B, H, T, 1), in (1, 2 + grep_a)
                mask = gate * mask
        if key_padding_mask is not None:
            padded = torch.zeros(batch, 1, 1, length, dtype=x.dtype, device=x.device)
            padded = padded.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
            mask = padded if mask is None else mask + padded

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        if mask is not None:
            mask = mask.to(q.dtype)  # under autocast q is bf16 while x (after a LayerNorm) may be fp32
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # softmax(q k^T / sqrt(d) + mask) v
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, dim)), position_bias


class EncoderLayer(nn.Module):
    def __init__(self, config: WavLMConfig, has_relative_attention_bias: bool):
        super().__init__()
        dim = config.encoder_embed_dim
        self.layer_norm_first = config.layer_norm_first
        self.activation = _activation(config.activation_fn)
        self.self_attn = RelativePositionAttention(config, has_relative_attention_bias)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.encoder_ffn_embed_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_embed_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x, position_bias, key_padding_mask=None):
        if self.layer_norm_first:
            attended, position_bias = self.self_attn(self.self_attn_layer_norm(x), position_bias, key_padding_mask)
            x = x + attended
            return x + self.fc2(self.activation(self.fc1(self.final_layer_norm(x)))), position_bias
        attended, position_bias = self.self_attn(x, position_bias, key_padding_mask)
        x = self.self_attn_layer_norm(x + attended)
        return self.final_layer_norm(x + self.fc2(self.activation(self.fc1(x)))), position_bias


class TransformerEncoder(nn.Module):
    def __init__(self, config: WavLMConfig):
        super().__init__()
        dim = config.encoder_embed_dim
        self.layer_norm_first = config.layer_norm_first
        # A one-element Sequential keeps the official key names `pos_conv.0.{weight_g,weight_v,bias}`.
        self.pos_conv = nn.Sequential(WeightNormConv1d(dim, config.conv_pos, config.conv_pos_groups))
        self.layers = nn.ModuleList(
            EncoderLayer(config, has_relative_attention_bias=config.relative_position_embedding and index == 0)
            for index in range(config.encoder_layers)
        )
        self.layer_norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None = None, num_layers: int | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T, D) -> (output (B, T, D), layer results: [encoder input, layer 1, ..., layer num_layers]).

        With `num_layers=None` every layer runs and a pre-LN model applies its final LayerNorm to the output
        (not to the layer results); with `num_layers=L` the output is layer L's, with no final LayerNorm.
        """
        if padding_mask is not None:
            x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        x = x + F.gelu(self.pos_conv(x.transpose(1, 2))).transpose(1, 2)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        results = [x]
        position_bias = None
        for layer in self.layers[: len(self.layers) if num_layers is None else num_layers]:
            x, position_bias = layer(x, position_bias, padding_mask)
            results.append(x)
        if self.layer_norm_first and num_layers is None:
            x = self.layer_norm(x)
        return x, results


class WavLM(nn.Module):
    """WavLM encoder. Load an official checkpoint with `load_official_checkpoint` or `load_state_dict`."""

    def __init__(self, config: WavLMConfig):
        super().__init__()
        self.config = config
        conv_dim = config.conv_layers[-1][0]
        self.mask_emb = nn.Parameter(torch.zeros(config.encoder_embed_dim))  # training-only, kept for the keys
        self.feature_extractor = ConvFeatureExtractor(config)
        self.post_extract_proj = (
            nn.Linear(conv_dim, config.encoder_embed_dim) if conv_dim != config.encoder_embed_dim else None
        )
        self.encoder = TransformerEncoder(config)
        self.layer_norm = nn.LayerNorm(conv_dim)

    @property
    def num_layers(self) -> int:
        return self.config.encoder_layers

    def frame_padding_mask(self, padding_mask: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Sample mask (B, N) -> frame mask (B, T), the official way: drop N mod T samples, split the rest
        into T equal groups, a frame is padding when its whole group is (not the true 320-sample hop)."""
        extra = padding_mask.shape[1] % num_frames
        if extra:
            padding_mask = padding_mask[:, :-extra]
        return padding_mask.view(padding_mask.shape[0], num_frames, -1).all(-1)

    def extract_features(
        self,
        source: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        output_layer: int | None = None,
        group_norm_stats: GroupNormStats | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
        """The official `extract_features` (no masking).

        Parameters
        ----------
        source : (B, N) float waveform at 16 kHz (already layer-normalised when `config.normalize`).
        padding_mask : (B, N) bool, True at padding samples, optional.
        output_layer : run layers 1..output_layer only and return layer `output_layer` (no final LayerNorm);
            None runs every layer and applies a pre-LN model's final LayerNorm.
        group_norm_stats : (mean, var), each (B, C), to use in conv 0's GroupNorm instead of this input's own
            (default extractor only; `feature_extractor.group_norm_statistics` computes a whole clip's).

        Returns
        -------
        x : (B, T, D)
        layer_results : list of (B, T, D): the encoder input after the positional conv (and LayerNorm for
            post-LN models), then each layer's output.
        padding_mask : (B, T) bool or None
        """
        if source.dim() != 2:
            raise ValueError(f"source must be (batch, samples), got shape {tuple(source.shape)}")
        if source.shape[1] < self.config.receptive_field:
            raise ValueError(
                f"source has {source.shape[1]} samples, fewer than one frame ({self.config.receptive_field}); "
                "pad it (the HEAR embedder does)"
            )
        if output_layer is not None and not 0 <= output_layer <= self.num_layers:
            raise ValueError(f"output_layer must be in 0..{self.num_layers}, got {output_layer}")
        features = self.layer_norm(self.feature_extractor(source, group_norm_stats).transpose(1, 2))
        if padding_mask is not None:
            padding_mask = self.frame_padding_mask(padding_mask, features.shape[1])
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        x, layer_results = self.encoder(features, padding_mask, output_layer)
        return x, layer_results, padding_mask

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, T, D): the default `extract_features` output."""
        return self.extract_features(source)[0]


# --------------------------------------------------------------------------------------------- loading


# Official key -> Hugging Face transformers key (WavLMModel, as the transformers conversion maps them).
# Per-layer names map within `encoder.layers.{i}.`; the conv stack is handled separately.
_HF_TOP_LEVEL = {
    "mask_emb": "masked_spec_embed",
    "layer_norm.weight": "feature_projection.layer_norm.weight",
    "layer_norm.bias": "feature_projection.layer_norm.bias",
    "post_extract_proj.weight": "feature_projection.projection.weight",
    "post_extract_proj.bias": "feature_projection.projection.bias",
    "encoder.pos_conv.0.weight_g": "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv.0.weight_v": "encoder.pos_conv_embed.conv.weight_v",
    "encoder.pos_conv.0.bias": "encoder.pos_conv_embed.conv.bias",
    "encoder.layer_norm.weight": "encoder.layer_norm.weight",
    "encoder.layer_norm.bias": "encoder.layer_norm.bias",
}
_HF_LAYER = {
    "self_attn.k_proj": "attention.k_proj",
    "self_attn.v_proj": "attention.v_proj",
    "self_attn.q_proj": "attention.q_proj",
    "self_attn.out_proj": "attention.out_proj",
    "self_attn.grep_linear": "attention.gru_rel_pos_linear",
    "self_attn.grep_a": "attention.gru_rel_pos_const",
    "self_attn.relative_attention_bias": "attention.rel_attn_embed",
    "self_attn_layer_norm": "layer_norm",
    "fc1": "feed_forward.intermediate_dense",
    "fc2": "feed_forward.output_dense",
    "final_layer_norm": "final_layer_norm",
}
# Newer transformers save the weight-norm parametrisation under these names.
_HF_PARAMETRIZED = {
    "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv_embed.conv.weight_v",
}
HF_PREFIX = "wavlm."  # task heads (WavLMForCTC, ...) nest the encoder under this prefix


def _official_to_hf_key(key: str) -> str:
    if key in _HF_TOP_LEVEL:
        return _HF_TOP_LEVEL[key]
    parts = key.split(".")
    if key.startswith("feature_extractor.conv_layers."):
        index, slot = parts[2], parts[3]
        if slot == "0":
            return f"feature_extractor.conv_layers.{index}.conv.{parts[-1]}"
        if slot == "2":  # GroupNorm (`2.weight`) or channel LayerNorm (`2.1.weight`)
            return f"feature_extractor.conv_layers.{index}.layer_norm.{parts[-1]}"
    if key.startswith("encoder.layers."):
        index, rest = parts[2], ".".join(parts[3:])
        for official, hf in _HF_LAYER.items():
            if rest == official or rest.startswith(official + "."):
                return f"encoder.layers.{index}.{hf}{rest[len(official) :]}"
    raise KeyError(f"{key!r} is not a WavLM key")


def official_to_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official WavLM keys -> Hugging Face `WavLMModel` keys (same tensors)."""
    return {_official_to_hf_key(key): value for key, value in state.items()}


def hf_to_official_state_dict(state: dict[str, torch.Tensor], config: WavLMConfig) -> dict[str, torch.Tensor]:
    """Hugging Face `WavLMModel` keys (optionally under `wavlm.`) -> official keys.

    `config` is needed to tell the conv stack's GroupNorm (`2.*`) from its LayerNorms (`2.1.*`).

    Raises
    ------
    KeyError
        Naming the Hub keys that are no WavLM encoder keys (e.g. a task head).
    """
    if state and all(key.startswith(HF_PREFIX) for key in state):
        state = {key[len(HF_PREFIX) :]: value for key, value in state.items()}
    state = {_HF_PARAMETRIZED.get(key, key): value for key, value in state.items()}
    inverse = {_official_to_hf_key(key): key for key in _official_keys(config)}
    unknown = sorted(key for key in state if key not in inverse)
    if unknown:
        shown = ", ".join(unknown[:4]) + (", ..." if len(unknown) > 4 else "")
        raise KeyError(f"not WavLM encoder keys: [{shown}] ({len(unknown)} in all)")
    return {inverse[key]: value for key, value in state.items()}


def _official_keys(config: WavLMConfig) -> list[str]:
    with torch.device("meta"):
        return list(WavLM(config).state_dict())


# --------------------------------------------------------------------------------------------- files

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_checkpoint(path) -> tuple[WavLMConfig, dict[str, torch.Tensor], str]:
    """Read a WavLM checkpoint in either published layout; never unpickles code.

    Parameters
    ----------
    path : an official `{'cfg', 'model'}` file (WavLM-Base.pt, WavLM-Base+.pt, WavLM-Large.pt); or a Hugging
        Face `microsoft/wavlm-*` snapshot: its folder, or its `model.safetensors` / `pytorch_model.bin` with
        `config.json` beside it.

    Returns
    -------
    config, state dict under the official key names, and the layout ("official" or "hf").

    Raises
    ------
    CheckpointError
        Unreadable or truncated files, and files that are no WavLM checkpoint, with what was found.
    """
    import json
    from pathlib import Path

    from ..weights import CheckpointError

    path = Path(path)
    if path.is_dir():
        weights = next((path / name for name in HF_WEIGHT_FILES if (path / name).is_file()), None)
        if weights is None:
            raise CheckpointError(f"{path} is a folder without {' or '.join(HF_WEIGHT_FILES)} (a Hugging Face WavLM)")
        path = weights
    if not path.is_file():
        raise CheckpointError(f"WavLM checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            payload = load_file(str(path))
        else:
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read WavLM checkpoint {path} ({type(err).__name__}: {err}). The file is truncated or corrupt "
            "(download it again), not a PyTorch/safetensors file, or holds pickled objects other than tensors "
            "and plain values (only those are read, so a checkpoint can never run code)."
        ) from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a WavLM checkpoint")
    if "cfg" in payload and "model" in payload:
        if not isinstance(payload["model"], dict):
            raise CheckpointError(f"{path}: 'model' is a {type(payload['model']).__name__}, not a state dict")
        try:
            config = WavLMConfig.from_cfg(payload["cfg"])
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: its 'cfg' is not a valid WavLM config ({err})") from err
        return config, payload["model"], "official"
    if not all(isinstance(value, torch.Tensor) for value in payload.values()):
        keys = ", ".join(sorted(map(str, payload))[:6])
        raise CheckpointError(
            f"{path} is not a WavLM checkpoint: expected the official {{'cfg', 'model'}} dict or a Hugging Face "
            f"state dict, found keys [{keys}]"
        )
    hf_keys = ("masked_spec_embed", "feature_projection.projection.weight", "encoder.pos_conv_embed.conv.bias")
    if not any(key in payload or HF_PREFIX + key in payload for key in hf_keys):
        raise CheckpointError(
            f"{path} is a bare state dict that is neither an official WavLM checkpoint (those are "
            "{'cfg': ..., 'model': ...}) nor a Hugging Face WavLM one; it belongs to another model"
        )
    config_file = path.with_name("config.json")
    if not config_file.is_file():
        raise CheckpointError(
            f"{path} is in the Hugging Face layout but has no config.json beside it; download the repo's "
            "config.json (e.g. from microsoft/wavlm-base) into the same folder"
        )
    try:
        # Normalisation follows the network, as in the official cfgs (not preprocessor_config.json), so both
        # layouts of a release embed identically.
        config = config_from_hf(json.loads(config_file.read_text()))
        state = hf_to_official_state_dict(payload, config)
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is not a WavLM checkpoint in the Hugging Face layout: {err}") from err
    # transformers only creates the (training-only) mask embedding when its config enables masking.
    state.setdefault("mask_emb", torch.zeros(config.encoder_embed_dim))
    return config, state, "hf"


def load_checkpoint(path) -> WavLM:
    """`read_checkpoint` + a strict load into a fresh `WavLM` in eval mode."""
    from ..weights import load_state

    config, state, _ = read_checkpoint(path)
    model = WavLM(config)
    load_state(model, state, path, "WavLM")
    return model.eval()
