"""HEAR model over a Conformer wav2vec 2.0 encoder: log-mel front-end, corpus standardisation, chunked encoding.

Timestamp embeddings are one block's output (the last by default) per 40-ms step: step s covers log-mel
frames 4s .. 4s + 3, so it is stamped at the centre of those frames, (4s + 1.5) x 10 ms. Clips are encoded in
chunks of `chunk_seconds` (default 10 s, the paper's AudioSet clip length; attention spans one chunk), whose
steps are concatenated; the scene embedding is the mean over all steps of the clip. A clip shorter than one
step is padded with the corpus mean (0 after standardisation) to one step.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..audio import LogMelSpectrogram
from ..config import FrontEndConfig, NormConfig
from ..conformer_config import ConformerConfig
from ..models.conformer import ConformerEncoder

PRECISIONS = ("fp32", "bf16")


class ConformerEmbedder(nn.Module):
    """A HEAR model over a `ConformerEncoder`.

    Parameters
    ----------
    config : the encoder.
    frontend, norm : the log-mel front-end and the corpus statistics it was trained with (`norm.mode` "fixed").
    layer : int, optional
        One block's output (0-based, negative from the end); default the last block.
    precision : "fp32" or "bf16" (autocast for the encoder; the front-end stays fp32).
    chunk_seconds : float
        Audio per attention span.
    """

    def __init__(
        self,
        config: ConformerConfig,
        frontend: FrontEndConfig,
        norm: NormConfig,
        name: str = "",
        layer: int | None = None,
        precision: str = "fp32",
        chunk_seconds: float = 10.0,
    ):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if layer is not None and not -config.layers <= layer < config.layers:
            raise ValueError(
                f"layer must be in [{-config.layers}, {config.layers}) for this {config.layers}-block model"
            )
        if norm.mode != "fixed":
            raise ValueError(
                f"a Conformer is standardised with its corpus statistics (norm mode 'fixed'), got {norm.mode!r}"
            )
        if frontend.n_mels != config.n_mels:
            raise ValueError(f"front-end has {frontend.n_mels} mel bands, the encoder reads {config.n_mels}")
        frames = int(chunk_seconds * frontend.sample_rate / frontend.hop_length) // config.stride * config.stride
        if frames < config.stride:
            raise ValueError(f"chunk_seconds {chunk_seconds} is shorter than one {config.stride}-frame step")
        self.name, self.precision, self.chunk_frames = name, precision, frames
        self.layer = config.layers - 1 if layer is None else layer % config.layers
        self.frontend = LogMelSpectrogram(frontend)
        self.norm = norm
        self.encoder = ConformerEncoder(config)
        self.sample_rate = frontend.sample_rate
        self.scene_embedding_size = self.timestamp_embedding_size = config.dim
        self.eval()

    @torch.no_grad()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) checked audio -> embeddings (B, S, D) and step centres in ms (B, S)."""
        stride = self.encoder.config.stride
        mel = (self.frontend(audio) - self.norm.mean) / self.norm.std  # (B, F, T)
        if mel.shape[-1] < stride:
            mel = F.pad(mel, (0, stride - mel.shape[-1]))
        pieces = []
        for start in range(0, mel.shape[-1], self.chunk_frames):
            chunk = mel[..., start : start + self.chunk_frames]
            if chunk.shape[-1] < stride:
                break  # a tail shorter than one step gives none (never the first chunk)
            with self._autocast(chunk.device):
                outputs = self.encoder.context(self.encoder.features(chunk), self.layer + 1)
            pieces.append(outputs[self.layer].float())
        embeddings = torch.cat(pieces, dim=1)
        frame_ms = 1000.0 * self.frontend.config.hop_length / self.sample_rate
        steps = torch.arange(embeddings.shape[1], device=audio.device, dtype=torch.float32)
        centres = (steps * stride + (stride - 1) / 2) * frame_ms
        return embeddings, centres.expand(len(audio), -1).contiguous()

    @torch.no_grad()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, D): the mean of the clip's timestamp embeddings."""
        return self.timestamp_embeddings(audio)[0].mean(dim=1)

    def _autocast(self, device: torch.device):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
