"""DeLoRes-S / DeLoRes-M as a HEAR model: Slaney log-mel, per-clip standardisation, AudioNTT2020, max + mean.

- Scene embedding (2048): the authors' pooling, max over time plus mean over time of the encoder frames
  (`DELORES_S.forward`, LAPE `upstream_encoder.py`).
- Timestamp embeddings (2048): the encoder frames themselves, the model's native rate. Encoder frame j pools
  log-mel frames 8j .. 8j+7 (three 2x max-pools); log-mel frame i is centred at i * 10 ms (centred STFT), so
  frame j is stamped 80 j + 35 ms. Clips shorter than 8 log-mel frames (< 70 ms) have their frames tiled to 8
  and give one frame at 35 ms (or at the clip's end, when that comes first).
- `layer` (1, 2, 3 or 4 = fc, the default): embed with the flattened output of conv block k instead, as LAPE's
  downstream `finetune_layer` does: widths 2048 / 1024 / 512, frames every 2^k log-mel frames (20 / 40 / 80 ms,
  stamped at their centres), and the scene embedding is their mean over time (LAPE's downstream pooling; the
  fixture's `layer{k}_mean`). There is no "all layers" option: the blocks run at different frame rates.
- Normalisation: each clip by its own log-mel mean and unbiased std (LAPE trains with running dataset
  statistics its checkpoints do not keep; see `hear_ssl.frontends.slaney_mel`).
- Clips up to `chunk_seconds` are encoded in groups of up to `batch_seconds` of audio (each clip normalised on
  its own, so a batch gives the one-at-a-time result); longer clips are streamed in time chunks that overlap by
  more than the conv stack's receptive field, which reproduces the whole-clip frames, with statistics gathered
  in a first streamed pass. Memory stays bounded by the chunk size (plus the returned frames).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..frontends.slaney_mel import SlaneyLogMel, per_clip_standardise
from ..models.delores import (
    FINAL_LAYER,
    LAYERS,
    build_delores_encoder,
    convert_lape_state_dict,
    layer_frames,
    layer_size,
    layer_time_stride,
)
from .precision import autocast, check_precision

TIME_STRIDE = 8  # log-mel frames per encoder frame; chunks start at multiples of it
# Chunks see this many extra log-mel frames on each side: more than the receptive field (3 convs, 3 pools).
CHUNK_CONTEXT = 8 * TIME_STRIDE


class DeLoResEmbedder(nn.Module):
    """HEAR model for DeLoRes-S / DeLoRes-M (both: AudioNTT2020, n_mels 64, d 2048).

    Parameters
    ----------
    variant : "delores-s" or "delores-m" (which encoder a LAPE upstream checkpoint holds).
    layer : 1, 2, 3 (conv block outputs) or 4 (fc, the default): the features embedded (see the module doc).
    precision : "fp32", "bf16" or "fp16" (autocast of the encoder).
    chunk_seconds : clips longer than this are streamed in chunks of this length.
    batch_seconds : audio per encoder pass for short clips (default 16 s on CPU, 256 s on CUDA).
    """

    sample_rate = 16000

    def __init__(
        self,
        variant: str = "delores-s",
        layer: int = FINAL_LAYER,
        precision: str = "fp32",
        chunk_seconds: float = 60.0,
        batch_seconds: float | None = None,
    ):
        super().__init__()
        if chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS} (1-3: conv blocks, 4: fc), got {layer!r}")
        self.name, self.layer = variant, layer
        self.time_stride = layer_time_stride(layer)
        self.precision = check_precision(precision)
        self.chunk_seconds, self.batch_seconds = chunk_seconds, batch_seconds
        self.frontend = SlaneyLogMel()
        self.encoder = build_delores_encoder()
        self.scene_embedding_size = self.timestamp_embedding_size = layer_size(layer)
        self.eval()

    def load_lape_state_dict(self, state: dict[str, torch.Tensor]) -> DeLoResEmbedder:
        """Load a LAPE checkpoint's state dict (any layout `convert_lape_state_dict` accepts), strictly."""
        self.encoder.load_state_dict(convert_lape_state_dict(state, self.name), strict=True)
        return self

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points: audio is (n_sounds, n_samples) float32 on the model's device, already checked.

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, D): max + mean over time of each clip's fc frames (mean only for conv layers)."""
        out = []
        for pieces in self._clip_frames(audio):
            running_max, running_sum, count = None, 0.0, 0
            for piece in pieces:  # pooled piece by piece, so memory does not grow with clip length
                piece_max = piece.amax(dim=0)
                running_max = piece_max if running_max is None else torch.maximum(running_max, piece_max)
                running_sum = running_sum + piece.sum(dim=0)
                count += piece.shape[0]
            out.append(running_sum / count + (running_max if self.layer == FINAL_LAYER else 0.0))
        return torch.stack(out)

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> frames (B, F, D) and their centres in ms (B, F); for fc, F = max(1, (N // 160 + 1) // 8).

        Frames are stamped at the centre of the log-mel frames they pool; a frame of a tiled (very short) clip
        whose centre lies past the clip's end is dropped, and a single frame is stamped at most at the end.
        """
        frames = torch.stack([torch.cat(list(pieces)) for pieces in self._clip_frames(audio)])
        hop_ms = 1000.0 * self.frontend.config.hop_length / self.sample_rate
        steps = torch.arange(frames.shape[1], device=audio.device, dtype=torch.float64)
        timestamps = hop_ms * (self.time_stride * steps + (self.time_stride - 1) / 2)
        end_ms = 1000.0 * audio.shape[1] / self.sample_rate
        inside = max(1, int((timestamps <= end_ms).sum()))
        timestamps = timestamps[:inside].clamp(max=end_ms).float()
        return frames[:, :inside], timestamps.expand(audio.shape[0], -1).contiguous()

    # ----------------------------------------------------------------------------------------------

    def _encode(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 64, T) standardised log-mel -> (B, max(1, T // stride), D) float32 frames of `self.layer`."""
        stride = self.time_stride
        if logmel.shape[-1] < stride:  # shorter than one frame: tile rather than pad silence
            logmel = logmel.repeat(1, 1, 1, math.ceil(stride / logmel.shape[-1]))[..., :stride]
        with autocast(logmel.device, self.precision):
            return layer_frames(self.encoder, logmel, self.layer).float()

    def _clip_frames(self, audio: torch.Tensor):
        """For each clip, an iterable of (frames, D) pieces that together are its frames of `self.layer`."""
        if audio.shape[1] <= self.chunk_seconds * self.sample_rate:
            seconds = self.batch_seconds or (256.0 if audio.device.type == "cuda" else 16.0)
            per_group = max(1, int(seconds * self.sample_rate // audio.shape[1]))
            for group in audio.split(per_group):
                yield from ([frames] for frames in self._encode(per_clip_standardise(self.frontend(group))))
        else:
            for clip in audio:
                yield self._streamed_frames(clip)

    def _chunk_frames(self) -> int:
        chunk = int(self.chunk_seconds * self.sample_rate / self.frontend.config.hop_length)
        return max(TIME_STRIDE, chunk - chunk % TIME_STRIDE)

    def _streamed_frames(self, clip: torch.Tensor):
        padded = self.frontend.pad(clip.unsqueeze(0))
        total, chunk = self.frontend.num_frames(clip.shape[0]), self._chunk_frames()
        # Pass 1: the clip's log-mel mean and unbiased std, accumulated in float64.
        total_sum, total_sq, count = 0.0, 0.0, 0
        for first in range(0, total, chunk):
            logmel = self.frontend.frames(padded, first, min(first + chunk, total)).double()
            total_sum += logmel.sum().item()
            total_sq += logmel.square().sum().item()
            count += logmel.numel()
        mean_value = total_sum / count
        std_value = math.sqrt(max(total_sq - count * mean_value * mean_value, 0.0) / max(count - 1, 1))
        mean, std = (torch.tensor(v, device=clip.device) for v in (mean_value, std_value))
        # Pass 2: overlapping chunks, each keeping the encoder frames it owns.
        for start in range(0, total, chunk):
            end = min(start + chunk, total)
            left, right = max(0, start - CHUNK_CONTEXT), min(total, end + CHUNK_CONTEXT)
            logmel = self.frontend.frames(padded, left, right)
            frames = self._encode(per_clip_standardise(logmel, mean, std))[0]
            first = (start - left) // self.time_stride
            owned = frames[first : first + (end - start) // self.time_stride]
            if len(owned):  # a final sliver shorter than one encoder frame adds none
                yield owned
