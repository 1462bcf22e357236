"""HEAR models for ATST-Clip and ATST-Frame: dB-mel front-end, encoder, the authors' chunking and pooling.

ATST-Clip, scene embeddings (the authors' downstream embedding):
    the mel is cut into chunks of `chunk_frames` = int(train_len * 100 + 1) frames (601 = 6 s, official
    `downstream/model.py:26`); each chunk gives [CLS of each selected block..., patch mean of each...];
    chunks are averaged with equal weight, a tail chunk of at most half a chunk counts only if it is the
    only one (official `get_intermediate_layers_chunks`). Differences from the official code, which only
    matter above 6 s: every chunk is encoded with its own length, not the clip's remaining length (the
    official divides a non-final chunk's patch mean by the remaining patch count, scaling it down), and
    no empty chunk is run when the length is a multiple of the chunk length. Its timestamp embeddings are
    its patch tokens, chunked and timed as ATST-Frame's below (the authors define none for ATST-Clip).

ATST-Frame (official `methods/atstframe/embedding.py`, all blocks concatenated per 40-ms token):
    the mel is cut into chunks of 1000 frames (250 tokens, exactly what the positional embedding covers)
    and the chunks' tokens are concatenated. Differences from the official code: its 1001-frame chunks
    drop one frame per chunk, so its tokens drift by 10 ms every 10 s; the scene embedding here is the mean
    over all tokens of the clip (the official averages the per-chunk means with equal weight, so a very short
    tail chunk counts as much as a full 10-s one, and a tail under 4 frames adds a zero vector); and
    `scene_embedding_size` is the size returned (the official declares twice it, from a max pooling that is
    commented out). Timestamps are the token centres, 40 i + 15 ms (the official reports 40 i).

Clips shorter than 513 samples (the shortest the reflect-padded STFT takes; the official code fails on them)
are zero-padded to 513 samples: 4 frames, exactly one token. Clips of a batch are encoded together, each with
its own dB peak, so a batch gives the one-at-a-time result.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from ..frontends.db_mel import HOP_LENGTH, SAMPLE_RATE, DbMelSpectrogram
from ..models.atst import ENCODERS, ATSTConfig

DEFAULT_TRAIN_LEN = 6.0  # seconds; the official default when a checkpoint does not say


class ATSTEmbedder(nn.Module):
    """A HEAR model over an ATST encoder.

    Parameters
    ----------
    kind : "clip" (ATST-Clip) or "frame" (ATST-Frame).
    config : ATSTConfig of the encoder.
    layer : int, optional
        Use one block's output (0-based, negative counts from the end) instead of all blocks concatenated
        (the official default for both).
    train_len : float
        ATST-Clip's chunk length in seconds (the checkpoint's `hyper_parameters.train_len`).
    precision : "fp32" or "bf16" (autocast for the encoder; the front-end stays fp32).
    batch_seconds : float, optional
        Audio per encoder pass; default 16 s on CPU, 256 s on CUDA.
    """

    def __init__(
        self,
        kind: str,
        config: ATSTConfig,
        name: str = "",
        layer: int | None = None,
        train_len: float = DEFAULT_TRAIN_LEN,
        precision: str = "fp32",
        batch_seconds: float | None = None,
    ):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"kind must be one of {sorted(ENCODERS)}, got {kind!r}")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        if layer is not None and not -config.depth <= layer < config.depth:
            raise ValueError(f"layer must be in [{-config.depth}, {config.depth}) for this {config.depth}-block model")
        self.kind, self.name, self.precision, self.batch_seconds = kind, name, precision, batch_seconds
        self.frontend = DbMelSpectrogram()
        self.encoder = ENCODERS[kind](config)
        self.layer = None if layer is None else layer % config.depth
        self.num_blocks = config.depth if layer is None else config.depth - self.layer
        width = config.embed_dim * (config.depth if layer is None else 1)
        self.chunk_frames = int(train_len * SAMPLE_RATE / HOP_LENGTH + 1) if kind == "clip" else config.max_frames
        if self.chunk_frames > config.max_frames + config.patch_w - 1 or self.chunk_frames < config.patch_w:
            raise ValueError(f"train_len {train_len} s does not fit the positional embedding ({config.spec_w} frames)")
        self.sample_rate = SAMPLE_RATE
        self.scene_embedding_size = 2 * width if kind == "clip" else width
        self.timestamp_embedding_size = width
        self.eval()

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points; audio is (n_sounds, n_samples) float32 on the model's device, already checked.

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, scene_embedding_size)."""
        if self.kind == "clip":
            return torch.cat([self._clip_embedding(group) for group in self._groups(audio)])
        out = []
        for group in self._groups(audio):
            total, count = 0.0, 0
            for tokens in self._token_chunks(group):  # summed chunk by chunk: memory independent of length
                total = total + tokens.sum(dim=1)
                count += tokens.shape[1]
            out.append(total / count)
        return torch.cat(out)

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> embeddings (B, T, D) and centred timestamps in ms (B, T)."""
        embeddings = torch.cat([torch.cat(list(self._token_chunks(group)), dim=1) for group in self._groups(audio)])
        frame_ms = 1000.0 * HOP_LENGTH / SAMPLE_RATE
        patch = self.encoder.config.patch_w
        centres = (torch.arange(embeddings.shape[1], device=audio.device) * patch + (patch - 1) / 2) * frame_ms
        return embeddings, centres.float().expand(len(audio), -1).contiguous()

    # ----------------------------------------------------------------------------------------------

    def _groups(self, audio: torch.Tensor):
        seconds = self.batch_seconds or (256.0 if audio.device.type == "cuda" else 16.0)
        per_group = max(1, int(seconds * self.sample_rate // audio.shape[1]))
        return audio.split(per_group)

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def _blocks(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return outputs if self.layer is None else outputs[:1]

    @staticmethod
    def _chunks(mel: torch.Tensor, frames: int):
        for start in range(0, mel.shape[-1], frames):
            yield start, mel[..., start : start + frames]

    def _token_chunks(self, audio: torch.Tensor):
        """(B, T_chunk, D) float32 patch-token embeddings of each 1000-frame (10-s) chunk in turn."""
        mel = self.frontend(audio)
        first_patch = 1 if self.kind == "clip" else 0
        for _, chunk in self._chunks(mel, self.encoder.config.max_frames):
            if chunk.shape[-1] < self.encoder.config.patch_w:
                continue  # a tail shorter than one token gives none (never the first chunk: clips are >= 4 frames)
            with self._autocast(chunk.device):
                outputs, _ = self.encoder.intermediate_layers(chunk, None, self.num_blocks)
            yield torch.cat([out[:, first_patch:] for out in self._blocks(outputs)], dim=-1).float()

    def _clip_embedding(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, 2 n D): equal-weight mean over chunks of [CLS..., patch mean...]."""
        mel = self.frontend(audio)
        total, count = 0.0, 0
        for start, chunk in self._chunks(mel, self.chunk_frames):
            # Official rule: a tail chunk of at most half a chunk is left out unless it is the only one.
            if start > 0 and chunk.shape[-1] <= self.chunk_frames // 2:
                continue
            with self._autocast(chunk.device):
                outputs, patches = self.encoder.intermediate_layers(chunk, None, self.num_blocks)
            outputs = [out.float() for out in self._blocks(outputs)]
            cls = [out[:, 0] for out in outputs]
            means = [out[:, 1:].mean(dim=1) for out in outputs]
            total = total + torch.cat(cls + means, dim=-1)
            count += 1
        return total / count
