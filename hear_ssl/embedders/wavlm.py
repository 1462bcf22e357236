"""WavLM behind the HEAR API: 20-ms frame embeddings from the raw 16 kHz waveform.

- Timestamp embeddings are the default official `extract_features` output (all layers; a pre-LN model's
  final LayerNorm applied), one per 320-sample hop, stamped at the centre of each frame's 400-sample
  receptive field: 12.5 ms + 20 ms · t.
- Scene embeddings are the mean over all frames.
- `layer` picks another output: an int k in 0..L gives the official per-layer output (`output_layer=k`;
  k = 0 is the encoder input after the positional conv, and pre-LN models skip the final LayerNorm even for
  k = L), "all" concatenates layers 0..L per frame ((L + 1) · D features).
- Models trained on normalised input (`cfg.normalize`, WavLM-Large) get `layer_norm` over **each clip's**
  samples. The official README normalises the whole input tensor at once, which couples the clips of a
  batch; here a clip's embedding never depends on the others, and a batch of equal-length clips gives the
  one-at-a-time result.
- Clips shorter than one frame (400 samples) are zero-padded to one frame.
- A batch goes through the encoder in groups of at most `batch_seconds` (default 128 s) of audio.
- Long clips go in windows of `chunk_seconds` (default 16 s = 800 frames, the reach of the relative-position
  buckets, `max_distance` = 800 frames in the released models) that overlap by `2 · context_seconds`
  (default 2 s each side): each window keeps only its central frames, so every kept frame sees at least 2 s
  of context on both sides except at the clip's ends, and memory is bounded by one window per clip. Windows
  start on the 320-sample frame grid, so frame t is always the same 400 samples. Base/Base+'s conv-0
  GroupNorm normalises each channel over the clip's time axis: its statistics are computed over the whole
  clip first (a cheap streamed pass of conv 0), so the conv features of every window are exactly the
  whole-clip ones. A clip of at most `chunk_seconds` runs in one pass, exactly as the official call; beyond
  that only attention sees the window rather than the whole clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..models.wavlm import WavLM

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


class WavLMEmbedder(nn.Module):
    """HEAR model around a loaded `WavLM`: `sample_rate`, `scene_embedding_size`, `timestamp_embedding_size`,
    `scene_embeddings(audio)` and `timestamp_embeddings(audio)` on (n_sounds, n_samples) float32 audio."""

    sample_rate = 16000

    def __init__(
        self,
        encoder: WavLM,
        name: str = "wavlm",
        layer: int | str | None = None,
        precision: str = "fp32",
        chunk_seconds: float = 16.0,
        context_seconds: float = 2.0,
        batch_seconds: float = 128.0,
    ):
        super().__init__()
        self.encoder = encoder.eval()
        self.name = name
        config = encoder.config
        self.hop_samples, self.receptive_field = config.hop_samples, config.receptive_field
        if layer is not None and layer != "all" and not (type(layer) is int and 0 <= layer <= config.encoder_layers):
            raise ValueError(f"layer must be None, 'all' or an int in 0..{config.encoder_layers}, got {layer!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not supported by WavLM; use one of {list(PRECISIONS)}")
        self.layer, self.precision = layer, precision
        self.window_frames = round(chunk_seconds * self.sample_rate / self.hop_samples)
        self.context_frames = round(context_seconds * self.sample_rate / self.hop_samples)
        if self.context_frames < 0 or self.window_frames <= 2 * self.context_frames:
            raise ValueError(
                f"chunk_seconds ({chunk_seconds}) must exceed twice context_seconds ({context_seconds}) by a frame"
            )
        if not batch_seconds > 0:
            raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
        self.batch_seconds = batch_seconds
        width = config.encoder_embed_dim * ((config.encoder_layers + 1) if layer == "all" else 1)
        self.scene_embedding_size = self.timestamp_embedding_size = width

    @property
    def hop_ms(self) -> float:
        return 1000.0 * self.hop_samples / self.sample_rate

    def prepare(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, max(N, 400)): per-clip layer norm when the model expects it, then short-clip padding."""
        if self.encoder.config.normalize:
            audio = F.layer_norm(audio, audio.shape[-1:])
        if audio.shape[-1] < self.receptive_field:
            audio = F.pad(audio, (0, self.receptive_field - audio.shape[-1]))
        return audio

    def encode(self, audio: torch.Tensor, group_norm_stats=None) -> torch.Tensor:
        """(B, N) prepared audio -> (B, T, D') float32 frames of the chosen output."""
        dtype = PRECISIONS[self.precision]
        autocast = torch.autocast(audio.device.type, dtype=dtype) if dtype is not None else nullcontext()
        with torch.no_grad(), autocast:
            if self.layer is None:
                frames = self.encoder.extract_features(audio, group_norm_stats=group_norm_stats)[0]
            else:
                last = self.encoder.num_layers if self.layer == "all" else self.layer
                _, results, _ = self.encoder.extract_features(
                    audio, output_layer=last, group_norm_stats=group_norm_stats
                )
                frames = torch.cat(results, dim=-1) if self.layer == "all" else results[self.layer]
        return frames.float()

    def windows(self, num_frames: int) -> Iterator[tuple[int, int, int]]:
        """(first frame of the window, first kept frame, kept frames) covering frames 0..num_frames-1."""
        core = self.window_frames - 2 * self.context_frames
        kept = 0
        while kept < num_frames:
            # Full-length windows throughout: the last one is pulled back to end at the clip's last frame.
            start = max(0, min(kept - self.context_frames, num_frames - self.window_frames))
            count = min(core, num_frames - kept)
            yield start, kept, count
            kept += count

    def frame_pieces(self, audio: torch.Tensor) -> Iterator[torch.Tensor]:
        """(B, N) checked audio -> consecutive (B, t, D') pieces that together are the clip's frames."""
        audio = self.prepare(audio)
        num_frames = self.encoder.config.num_frames(audio.shape[-1])
        if num_frames <= self.window_frames:
            yield self.encode(audio)
            return
        stats = None
        if self.encoder.feature_extractor.group_norm_first:
            with torch.no_grad():
                stats = self.encoder.feature_extractor.group_norm_statistics(audio)
        for start, first, count in self.windows(num_frames):
            begin = start * self.hop_samples
            end = begin + (self.window_frames - 1) * self.hop_samples + self.receptive_field
            frames = self.encode(audio[:, begin:end], stats)
            yield frames[:, first - start : first - start + count]

    def clip_groups(self, audio: torch.Tensor) -> Iterator[torch.Tensor]:
        """The batch in groups of at most `batch_seconds` of audio per encoder pass (at least one clip);
        clips never interact, so grouping changes no result, only peak memory."""
        window_samples = (self.window_frames - 1) * self.hop_samples + self.receptive_field
        seconds_per_clip = min(audio.shape[-1], window_samples) / self.sample_rate
        size = max(1, int(self.batch_seconds / seconds_per_clip))
        yield from audio.split(size)

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) float32 -> embeddings (B, T, D'), centred timestamps in ms (B, T)."""
        frames = torch.cat([torch.cat(list(self.frame_pieces(group)), dim=1) for group in self.clip_groups(audio)])
        centre_ms = 1000.0 * self.receptive_field / 2 / self.sample_rate
        timestamps = centre_ms + self.hop_ms * torch.arange(frames.shape[1], device=frames.device)
        return frames, timestamps.float().repeat(frames.shape[0], 1)

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) float32 -> (B, D'): the mean over all frames, accumulated window by window."""
        return torch.cat([self._scene(group) for group in self.clip_groups(audio)])

    def _scene(self, audio: torch.Tensor) -> torch.Tensor:
        total, count = None, 0
        for piece in self.frame_pieces(audio):
            piece_sum = piece.double().sum(dim=1)
            total = piece_sum if total is None else total + piece_sum
            count += piece.shape[1]
        return (total / count).float()
