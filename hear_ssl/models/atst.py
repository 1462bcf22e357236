"""ATST encoders (Li et al. 2023, audiossl): ATST-Clip (`AST`) and ATST-Frame (`FrameAST`).

Both are ViTs over 64 x 4 mel patches (one token per 40 ms, the whole band in one patch). Their state-dict
keys are those of the official modules (`audiossl/models/atst/audio_transformer.py`,
`audiossl/methods/atstframe/audio_transformer.py`, blocks from `audiossl/modules/transformer.py`), so official
weights load key for key. ATST-Clip prepends a CLS token and normalises with `norm`; ATST-Frame has no CLS
token and normalises with `norm_frame`. Variants (small, base) are data: `hear_ssl.atst_config`.

Padding follows the official code: a clip's `length` (in mel frames) becomes a patch count, and keys beyond
it get -10000 added to their attention logits, so a zero-padded row gives its own clip's outputs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..atst_config import VARIANTS, ATSTConfig

# Added to the attention logits of padded keys, as in the official `get_attention_mask`.
MASK_VALUE = -10000.0


class PatchEmbed(nn.Module):
    """Official `PatchEmbed_v2`: patches flattened (freq-in-patch, time-in-patch), then one linear layer."""

    def __init__(self, config: ATSTConfig):
        super().__init__()
        self.patch_h, self.patch_w = config.patch_h, config.patch_w
        self.patch_embed = nn.Linear(config.patch_h * config.patch_w, config.embed_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, T) -> (B, (T // pw) * (F // ph), D), time-major token order."""
        batch = mel.shape[0]
        rows, cols = mel.shape[2] // self.patch_h, mel.shape[3] // self.patch_w
        mel = mel[:, 0, : rows * self.patch_h, : cols * self.patch_w]
        patches = mel.reshape(batch, rows, self.patch_h, cols, self.patch_w).permute(0, 3, 1, 2, 4)
        return self.patch_embed(patches.reshape(batch, cols * rows, self.patch_h * self.patch_w))

    def num_tokens(self, frames: torch.Tensor, height: int) -> torch.Tensor:
        """Patch count of clips `frames` long (partial patches at the end are dropped)."""
        return (height // self.patch_h) * torch.div(frames, self.patch_w, rounding_mode="floor")


class Attention(nn.Module):
    def __init__(self, config: ATSTConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.qkv = nn.Linear(config.embed_dim, 3 * config.embed_dim, bias=config.qkv_bias)
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, config: ATSTConfig):
        super().__init__()
        hidden = int(config.embed_dim * config.mlp_ratio)
        self.fc1 = nn.Linear(config.embed_dim, hidden)
        self.fc2 = nn.Linear(hidden, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (official `modules/transformer.py:Block`)."""

    def __init__(self, config: ATSTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.embed_dim, eps=config.norm_eps)
        self.attn = Attention(config)
        self.norm2 = nn.LayerNorm(config.embed_dim, eps=config.norm_eps)
        self.mlp = Mlp(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


def key_padding_mask(valid: torch.Tensor, tokens: int, dtype: torch.dtype) -> torch.Tensor | None:
    """Additive (B, 1, 1, tokens) mask: MASK_VALUE on keys at or after each row's `valid` count; None if none."""
    padded = torch.arange(tokens, device=valid.device) >= valid[:, None]
    if not bool(padded.any()):
        return None
    return (padded.to(dtype) * MASK_VALUE)[:, None, None, :]


class _ATSTBase(nn.Module):
    """Patch embedding, positional embedding and blocks shared by both encoders."""

    has_cls = False

    def __init__(self, config: ATSTConfig):
        super().__init__()
        self.config = config
        self.embed_dim = config.embed_dim
        self.patch_embed = PatchEmbed(config)
        # Used only by the training-time masking; kept so official checkpoints load key for key.
        self.mask_embed = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.embed_dim))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_embed, std=0.02)

    def _check(self, mel: torch.Tensor, length: torch.Tensor | None) -> torch.Tensor:
        if mel.dim() != 4 or mel.shape[1] != 1 or mel.shape[2] != self.config.spec_h:
            raise ValueError(f"expected mel of shape (batch, 1, {self.config.spec_h}, frames), got {tuple(mel.shape)}")
        if mel.shape[3] // self.config.patch_w > self.config.spec_w // self.config.patch_w:
            raise ValueError(
                f"{mel.shape[3]} frames exceed the {self.config.max_frames} the positional embedding covers; "
                "split the input into chunks (the HEAR embedders do)"
            )
        if length is None:
            return torch.full((mel.shape[0],), mel.shape[3], dtype=torch.long, device=mel.device)
        return torch.as_tensor(length, device=mel.device).long().clamp(max=mel.shape[3])

    def _run_blocks(self, mel: torch.Tensor, length: torch.Tensor | None, final_norm: nn.LayerNorm, n: int):
        """Outputs of the last `n` blocks, each through `final_norm`: list of (B, [1 +] tokens, D); patch counts."""
        length = self._check(mel, length)
        x = self.patch_embed(mel)
        patches = self.patch_embed.num_tokens(length, mel.shape[2])
        tokens = x.shape[1]
        if self.has_cls:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed[:, : tokens + 1]
            valid = patches + 1
        else:
            x = x + self.pos_embed[:, 1 : tokens + 1]
            valid = patches
        mask = key_padding_mask(valid, x.shape[1], x.dtype)
        outputs = []
        for index, block in enumerate(self.blocks):
            x = block(x, mask)
            if index >= len(self.blocks) - n:
                outputs.append(final_norm(x))
        return outputs, patches


def masked_mean(tokens: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, D): mean over each row's first `counts` tokens (official: sum / (count + 1e-6))."""
    inside = (torch.arange(tokens.shape[1], device=tokens.device) < counts[:, None]).unsqueeze(-1)
    return (tokens * inside).sum(dim=1) / (counts[:, None].to(tokens.dtype) + 1e-6)


class ATSTClip(_ATSTBase):
    """ATST-Clip encoder (official `AST` with use_cls=True, pos_type "cut"); input (B, 1, 64, T) scaled dB mel."""

    has_cls = True

    def __init__(self, config: ATSTConfig):
        super().__init__(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.norm_eps)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def intermediate_layers(
        self, mel: torch.Tensor, length: torch.Tensor | None = None, n: int = 1
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Normalised outputs of the last `n` blocks, each (B, 1 + T // 4, D) with the CLS token first;
        and each row's patch count (B,). Official `get_intermediate_layers`."""
        return self._run_blocks(mel, length, self.norm, n)

    def cls_and_mean(self, mel: torch.Tensor, length: torch.Tensor | None = None, n: int = 1) -> torch.Tensor:
        """(B, 2 n D): [CLS of each of the last n blocks..., length-masked patch mean of each...] of one chunk."""
        outputs, patches = self.intermediate_layers(mel, length, n)
        cls = [out[:, 0] for out in outputs]
        means = [masked_mean(out[:, 1:], patches) for out in outputs]
        return torch.cat(cls + means, dim=-1)

    def forward(self, mel: torch.Tensor, length: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D): the last block's normalised CLS token (official `AST.forward`)."""
        return self.intermediate_layers(mel, length, 1)[0][0][:, 0]


class ATSTFrame(_ATSTBase):
    """ATST-Frame encoder (official `FrameAST`, patch_embed "Linear", pos_type "cut", no prompts)."""

    def __init__(self, config: ATSTConfig):
        super().__init__(config)
        self.norm_frame = nn.LayerNorm(config.embed_dim, eps=config.norm_eps)

    def intermediate_layers(
        self, mel: torch.Tensor, length: torch.Tensor | None = None, n: int = 1
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """`norm_frame` outputs of the last `n` blocks, each (B, T // 4, D); and each row's patch count (B,)."""
        return self._run_blocks(mel, length, self.norm_frame, n)

    def frame_embeddings(self, mel: torch.Tensor, length: torch.Tensor | None = None, n: int = 1) -> torch.Tensor:
        """(B, T // 4, n D): the last n blocks concatenated per 40-ms token (official `scene=False`)."""
        return torch.cat(self.intermediate_layers(mel, length, n)[0], dim=-1)

    def scene_embedding(self, mel: torch.Tensor, length: torch.Tensor | None = None, n: int = 1) -> torch.Tensor:
        """(B, n D): length-masked token mean of each of the last n blocks (official `scene=True`)."""
        outputs, patches = self.intermediate_layers(mel, length, n)
        return torch.cat([masked_mean(out, patches) for out in outputs], dim=-1)

    def forward(self, mel: torch.Tensor, length: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T // 4, D): the last block's frame representation."""
        return self.frame_embeddings(mel, length, 1)


ENCODERS = {"clip": ATSTClip, "frame": ATSTFrame}


# ------------------------------------------------------------------------------------------------------
# Official checkpoint layouts

LIGHTNING_PREFIX = "model.teacher.encoder."  # the EMA teacher's encoder, which the authors evaluate


def encoder_state_from_checkpoint(payload: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """The encoder state dict and hyper-parameters of an official ATST checkpoint payload.

    Accepts a Lightning checkpoint (`state_dict` with `model.teacher.encoder.*`, optional `hyper_parameters`),
    the older ATST-Clip `{'teacher', 'args'}` format (keys with `module.` / `backbone.` prefixes, a `head.*`
    projection; `args.arch == "ast"` means small, `args.anchor_len[0]` is the train length), a bare
    prefixed state dict, or a bare encoder state dict. Returns hyper-parameters with at most
    `arch`, `train_len`, `num_heads`.

    Raises
    ------
    ValueError
        If the payload is none of these.
    """
    if not isinstance(payload, dict):
        raise ValueError(f"an ATST checkpoint is a dict, got {type(payload).__name__}")
    hparams: dict = {}
    if isinstance(payload.get("teacher"), dict):
        state = {k.replace("module.", "").replace("backbone.", ""): v for k, v in payload["teacher"].items()}
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        args = payload.get("args")
        if args is not None:
            hparams["arch"] = "small" if getattr(args, "arch", None) == "ast" else "base"
            anchor = getattr(args, "anchor_len", None)
            if anchor:
                hparams["train_len"] = float(anchor[0])
    else:
        state = payload["state_dict"] if isinstance(payload.get("state_dict"), dict) else payload
        raw = payload.get("hyper_parameters") if "state_dict" in payload else None
        hparams = {k: raw[k] for k in ("arch", "train_len", "num_heads") if isinstance(raw, dict) and k in raw}
        if any(k.startswith(LIGHTNING_PREFIX) for k in state):
            state = {k[len(LIGHTNING_PREFIX) :]: v for k, v in state.items() if k.startswith(LIGHTNING_PREFIX)}
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("no encoder tensors found (expected model.teacher.encoder.*, teacher, or bare encoder keys)")
    return state, hparams


def infer_kind_and_config(
    state: dict[str, torch.Tensor], hparams: dict | None = None, num_heads: int | None = None
) -> tuple[str, ATSTConfig]:
    """("clip" | "frame", ATSTConfig) of an encoder state dict, from its tensor shapes.

    Widths, depth, patch size, MLP ratio and qkv bias are read from the shapes. The head count is not in
    the shapes: it comes from `num_heads`, else `hparams["num_heads"]`, else the official variant named by
    `hparams["arch"]` or matching the width (small: 384 / 6 heads, base: 768 / 12 heads).
    """
    hparams = hparams or {}
    if "pos_embed" not in state or "patch_embed.patch_embed.weight" not in state:
        raise ValueError("not an ATST encoder: pos_embed / patch_embed.patch_embed.weight missing")
    if "prompt_embed" in state:
        raise ValueError("ATST-Frame with prompt tokens (nprompt > 0) is not supported")
    kind = "clip" if "cls_token" in state else "frame" if "norm_frame.weight" in state else None
    if kind is None:
        raise ValueError("not an ATST encoder: neither cls_token (ATST-Clip) nor norm_frame (ATST-Frame) found")
    embed_dim = state["pos_embed"].shape[-1]
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    patch_area = state["patch_embed.patch_embed.weight"].shape[1]
    patch_h = 64
    if patch_area % patch_h:
        raise ValueError(f"patch embedding of {patch_area} inputs is not a 64-band patch")
    patch_w = patch_area // patch_h
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    # An official variant counts only if its shapes are the file's (a named arch must not override them).
    matching = [name for name, v in VARIANTS.items() if v.embed_dim == embed_dim and v.depth == depth]
    arch = hparams.get("arch")
    variant = VARIANTS[arch] if arch in matching else VARIANTS[matching[0]] if matching and arch is None else None
    heads = num_heads or hparams.get("num_heads") or (variant.num_heads if variant is not None else None)
    if heads is None:
        raise ValueError(
            f"cannot tell the number of attention heads of a {embed_dim}-wide, {depth}-block ATST from its "
            "tensors; pass num_heads=..."
        )
    if embed_dim % heads:
        raise ValueError(f"num_heads {heads} does not divide the width {embed_dim}")
    config = ATSTConfig(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=int(heads),
        mlp_ratio=hidden / embed_dim,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        patch_h=patch_h,
        patch_w=patch_w,
        spec_w=(state["pos_embed"].shape[1] - 1) * patch_w + 1,
    )
    return kind, config
