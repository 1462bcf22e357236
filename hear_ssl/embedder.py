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
from collections.abc import Iterable
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
        batch_seconds: float | None = None,
        chunk_seconds: float = 60.0,
        precision: str = "fp32",
        compile: bool = False,
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
        # torch.compile pays off on GPUs for repeated same-shaped batches; it wraps the function only, so
        # state-dict keys stay those of the official checkpoints.
        self._forward_frames = torch.compile(self.encoder.forward_frames, dynamic=True) if compile else None
        self.eval()

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points; audio is (n_sounds, n_samples) float32 on the model's device, already checked.

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, D): max + mean over time of the clip's encoder frames."""
        stats = self._call_stats(audio) if self.norm.serab_compat else None
        out = []
        for clip_pieces in self._frame_pieces(audio, stats):
            running_max, running_sum, count = None, 0.0, 0
            for piece in clip_pieces:  # pooled piece by piece: memory does not grow with clip length
                piece_max = piece.amax(dim=0)
                running_max = piece_max if running_max is None else torch.maximum(running_max, piece_max)
                running_sum = running_sum + piece.sum(dim=0)
                count += piece.shape[0]
            out.append(running_max + running_sum / count)
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

    def _normalise(self, logmel: torch.Tensor, stats=None) -> torch.Tensor:
        """(B, M, T) log-mel -> standardised (B, 1, M, T); `stats` = (mean, std) overrides the config."""
        if stats is not None:
            mean, std = stats
        elif self.norm.mode == "fixed":
            mean, std = self.norm.mean, self.norm.std
        else:  # per clip (or per window): its own statistics, never the batch's
            mean = logmel.mean(dim=(1, 2), keepdim=True)
            std = logmel.std(dim=(1, 2), keepdim=True).clamp_min(1e-8)
        return ((logmel - mean) / std).unsqueeze(1)

    def _call_stats(self, audio: torch.Tensor) -> tuple[float, float]:
        """serab-byols scene statistics: each clip's log-mel mean and std, averaged over the call."""
        means, stds = [], []
        for clip in audio:
            mean, std = self._clip_stats(clip)
            means.append(mean)
            stds.append(std)
        return sum(means) / len(means), sum(stds) / len(stds)

    def _clip_stats(self, clip: torch.Tensor) -> tuple[float, float]:
        """Mean and (unbiased) std of one clip's whole log-mel, computed a time chunk at a time."""
        padded = self.frontend.pad(clip.unsqueeze(0))
        total_frames = self.frontend.num_frames(clip.shape[0])
        step = self._chunk_frames()
        return mean_std(
            self.frontend.frames(padded, first, min(first + step, total_frames))
            for first in range(0, total_frames, step)
        )

    # ----------------------------------------------------------------------------------------------
    # Encoding with bounded memory

    def _chunk_frames(self) -> int:
        stride = self.encoder.time_stride
        chunk = max(stride, int(self.chunk_seconds * self.sample_rate / self.frontend_config.hop_length))
        return chunk - chunk % stride

    def _batch_seconds(self, device: torch.device) -> float:
        # Large groups keep a GPU busy; on CPU small groups stay in cache and run ~2x faster.
        if self.batch_seconds is not None:
            return self.batch_seconds
        return 256.0 if device.type == "cuda" else 16.0

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    def _run_encoder(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 1, M, T) normalised log-mel -> (B, T', D) float32 frames."""
        stride = self.encoder.time_stride
        if logmel.shape[-1] < stride:
            # Shorter than one encoder frame (< ~80 ms): tile the clip's frames rather than pad silence.
            logmel = logmel.repeat(1, 1, 1, math.ceil(stride / logmel.shape[-1]))[..., :stride]
        if logmel.device.type == "cuda":
            logmel = logmel.contiguous(memory_format=torch.channels_last)
        with self._autocast(logmel.device):
            return (self._forward_frames or self.encoder.forward_frames)(logmel).float()

    def _frame_pieces(self, audio: torch.Tensor, stats=None):
        """For each clip, an iterable of (frames, D) pieces that together are its encoder frames.

        Short clips are encoded in groups of up to `batch_seconds` of audio; a clip longer than
        `chunk_seconds` is streamed: log-mel and encoder run one time chunk at a time.
        """
        num_samples = audio.shape[1]
        if num_samples <= self.chunk_seconds * self.sample_rate:
            per_group = max(1, int(self._batch_seconds(audio.device) * self.sample_rate // num_samples))
            for group in audio.split(per_group):
                for frames in self._run_encoder(self._normalise(self.frontend(group), stats)):
                    yield [frames]
        else:
            for clip in audio:
                clip_stats = stats if stats is not None or self.norm.mode == "fixed" else self._clip_stats(clip)
                yield self._long_clip_pieces(clip, clip_stats)

    def _long_clip_pieces(self, clip: torch.Tensor, stats):
        padded = self.frontend.pad(clip.unsqueeze(0))
        total = self.frontend.num_frames(clip.shape[0])
        stride, chunk = self.encoder.time_stride, self._chunk_frames()
        # Convolutional encoders: overlap chunks by a context wider than the receptive field and keep only
        # the frames each chunk owns, which reproduces the whole-clip features exactly. CvT attends over
        # its whole input, so its chunks are encoded independently (like separate 60-s excerpts).
        context = 0 if self.encoder_config.arch == "cvt" else 8 * stride
        for start in range(0, total, chunk):
            end = min(start + chunk, total)
            left, right = max(0, start - context), (min(total, end + context) if end < total else total)
            frames = self._run_encoder(self._normalise(self.frontend.frames(padded, left, right), stats))[0]
            first = (start - left) // stride
            owned = frames[first : first + (end - start) // stride] if end < total else frames[first:]
            if len(owned):  # a last sliver shorter than one encoder frame adds none
                yield owned

    # ----------------------------------------------------------------------------------------------
    # Timestamp framing

    def _pooled_window_embeddings(self, audio: torch.Tensor, timestamps: torch.Tensor) -> torch.Tensor:
        """Encode each clip once, then pool the frames under each window (max + mean)."""
        stride = self.encoder.time_stride
        frame_ms = 1000.0 * self.frontend_config.hop_length / self.sample_rate
        # Encoder frame j summarises log-mel frames j*stride ... j*stride + stride - 1.
        first_centre = (stride - 1) / 2 * frame_ms
        out = []
        for clip_pieces in self._frame_pieces(audio):
            frames = torch.cat(list(clip_pieces))
            out.append(pool_windows(frames, timestamps, first_centre, stride * frame_ms, self.framing.window_ms))
        return torch.stack(out)

    def _windowed_embeddings(self, audio: torch.Tensor, num_windows: int) -> torch.Tensor:
        """Encode every window on its own (CvT, or the serab-byols compatible path)."""
        window = int(round(self.framing.window_ms * self.sample_rate / 1000.0))
        hop = self.framing.hop_ms * self.sample_rate / 1000.0
        padded = nn.functional.pad(audio, (window // 2, window - window // 2))
        # Rounded per window, never accumulated, so long clips do not drift.
        starts = torch.round(torch.arange(num_windows, dtype=torch.float64) * hop).long().tolist()
        per_pass = max(1, int(self._batch_seconds(audio.device) * 1000.0 / self.framing.window_ms))
        passes = [(clip, starts[i : i + per_pass]) for clip in padded for i in range(0, num_windows, per_pass)]

        def window_logmels():
            for clip, pass_starts in passes:
                yield self.frontend(torch.stack([clip[s : s + window] for s in pass_starts]))

        stats = None
        if self.norm.serab_compat:
            # serab-byols' timestamp statistics: over every window of the call, then divided by their count.
            num_call_windows = len(starts) * len(padded)
            stats = tuple(value / num_call_windows for value in mean_std(window_logmels()))
        embeddings = [mean_max_pool(self._run_encoder(self._normalise(logmel, stats))) for logmel in window_logmels()]
        return torch.cat(embeddings).reshape(len(audio), num_windows, -1)


def mean_std(pieces: Iterable[torch.Tensor]) -> tuple[float, float]:
    """Mean and unbiased std over every element of `pieces`, accumulated in float64 one piece at a time.

    Parameters
    ----------
    pieces : iterable of torch.Tensor
        Any shapes (log-mel chunks of one clip, or every window of a call); only their elements count.

    Returns
    -------
    (float, float)
        Mean and std, as one tensor holding all the elements would give them, without ever building it.
    """
    total, total_sq, count = 0.0, 0.0, 0
    for piece in pieces:
        piece = piece.double()
        total += piece.sum().item()
        total_sq += piece.square().sum().item()
        count += piece.numel()
    mean = total / count
    return mean, math.sqrt(max(total_sq - count * mean * mean, 0.0) / max(count - 1, 1))


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
