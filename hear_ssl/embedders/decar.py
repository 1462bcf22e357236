"""DECAR as a HEAR model: TF log-mel (time-first), EfficientNet-B0, average pooling.

- Scene embedding (1280): the pooled, swished backbone output, the embedding DECAR's downstream code uses.
- Timestamp embeddings (1280): the backbone's output map averaged over its 2 frequency cells, one per 32 STFT
  frames (the network's time stride), i.e. every 320 ms. Step j covers STFT frames 32j .. 32j+31; STFT frame i
  spans samples 160 i .. 160 i + 399 (no centring), so step j is stamped at the centre of that span,
  320 j + 167.5 ms. A last step whose centre lies past the clip's end (it covers only a few frames) is left
  out of the timestamp embeddings, so stamps stay evenly spaced and inside the clip (as HEAR requires); it still
  counts in the scene embedding. A clip with a single step has it stamped at min(167.5 ms, clip end).
- Squeeze-excitation pools over the whole input, so every output depends on the clip's full extent: clips
  longer than `chunk_seconds` are split into near-equal chunks (multiples of 32 frames, no sliver at the end)
  encoded independently; the scene embedding is the mean over all their time steps. Memory is bounded by the
  chunk size. The L2 normalisation of the waveform is over the whole clip, before chunking.
- Clips shorter than one 400-sample frame are zero-padded to one frame.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..frontends.tf_mel import FRAME_LENGTH, FRAME_STEP, TFLogMel, num_frames
from ..models.decar import DECAR, EMBEDDING_SIZE, TIME_STRIDE, load_decar
from .precision import autocast, check_precision

STEP_MS = 1000.0 * TIME_STRIDE * FRAME_STEP / 16000  # 320 ms
FIRST_STEP_MS = 1000.0 * ((TIME_STRIDE - 1) * FRAME_STEP + FRAME_LENGTH) / 2 / 16000  # 167.5 ms


class DECAREmbedder(nn.Module):
    """HEAR model for DECAR (EfficientNet-B0 backbone; the DeepCluster head is not used for embeddings).

    Parameters
    ----------
    precision : "fp32", "bf16" or "fp16" (autocast of the backbone).
    chunk_seconds : clips longer than this are encoded in independent chunks of about this length.
    batch_seconds : audio per backbone pass (default 16 s on CPU, 256 s on CUDA).
    """

    sample_rate = 16000
    scene_embedding_size = timestamp_embedding_size = EMBEDDING_SIZE

    def __init__(self, precision: str = "fp32", chunk_seconds: float = 60.0, batch_seconds: float | None = None):
        super().__init__()
        if chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        self.name = "decar"
        self.precision = check_precision(precision)
        self.chunk_seconds, self.batch_seconds = chunk_seconds, batch_seconds
        self.frontend = TFLogMel()
        self.model = DECAR(num_clusters=None)
        self.model.classifier = nn.Sequential()  # embeddings use the backbone only
        self.eval()

    def load_decar_state_dict(self, state: dict[str, torch.Tensor]) -> DECAREmbedder:
        """Load an official DECAR state dict (`model_efficient[.module].*`; the head is ignored), strictly."""
        self.model.load_state_dict(load_decar(state).state_dict(), strict=True)
        return self

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points: audio is (n_sounds, n_samples) float32 on the model's device, already checked.

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, 1280): the average-pooled backbone output (mean over all time steps of all chunks)."""
        return torch.stack(
            [sum(p.sum(dim=0) for p in pieces) / sum(len(p) for p in pieces) for pieces in self._clip_steps(audio)]
        )

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> steps (B, S, 1280) and their centres in ms (B, S), one step per 320 ms, all inside the clip."""
        steps = torch.stack([torch.cat(pieces) for pieces in self._clip_steps(audio)])
        end_ms = 1000.0 * audio.shape[1] / self.sample_rate
        timestamps = FIRST_STEP_MS + STEP_MS * torch.arange(steps.shape[1], device=audio.device, dtype=torch.float64)
        inside = max(1, int((timestamps <= end_ms).sum()))
        timestamps = timestamps[:inside].clamp(max=end_ms).float()
        return steps[:, :inside], timestamps.expand(audio.shape[0], -1).contiguous()

    # ----------------------------------------------------------------------------------------------

    def _encode(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 64) -> (B, ceil(T / 32), 1280) float32: backbone map averaged over frequency."""
        with autocast(logmel.device, self.precision):
            features = self.model.model_efficient.extract_features(logmel)
        return features.float().mean(dim=3).transpose(1, 2)

    def _chunk_bounds(self, total: int) -> list[tuple[int, int]]:
        """Near-equal chunks of at most ~chunk_seconds, each a multiple of 32 frames except the last."""
        limit = max(TIME_STRIDE, int(self.chunk_seconds * self.sample_rate / FRAME_STEP))
        count = math.ceil(total / limit)
        size = TIME_STRIDE * math.ceil(total / count / TIME_STRIDE)
        return [(start, min(start + size, total)) for start in range(0, total, size)]

    def _clip_steps(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        """For each clip, its (steps, 1280) pieces, one per chunk."""
        normalised = self.frontend.pad(self.frontend.l2_normalise(audio))
        total = num_frames(audio.shape[1])
        bounds = self._chunk_bounds(total)
        seconds = self.batch_seconds or (256.0 if audio.device.type == "cuda" else 16.0)
        chunk_samples = min(audio.shape[1], (bounds[0][1] - 1) * FRAME_STEP + FRAME_LENGTH)
        per_group = max(1, int(seconds * self.sample_rate // chunk_samples))
        out: list[list[torch.Tensor]] = [[] for _ in range(len(audio))]
        for first, stop in bounds:
            for offset in range(0, len(audio), per_group):
                logmel = self.frontend.frames(normalised[offset : offset + per_group], first, stop)
                for i, steps in enumerate(self._encode(logmel)):
                    out[offset + i].append(steps)
        return out
