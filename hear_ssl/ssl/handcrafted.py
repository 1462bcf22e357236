"""Handcrafted features of a segment: the regression targets of the hybrid objective.

Two sources:

* `opensmile` (when the package is installed): openSMILE functionals of the segment's waveform, e.g. the
  ComParE 2016 set (6373 features) that the HEAR 2021 hybrid BYOL-S regressed, or eGeMAPS v02 (88).
  They need the waveform, so `opensmile_segment_features` computes them once per fixed segment of the
  log-mel cache and stores them beside it (resumable).
* `torch`: a documented set computed from the log-mel crop itself, on the training device, in batch
  (`logmel_features`). No extra dependency; used when openSMILE is not installed and in the CI smoke test.

Targets are standardised per feature (`Standardiser`) so every feature weighs the same in the MSE.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_open

OPENSMILE_SETS = {"compare_2016": "ComParE_2016", "egemaps_v02": "eGeMAPSv02"}
FEATURE_SETS = ("torch",) + tuple(OPENSMILE_SETS)


def logmel_features(logmel: torch.Tensor) -> torch.Tensor:
    """The torch handcrafted set: 5 * n_mels + 13 features per crop, from the *unnormalised* log-mel.

    Per band (n_mels each): mean and std of the log-mel over time, mean absolute frame-to-frame change,
    10th and 90th percentile over time. Per frame, then summarised by mean and std over time: loudness
    (log of the summed mel power), spectral centroid and spread (in band units), spectral flatness
    (geometric over arithmetic mean of mel power), spectral flux (mean squared log-mel change).
    Plus the minimum, maximum and linear-trend slope of loudness.

    Parameters
    ----------
    logmel : Tensor (B, 1, n_mels, T) or (B, n_mels, T), T >= 2

    Returns
    -------
    Tensor (B, 5 * n_mels + 13) float32
    """
    x = logmel.float()
    if x.dim() == 4:
        x = x[:, 0]
    if x.dim() != 3 or x.shape[-1] < 2:
        raise ValueError(f"expected log-mels (batch, [1,] n_mels, frames>=2), got {tuple(logmel.shape)}")
    batch, n_mels, frames = x.shape
    power = x.exp()
    bands = torch.arange(n_mels, device=x.device, dtype=x.dtype)[None, :, None]
    total = power.sum(1, keepdim=True).clamp_min(1e-12)
    loudness = total.log()[:, 0]  # (B, T)
    centroid = (power * bands).sum(1, keepdim=True) / total
    spread = ((power * (bands - centroid).square()).sum(1, keepdim=True) / total).sqrt()
    flatness = x.mean(1) - (total / n_mels).log()[:, 0]  # log geometric mean - log arithmetic mean
    flux = (x[:, :, 1:] - x[:, :, :-1]).square().mean(1)  # (B, T - 1)
    time = torch.linspace(-1, 1, frames, device=x.device, dtype=x.dtype)
    slope = ((loudness - loudness.mean(1, keepdim=True)) * time).sum(1) / time.square().sum()
    quantiles = torch.quantile(x, torch.tensor([0.1, 0.9], device=x.device, dtype=x.dtype), dim=2)
    per_band = [x.mean(2), x.std(2), (x[:, :, 1:] - x[:, :, :-1]).abs().mean(2), quantiles[0], quantiles[1]]
    per_frame = [loudness, centroid[:, 0], spread[:, 0], flatness, flux]
    summaries = [torch.stack([f.mean(1), f.std(1)], dim=1) for f in per_frame]
    extremes = torch.stack([loudness.amin(1), loudness.amax(1), slope], dim=1)
    return torch.cat(per_band + summaries + [extremes], dim=1)


def num_torch_features(n_mels: int) -> int:
    return 5 * n_mels + 13


class Standardiser(torch.nn.Module):
    """Per-feature (x - mean) / std with statistics fitted once; constant features get std 1."""

    def __init__(self, num_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> Standardiser:
        features = torch.nan_to_num(features.double())
        self.mean.copy_(features.mean(0))
        std = features.std(0)
        self.std.copy_(torch.where(std > 1e-6 * (1 + features.abs().mean(0)), std, torch.ones_like(std)))
        return self

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (torch.nan_to_num(features.float()) - self.mean) / self.std


def opensmile_available() -> bool:
    try:
        import opensmile  # noqa: F401
    except ImportError:
        return False
    return True


def opensmile_segment_features(
    segments: np.ndarray,
    paths: list[str],
    crop_frames: int,
    hop_length: int,
    feature_set: str,
    out_path: str | Path,
    progress: bool = True,
    save_every: int = 200,
) -> np.ndarray:
    """openSMILE functionals of fixed log-mel segments, cached at `out_path` (.npz) and resumable.

    Parameters
    ----------
    segments : ndarray (N, 5) int64
        Rows of `LogMelCrops.segments` (shard, offset, file frames, start frame, file index).
    paths : list of str
        `LogMelCrops.paths`, indexed by the rows' file index.
    crop_frames, hop_length : int
        Segment length in frames and the front-end hop: a segment starting at frame s covers waveform
        samples [s * hop, (s + crop_frames - 1) * hop), the span its centred STFT frames are centred on.
    feature_set : {"compare_2016", "egemaps_v02"}

    Returns
    -------
    ndarray (N, K) float32, rows in the order of `segments`.
    """
    if feature_set not in OPENSMILE_SETS:
        raise ValueError(f"unknown openSMILE feature set {feature_set!r}; choose from {sorted(OPENSMILE_SETS)}")
    if not opensmile_available():
        raise ImportError("the opensmile package is not installed: `pip install opensmile`, or use --features torch")
    import opensmile
    from tqdm import tqdm

    from ..audio import SAMPLE_RATE, load_audio

    out_path = Path(out_path)
    key = json.dumps({"set": feature_set, "crop": crop_frames, "hop": hop_length, "rows": segments[:, 3:].tolist()})
    smile = opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, OPENSMILE_SETS[feature_set]),
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    features = np.full((len(segments), len(smile.feature_names)), np.nan, dtype=np.float32)
    done_files: set[int] = set()
    if out_path.exists():
        saved = np.load(out_path)
        if str(saved["key"]) != key:
            raise ValueError(f"{out_path} holds features of other segments; delete it or pick another path")
        features, done_files = saved["features"], set(saved["done_files"].tolist())

    def save():
        with atomic_open(out_path, "wb") as handle:
            np.savez(handle, features=features, done_files=np.array(sorted(done_files), dtype=np.int64), key=key)

    by_file = defaultdict(list)
    for row, segment in enumerate(segments):
        by_file[int(segment[4])].append(row)
    todo = [f for f in sorted(by_file) if f not in done_files]
    length = (crop_frames - 1) * hop_length
    for count, file_index in enumerate(tqdm(todo, desc=f"openSMILE {feature_set}", disable=not progress), 1):
        waveform = load_audio(paths[file_index])
        for row in by_file[file_index]:
            start = int(segments[row, 3]) * hop_length
            piece = waveform[start : start + length]
            features[row] = smile.process_signal(piece, SAMPLE_RATE).to_numpy()[0]
        done_files.add(file_index)
        if count % save_every == 0:
            save()
    save()
    return features
