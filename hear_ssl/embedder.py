"""The embedding engine behind every HEAR module: front-end, normalisation, encoder, pooling, framing.

Work is batched across clips and bounded in memory: clips are encoded a group at a time (at most
`batch_seconds` of audio per encoder pass) and a clip longer than `chunk_seconds` is encoded in time
chunks. For the convolutional encoders the chunks overlap by more than the receptive field, so chunked and
whole-clip features are identical; CvT attends over its whole input, so its chunks are independent.

Timestamp embeddings of convolutional encoders reuse one pass over the whole clip: each window pools the
encoder frames whose centres it covers (instead of re-encoding ~20 overlapping windows per second).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import nn

from .audio import LogMelSpectrogram
from .config import EncoderConfig, FramingConfig, FrontEndConfig, NormConfig
from .models import build_encoder, mean_max_pool


class AudioEmbedder(nn.Module):
    """A HEAR model: `sample_rate`, `scene_embedding_size`, `timestamp_embedding_size`, plus the engine."""

    def __init__(
        self,
        name: str,
        encoder: EncoderConfig,
        frontend: FrontEndConfig,
        norm: NormConfig,
        framing: FramingConfig,
        batch_seconds: float = 256.0,
        chunk_seconds: float = 60.0,
        precision: str = "fp32",
    ):
        super().__init__()
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'fp16', got {precision!r}")
        self.name = name
        self.encoder_config, self.frontend_config = encoder, frontend
        self.norm, self.framing = norm, framing
        self.frontend = LogMelSpectrogram(frontend)
        self.encoder = build_encoder(encoder)
        self.sample_rate = frontend.sample_rate
        self.scene_embedding_size = self.encoder.embedding_size
        self.timestamp_embedding_size = self.encoder.embedding_size
        self.batch_seconds = batch_seconds
        self.chunk_seconds = chunk_seconds
        self.precision = precision
        self.eval()

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points; audio is (n_sounds, n_samples) float32 on the model's device, already checked.

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, D): max + mean over time of the clip's encoder frames."""
        stats = self._call_stats(audio) if self.norm.serab_compat else None
        out = []
        for group in self._clip_groups(audio):
            logmel = self._normalise(self.frontend(group), stats)
            out.extend(mean_max_pool(frames.unsqueeze(0))[0] for frames in self._encode_clips(logmel))
        return torch.stack(out).float()

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> embeddings (B, T, D), centred timestamps in ms (B, T); a window every `hop_ms`."""
        hop_samples = self.framing.hop_ms * self.sample_rate / 1000.0
        num_windows = int(audio.shape[1] // hop_samples) + 1
        timestamps = torch.arange(num_windows, dtype=torch.float64, device=audio.device) * self.framing.hop_ms
        if self.framing.pool_frames and not self.norm.serab_compat:
            embeddings = self._pooled_window_embeddings(audio, timestamps)
        else:
            embeddings = self._windowed_embeddings(audio, num_windows)
        return embeddings.float(), timestamps.float().expand(audio.shape[0], -1).contiguous()

    # ----------------------------------------------------------------------------------------------
    # Normalisation

    def _normalise(self, logmel: torch.Tensor, stats: tuple[float, float] | None = None) -> torch.Tensor:
        """(B, M, T) log-mel -> standardised (B, 1, M, T)."""
        if stats is not None:
            mean, std = stats
        elif self.norm.mode == "fixed":
            mean, std = self.norm.mean, self.norm.std
        else:  # per clip (or per window): its own statistics, never the batch's
            mean = logmel.mean(dim=(1, 2), keepdim=True)
            std = logmel.std(dim=(1, 2), keepdim=True).clamp_min(1e-8)
        return ((logmel - mean) / std).unsqueeze(1)

    def _call_stats(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """serab-byols scene statistics: each clip's log-mel mean and std, averaged over the call."""
        means, stds = [], []
        for group in self._clip_groups(audio):
            logmel = self.frontend(group)
            means.append(logmel.mean(dim=(1, 2)))
            stds.append(logmel.std(dim=(1, 2)))
        return torch.cat(means).mean(), torch.cat(stds).mean()

    # ----------------------------------------------------------------------------------------------
    # Encoding with bounded memory

    def _clip_groups(self, audio: torch.Tensor):
        per_group = max(1, int(self.batch_seconds * self.sample_rate // max(audio.shape[1], 1)))
        return audio.split(per_group)

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    def _run_encoder(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast(x.device):
            return self.encoder.forward_frames(x).float()

    def _encode_clips(self, logmel: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1, M, T) -> list of (T', D) frame features, time-chunked when clips are long."""
        stride = self.encoder.time_stride
        chunk = max(stride, int(self.chunk_seconds * self.sample_rate / self.frontend_config.hop_length))
        chunk -= chunk % stride
        total = logmel.shape[-1]
        if total < stride:
            # Shorter than one encoder frame (< ~80 ms): tile the clip's frames rather than pad silence.
            logmel = logmel.repeat(1, 1, 1, math.ceil(stride / total))[..., :stride]
            total = stride
        if total <= chunk:
            return list(self._run_encoder(logmel))
        if self.encoder_config.arch == "cvt":
            # Global attention: independent chunks, the same approximation as encoding 60-s excerpts.
            pieces = [self._run_encoder(logmel[..., start : start + chunk]) for start in range(0, total, chunk)]
            return list(torch.cat(pieces, dim=1))
        # Convolutional encoders: overlap chunks by a context wider than the receptive field and keep only
        # the frames each chunk owns, which reproduces the whole-clip features exactly.
        context = 8 * stride
        pieces = []
        for start in range(0, total, chunk):
            end = min(start + chunk, total)
            left = max(0, start - context)
            right = min(total, end + context) if end < total else total
            frames = self._run_encoder(logmel[..., left:right])
            first = (start - left) // stride
            pieces.append(frames[:, first : first + (end - start) // stride] if end < total else frames[:, first:])
        return list(torch.cat(pieces, dim=1))

    # ----------------------------------------------------------------------------------------------
    # Timestamp framing

    def _pooled_window_embeddings(self, audio: torch.Tensor, timestamps: torch.Tensor) -> torch.Tensor:
        """Encode each clip once, then pool the frames under each window (max + mean)."""
        stride = self.encoder.time_stride
        frame_ms = 1000.0 * self.frontend_config.hop_length / self.sample_rate
        out = []
        for group in self._clip_groups(audio):
            for frames in self._encode_clips(self._normalise(self.frontend(group))):
                # Encoder frame j summarises log-mel frames j*stride ... j*stride + stride - 1.
                centres_first = (stride - 1) / 2 * frame_ms
                out.append(pool_windows(frames, timestamps, centres_first, stride * frame_ms, self.framing.window_ms))
        return torch.stack(out)

    def _windowed_embeddings(self, audio: torch.Tensor, num_windows: int) -> torch.Tensor:
        """Encode every window on its own (CvT, or the serab-byols compatible path)."""
        window = int(round(self.framing.window_ms * self.sample_rate / 1000.0))
        hop = self.framing.hop_ms * self.sample_rate / 1000.0
        padded = nn.functional.pad(audio, (window // 2, window - window // 2))
        starts = torch.round(torch.arange(num_windows, dtype=torch.float64) * hop).long().tolist()
        # Window count per encoder pass, bounded like clip groups.
        per_pass = max(1, int(self.batch_seconds * 1000.0 / self.framing.window_ms))
        quirk_stats = self._quirk_stats(padded, starts, window, per_pass) if self.norm.serab_compat else None
        out = []
        for clip in padded:
            embeddings = []
            for first in range(0, num_windows, per_pass):
                windows = torch.stack([clip[s : s + window] for s in starts[first : first + per_pass]])
                logmel = self._normalise(self.frontend(windows), quirk_stats)
                embeddings.append(mean_max_pool(self._run_encoder(logmel)))
            out.append(torch.cat(embeddings))
        return torch.stack(out)

    def _quirk_stats(self, padded: torch.Tensor, starts: list[int], window: int, per_pass: int):
        """serab-byols timestamp statistics: over every window of the call, then divided by their count."""
        total, total_sq, count = 0.0, 0.0, 0
        for clip in padded:
            for first in range(0, len(starts), per_pass):
                windows = torch.stack([clip[s : s + window] for s in starts[first : first + per_pass]])
                logmel = self.frontend(windows).double()
                total += logmel.sum().item()
                total_sq += logmel.square().sum().item()
                count += logmel.numel()
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean * mean, 0.0) * count / max(count - 1, 1))
        num_windows = padded.shape[0] * len(starts)
        return mean / num_windows, std / num_windows


def pool_windows(
    frames: torch.Tensor, timestamps: torch.Tensor, first_centre_ms: float, frame_step_ms: float, window_ms: float
) -> torch.Tensor:
    """Max + mean of the frames whose centres fall inside each window.

    Parameters
    ----------
    frames : (F, D) encoder frames; frame j is centred at first_centre_ms + j * frame_step_ms.
    timestamps : (W,) window centres in ms; each window spans [t - window_ms / 2, t + window_ms / 2].

    Returns
    -------
    (W, D). A window covering no frame centre (clips shorter than one window) takes its nearest frame.
    """
    num_frames = frames.shape[0]
    position = (timestamps - first_centre_ms) / frame_step_ms
    half = window_ms / 2 / frame_step_ms
    first = torch.ceil(position - half).clamp(0, num_frames - 1).long()
    stop = (torch.floor(position + half) + 1).clamp(0, num_frames).long()
    empty = stop <= first
    nearest = torch.round(position).clamp(0, num_frames - 1).long()
    first = torch.where(empty, nearest, first)
    stop = torch.where(empty, nearest + 1, stop)
    longest = int((stop - first).max())
    running_max = torch.full((len(timestamps), frames.shape[1]), -math.inf, dtype=frames.dtype, device=frames.device)
    running_sum = torch.zeros_like(running_max)
    for offset in range(longest):
        index = first + offset
        inside = (index < stop).unsqueeze(1)
        picked = frames[index.clamp(max=num_frames - 1)]
        running_max = torch.where(inside, torch.maximum(running_max, picked), running_max)
        running_sum = running_sum + picked * inside
    return running_max + running_sum / (stop - first).unsqueeze(1).to(frames.dtype)
