"""DECAR (`DeepCluster_ICASSP`): EfficientNet-B0 with one input channel, plus the DeepCluster MLP head.

The backbone follows `efficientnet_pytorch` 0.7.1 `EfficientNet.from_name('efficientnet-b0', include_top=False,
in_channels=1, image_size=None)`: TF-"same" padding computed from each input's size, swish (SiLU), BatchNorm
eps 1e-3 / momentum 0.01, squeeze-excitation with `max(1, int(block_input * 0.25))` channels, and the module
names of that package, so official state dicts load key for key. DECAR wraps the backbone in
`nn.DataParallel`, so its checkpoints say `model_efficient.module.*`; `convert_decar_state_dict` accepts that,
the unwrapped `model_efficient.*`, and a bare backbone (`_conv_stem.*`, ...).

Input is DECAR's time-first log-mel, (B, 1, T, 64); the backbone's output is (B, 1280, ceil(T/32), 2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..weights import CheckpointError

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's 0.99, as PyTorch counts it
SE_RATIO = 0.25
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
EMBEDDING_SIZE = HEAD_CHANNELS
TIME_STRIDE = 32  # stem and four stride-2 stages


@dataclass(frozen=True)
class StageArgs:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


# EfficientNet-B0 (width and depth coefficients 1.0, so no rounding changes them).
B0_STAGES = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding for whatever input size arrives: output = ceil(input / stride),
    the extra padding (if odd) on the bottom/right."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1, bias: bool = True
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> squeeze-excite -> 1x1 project (+ identity)."""

    def __init__(self, kernel: int, stride: int, expand: int, in_channels: int, out_channels: int):
        super().__init__()
        hidden = in_channels * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = batch_norm(hidden)
        squeezed = max(1, int(in_channels * SE_RATIO))
        self._se_reduce = SameConv2d(hidden, squeezed, 1)
        self._se_expand = SameConv2d(squeezed, hidden, 1)
        self._project_conv = SameConv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = batch_norm(out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = F.silu(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        # Squeeze-excitation pools over the whole input: outputs depend on the clip's full extent.
        gate = self._se_expand(F.silu(self._se_reduce(x.mean(dim=(2, 3), keepdim=True))))
        x = self._bn2(self._project_conv(torch.sigmoid(gate) * x))
        return x + inputs if self.residual else x  # drop-connect is training-only


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 without its classifier (`include_top=False`), `in_channels` input channels."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self._conv_stem = SameConv2d(in_channels, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = batch_norm(STEM_CHANNELS)
        blocks = []
        for stage in B0_STAGES:
            for repeat in range(stage.repeats):
                first = repeat == 0
                blocks.append(
                    MBConvBlock(
                        stage.kernel,
                        stage.stride if first else 1,
                        stage.expand,
                        stage.in_channels if first else stage.out_channels,
                        stage.out_channels,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(B0_STAGES[-1].out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = batch_norm(HEAD_CHANNELS)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1280, ceil(H/32), ceil(W/32)), after the head's swish."""
        x = F.silu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.silu(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1280, 1, 1): the average-pooled features, as `include_top=False` returns them."""
        return self.extract_features(x).mean(dim=(2, 3), keepdim=True)


class DECAR(nn.Module):
    """`DeepCluster_ICASSP`: backbone, classifier MLP (1280 -> 512 -> 512) and the cluster `top_layer`.

    `num_clusters` sizes `top_layer` (256 at construction in DECAR, the k-means cluster count in its
    checkpoints); None leaves it out, as DECAR does while computing features for clustering.
    """

    def __init__(self, num_clusters: int | None = 256):
        super().__init__()
        self.model_efficient = EfficientNetB0(in_channels=1)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(HEAD_CHANNELS, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU()
        )
        self.top_layer = nn.Linear(512, num_clusters) if num_clusters else None

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 64) -> (B, 1280): the pooled, swished backbone output DECAR's downstream tasks use."""
        return self.model_efficient(x).flatten(start_dim=1)

    def cluster_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 64) -> (B, 512): DECAR's `compute_features` path (classifier without its last ReLU)."""
        return self.classifier[:-1](self.embedding(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 64) -> (B, num_clusters) cluster logits, or (B, 512) without a top layer."""
        x = self.classifier(self.embedding(x))
        return self.top_layer(x) if self.top_layer is not None else x


_DATA_PARALLEL = re.compile(r"^model_efficient\.module\.")
_BACKBONE_KEY = re.compile(r"^(_conv_stem|_bn0|_blocks|_conv_head|_bn1)\.")


def convert_decar_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official DECAR keys -> `DECAR` keys: drops DataParallel's `module.`, prefixes a bare backbone.

    Raises
    ------
    CheckpointError
        When keys are left that belong to no part of DECAR (another model's checkpoint).
    """
    converted = {}
    for key, value in state.items():
        if _DATA_PARALLEL.match(key):
            key = _DATA_PARALLEL.sub("model_efficient.", key)
        elif _BACKBONE_KEY.match(key):
            key = "model_efficient." + key
        elif not key.startswith(("model_efficient.", "classifier.", "top_layer.")):
            raise CheckpointError(
                f"unexpected key {key!r} in a DECAR checkpoint (expected model_efficient[.module].*, "
                "classifier.*, top_layer.*); it is another model's checkpoint"
            )
        converted[key] = value
    return converted


def load_decar(state: dict[str, torch.Tensor], with_head: bool = False) -> DECAR:
    """A `DECAR` holding an official state dict, strictly loaded.

    Parameters
    ----------
    state : the checkpoint's `state_dict` (any layout `convert_decar_state_dict` accepts).
    with_head : also load `classifier` and `top_layer` (its cluster count read from the checkpoint); by
        default they are dropped, since embeddings use the backbone only.
    """
    converted = convert_decar_state_dict(state)
    head = {k: v for k, v in converted.items() if k.startswith(("classifier.", "top_layer."))}
    top = converted.get("top_layer.weight")
    model = DECAR(num_clusters=top.shape[0] if with_head and top is not None else None)
    if not with_head:
        model.classifier = nn.Sequential()  # keeps the embedding model small and its state dict backbone-only
        converted = {k: v for k, v in converted.items() if k not in head}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong = [k for k in expected if k in converted and converted[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"not a DECAR (EfficientNet-B0, 1 input channel) checkpoint: missing {missing[:3]} "
            f"({len(missing)}), unexpected {unexpected[:3]} ({len(unexpected)}), wrong shapes {wrong[:3]}"
        )
    model.load_state_dict(converted, strict=True)
    return model.eval()
