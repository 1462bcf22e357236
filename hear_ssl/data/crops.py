"""Random fixed-length log-mel crops from a shard cache, in an order that resumes exactly.

The corpus is cut into segments of `crop_frames` (the last, shorter tail of a file is its own segment only
when the file is shorter than one crop). An epoch visits every segment once in a seeded random order; each
visit takes a crop starting at a seeded random offset inside its segment (`jitter`), so crops cover the
whole corpus without being tied to a grid. Everything random is a function of (seed, epoch, position), so
the sampler's whole state is two integers: checkpoint them and a resumed run draws the same batches.
Under DDP each rank takes every `world_size`-th segment of the same permutation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..audio import LOG_EPS
from .cache import read_manifest

# log(0 + eps): the log-mel of digital silence, used to pad clips shorter than a crop (as zero-padding the
# waveform would). A cache front-end with another floor records its own `silence` in the manifest (tempo TCN).
SILENCE = math.log(LOG_EPS)


class LogMelCrops:
    """Batches of (B, 1, n_mels, crop_frames) float32 log-mel crops.

    Parameters
    ----------
    cache_dir : str or Path
        A finished cache from `build_logmel_cache`.
    crop_frames : int
        Frames per crop; 96 frames at a 10 ms hop is BYOL-A's 0.95 s segment.
    seed : int
        Base seed of the order and the crop offsets.
    jitter : bool
        Random offset inside each segment (True), or the segment's start (False: fixed crops, whose
        handcrafted features can be precomputed).
    rank, world_size : int
        This process's share of every epoch under DDP.
    max_segments_per_file : int, optional
        Use at most this many evenly spaced segments of each file, so a few long tracks cannot dominate.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        crop_frames: int = 96,
        seed: int = 0,
        jitter: bool = True,
        rank: int = 0,
        world_size: int = 1,
        max_segments_per_file: int | None = None,
    ):
        if crop_frames < 1:
            raise ValueError(f"crop_frames must be positive, got {crop_frames}")
        manifest = read_manifest(cache_dir)
        self.cache_dir = Path(cache_dir)
        self.n_mels = manifest["frontend"]["n_mels"]
        self.silence = float(manifest["frontend"].get("silence", SILENCE))
        self.crop_frames, self.seed, self.jitter = crop_frames, seed, jitter
        self.rank, self.world_size = rank, world_size
        self.shards = [np.load(self.cache_dir / s["name"], mmap_mode="r") for s in manifest["shards"]]
        # One row per segment: shard, first frame of the file in the shard, file length, segment start.
        rows = []
        self.paths = []
        for shard_index, shard in enumerate(manifest["shards"]):
            for entry in shard["files"]:
                file_index = len(self.paths)
                self.paths.append(entry["path"])
                count = max(1, entry["frames"] // crop_frames)
                starts = np.arange(count) * crop_frames
                if max_segments_per_file and count > max_segments_per_file:
                    starts = starts[np.linspace(0, count - 1, max_segments_per_file).round().astype(int)]
                for start in starts:
                    rows.append((shard_index, entry["offset"], entry["frames"], int(start), file_index))
        self.segments = np.asarray(rows, dtype=np.int64)
        if len(self.segments) < world_size:
            raise ValueError(f"{len(self.segments)} segments cannot be shared by {world_size} ranks")
        self.epoch, self.position = 0, 0
        self._order = None

    def select(self, segment_indices: np.ndarray) -> None:
        """Keep only these segments (e.g. those with precomputed features), in the given order.

        Segment ids returned by `next_batch` afterwards index the selection.
        """
        segment_indices = np.asarray(segment_indices, dtype=np.int64)
        if len(segment_indices) < self.world_size:
            raise ValueError(f"{len(segment_indices)} segments cannot be shared by {self.world_size} ranks")
        self.segments = self.segments[segment_indices]
        self.epoch, self.position, self._order = 0, 0, None

    def __len__(self) -> int:
        """Segments this rank visits per epoch."""
        return len(self.segments) // self.world_size

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "num_segments": len(self.segments)}

    def load_state_dict(self, state: dict) -> None:
        if state["num_segments"] != len(self.segments):
            raise ValueError(
                f"checkpoint was taken on a corpus of {state['num_segments']} segments, this one has "
                f"{len(self.segments)}: resume with the same --data, cache and crop settings"
            )
        self.epoch, self.position, self._order = state["epoch"], state["position"], None

    def _epoch_order(self) -> np.ndarray:
        if self._order is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            perm = rng.permutation(len(self.segments))
            # Equal share per rank: drop the remainder so all ranks step in lockstep.
            self._order = perm[: len(self) * self.world_size][self.rank :: self.world_size]
        return self._order

    def crop(self, segment_index: int) -> np.ndarray:
        """(n_mels, crop_frames) float32 crop of one segment for the current epoch."""
        shard, offset, frames, start, _ = self.segments[segment_index]
        data = self.shards[shard]
        if frames <= self.crop_frames:
            out = np.full((self.n_mels, self.crop_frames), self.silence, dtype=np.float32)
            # Short clips land at a random place in the crop, as a random pad of the waveform would.
            room = self.crop_frames - frames
            at = int(np.random.default_rng([self.seed, self.epoch, segment_index, 1]).integers(0, room + 1))
            out[:, at : at + frames] = data[:, offset : offset + frames]
            return out
        begin = start
        if self.jitter:
            # Anywhere from this segment's start to the next one's, staying inside the file.
            latest = min(start + self.crop_frames, frames - self.crop_frames)
            rng = np.random.default_rng([self.seed, self.epoch, segment_index])
            begin = int(rng.integers(min(start, latest), latest + 1))
        return np.asarray(data[:, offset + begin : offset + begin + self.crop_frames], dtype=np.float32)

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next `batch_size` crops of this rank, moving to the next epoch when one ends.

        Returns
        -------
        crops : Tensor (batch_size, 1, n_mels, crop_frames) float32
        segment_ids : Tensor (batch_size,) int64, indices into `self.segments`
        """
        ids = []
        while len(ids) < batch_size:
            order = self._epoch_order()
            take = order[self.position : self.position + batch_size - len(ids)]
            ids.extend(int(i) for i in take)
            self.position += len(take)
            if self.position >= len(order):
                self.epoch, self.position, self._order = self.epoch + 1, 0, None
        crops = np.stack([self.crop(i) for i in ids])[:, None]
        return torch.from_numpy(crops), torch.tensor(ids, dtype=torch.int64)
