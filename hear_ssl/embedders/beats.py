"""BEATs as a HEAR model: Kaldi fbank -> BEATs encoder -> patch features pooled per time step or per clip.

BEATs cuts the fbank into 16x16 patches: each time step is 16 fbank frames (160 ms) and holds 8 frequency
patches. Timestamp embeddings are one per time step, the chosen layer averaged over its 8 frequency patches,
stamped at the centre of the step's 16 frames (87.5 ms + 160 ms * step, since a 25-ms Kaldi frame every 10 ms
is centred 12.5 ms after its start). Scene embeddings are the mean over all patches of the clip.

How we differ from calling the official `extract_features` on a padded batch, and why:

- HEAR batches hold clips of one length, so no padding mask is needed or used. (The official mask mapping
  groups 161 samples per frame and then lays the frame mask over the time-major patch index; on padded rows it
  masks the wrong patches.) Each clip's fbank and attention see only that clip: a batch gives the
  one-at-a-time result.
- Clips longer than the trained context (10-s AudioSet clips: 62 time steps, 9.92 s of frames) are split into
  nearly equal chunks of at most `chunk_seconds`, each encoded on its own, so memory stays bounded; the
  official model would attend over the whole clip, which it was never trained on. Within a clip of at most
  `chunk_seconds`, the result is the official one.
- Clips shorter than one time step (16 frames = 2,800 samples = 175 ms) are tiled (repeated end to end) up to
  one step, not padded with silence: the official code cannot embed them at all. Their single timestamp is the
  clip's centre.
- As in the official code, trailing fbank frames that do not fill a patch (fewer than 16) are not used.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import nn

from ..beats_config import BEATS_FBANK, BEATsFbank
from ..frontends.kaldi_fbank import (
    FRAME_SHIFT,
    NUM_MEL_BINS,
    SAMPLE_RATE,
    KaldiFbank,
    frame_sample_span,
    normalise_beats_fbank,
    num_frames,
)
from ..models.beats import BEATs

TRAINED_CONTEXT_SECONDS = 10.0  # AudioSet clips, the length BEATs was pre-trained and fine-tuned on


def _frame_centre_ms(frame: float) -> float:
    return 1000.0 * (frame * FRAME_SHIFT + frame_sample_span(0, 1)[1] / 2) / SAMPLE_RATE


class BEATsEmbedder(nn.Module):
    """HEAR model around a BEATs encoder.

    Parameters
    ----------
    model : BEATs
        The encoder with its weights (`hear_ssl.models.beats.load_beats_checkpoint`).
    layer : int or "all"
        Which encoder layer the embeddings are taken from: an index into the encoder layers (0 = first,
        -1 = last, the default and the official `extract_features` output), or "all" for the concatenation of
        every layer's output in layer order (size `num_layers * width`).
    precision : "fp32" or "bf16"
        bf16 runs the encoder under autocast; the fbank is always computed in float32.
    chunk_seconds : float
        Longest audio encoded in one pass (default: the trained 10-s context).
    batch_seconds : float, optional
        Audio per encoder pass across clips (default 40 s on CPU, 640 s on CUDA).
    labels : dict, optional
        Class names of a fine-tuned checkpoint (`label_dict`), index -> name.
    processing : BEATsFbank
        The fbank normalisation statistics (BEATs' own by default).
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model: BEATs,
        layer: int | str = -1,
        precision: str = "fp32",
        chunk_seconds: float = TRAINED_CONTEXT_SECONDS,
        batch_seconds: float | None = None,
        labels: dict[int, str] | None = None,
        name: str = "beats",
        processing: BEATsFbank = BEATS_FBANK,
    ):
        super().__init__()
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.name, self.precision, self.labels, self.processing = name, precision, labels, processing
        self.frontend = KaldiFbank()
        self.model = model.eval()
        self.layers = self._resolve_layer(layer, model.num_layers)
        self.layer = layer
        self.frames_per_step = model.patch_size
        self.frequency_patches = model.frequency_patches(NUM_MEL_BINS)
        self.min_samples = frame_sample_span(0, self.frames_per_step)[1]
        self.chunk_steps = num_frames(int(chunk_seconds * SAMPLE_RATE)) // self.frames_per_step
        if self.chunk_steps < 1:
            raise ValueError(f"chunk_seconds {chunk_seconds} is shorter than one BEATs time step (0.175 s)")
        if batch_seconds is not None and batch_seconds <= 0:
            raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
        self.chunk_seconds, self.batch_seconds = chunk_seconds, batch_seconds
        self.timestamp_embedding_size = model.embedding_size * len(self.layers)
        self.scene_embedding_size = self.timestamp_embedding_size
        self.step_ms = 1000.0 * self.frames_per_step * FRAME_SHIFT / SAMPLE_RATE
        self.first_centre_ms = _frame_centre_ms((self.frames_per_step - 1) / 2)
        self.eval()

    @staticmethod
    def _resolve_layer(layer: int | str, num_layers: int) -> list[int]:
        if layer == "all":
            return list(range(num_layers))
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise ValueError(f"layer must be an int or 'all', got {layer!r}")
        if not -num_layers <= layer < num_layers:
            raise ValueError(f"layer {layer} is out of range for a {num_layers}-layer BEATs (use 0..{num_layers - 1})")
        return [layer % num_layers]

    # ----------------------------------------------------------------------------------------------
    # HEAR entry points: audio (n_sounds, n_samples) float32 at 16 kHz on the model's device, already checked.

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) -> embeddings (B, S, D) and centred timestamps in ms (B, S), S = time steps of the clip."""
        steps = [features.mean(dim=2) for features in self._step_features(audio)]
        embeddings = torch.cat(steps, dim=1)
        if audio.shape[1] < self.min_samples:
            timestamps = torch.full((1,), 500.0 * audio.shape[1] / SAMPLE_RATE, device=audio.device)
        else:
            step_index = torch.arange(embeddings.shape[1], device=audio.device, dtype=torch.float64)
            timestamps = (self.first_centre_ms + self.step_ms * step_index).float()
        return embeddings, timestamps.expand(audio.shape[0], -1).contiguous()

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, D): mean over all patches (every time step and frequency patch) of the clip."""
        total, count = 0.0, 0
        for features in self._step_features(audio):  # summed chunk by chunk: memory does not grow with length
            total = total + features.sum(dim=(1, 2))
            count += features.shape[1] * features.shape[2]
        return total / count

    @torch.no_grad()
    def class_probabilities(self, audio: torch.Tensor) -> torch.Tensor:
        """Fine-tuned checkpoints: (B, N) -> (B, classes), sigmoid of the logits averaged over all patches.

        Names of the classes are in `labels` when the checkpoint carried a `label_dict`.
        """
        if self.model.predictor is None:
            raise ValueError(f"{self.name} is a pre-trained checkpoint; class probabilities need a fine-tuned one")
        total, count = 0.0, 0
        for features in self._step_features(audio, last_layer_only=True):
            total = total + self.model.patch_logits(features).float().sum(dim=(1, 2))
            count += features.shape[1] * features.shape[2]
        return torch.sigmoid(total / count)

    # ----------------------------------------------------------------------------------------------

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def _chunk_bounds(self, total_steps: int) -> list[tuple[int, int]]:
        """Nearly equal chunks of at most `chunk_steps` time steps (no sliver of a chunk at the end)."""
        count = math.ceil(total_steps / self.chunk_steps)
        edges = [round(i * total_steps / count) for i in range(count + 1)]
        return list(zip(edges[:-1], edges[1:]))

    def _step_features(self, audio: torch.Tensor, last_layer_only: bool = False):
        """Yield (B, steps, 8, D) patch features of consecutive chunks of time steps."""
        if audio.shape[1] < self.min_samples:
            audio = audio.repeat(1, math.ceil(self.min_samples / audio.shape[1]))[:, : self.min_samples]
        layers = [self.model.num_layers - 1] if last_layer_only else self.layers
        frames = self.frames_per_step
        total_steps = num_frames(audio.shape[1]) // frames
        default_batch = 640.0 if audio.device.type == "cuda" else 40.0
        chunk_samples = min(self.chunk_steps, total_steps) * frames * FRAME_SHIFT
        per_group = max(1, int((self.batch_seconds or default_batch) * SAMPLE_RATE // chunk_samples))
        for first, end in self._chunk_bounds(total_steps):
            start_sample, stop_sample = frame_sample_span(first * frames, end * frames)
            pieces = []
            for group in audio[:, start_sample:stop_sample].split(per_group):
                # Exactly (end - first) * 16 frames: the whole-clip fbank rows of this chunk.
                fbank = normalise_beats_fbank(self.frontend(group), self.processing)
                with self._autocast(group.device):
                    outputs = self.model.layer_outputs(fbank, max(layers) + 1)
                    selected = torch.cat([outputs[i] for i in layers], dim=-1)
                pieces.append(selected.float().view(len(group), end - first, self.frequency_patches, -1))
            yield torch.cat(pieces)
