"""BYOL-A's log-mel augmentations, batched so they run on the training device.

Recipe (Niizumi et al., BYOL-A v1 2021 and v2 2023), applied to each view of a normalised log-mel crop:

1. Mixup with a memory of past samples, in the linear-power domain ("log-mixup-exp"):
   y = log((1 - lam) exp(x) + lam exp(m)), lam ~ U(0, 0.4), m drawn from the last 2048 samples seen.
2. Random resize crop: place the crop on a virtual canvas 1.0x as tall and 1.5x as wide (zeros around),
   cut a box of 0.6-1.5x the input's height and width (clipped to the canvas), resize it back bicubically.
3. Random linear fader (v2): add a straight line from `head` to `tail`, both ~ U(-1, 1), over time.

The official code augments one sample at a time in dataloader workers. `BYOLAugment` does the same maths
for a whole (B, 1, F, T) batch at once (the random crop becomes one `grid_sample`), keeps its memory as a
ring buffer on the device and draws from its own `torch.Generator`, whose state and memory are part of the
checkpoint so a resumed run augments exactly as an uninterrupted one. `per_sample_augment` is the
one-clip-at-a-time reference used by `benchmarks/pretrain_speed.py` for comparison.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn


def log_mixup_exp(x: torch.Tensor, other: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """log((1 - lam) exp(x) + lam exp(other)); `lam` broadcasts against x (e.g. shape (B, 1, 1, 1))."""
    # logaddexp keeps this finite for very negative or positive log-mels.
    return torch.logaddexp(x + torch.log1p(-lam), other + torch.log(lam.clamp_min(1e-12)))


def crop_boxes(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    device,
    virtual_scale: tuple[float, float] = (1.0, 1.5),
    freq_scale: tuple[float, float] = (0.6, 1.5),
    time_scale: tuple[float, float] = (0.6, 1.5),
) -> torch.Tensor:
    """Random crop boxes in input pixel coordinates, shape (B, 4): top, left, box height, box width.

    Boxes live on the virtual canvas (input centred, zeros around), so they may extend past the input.
    """
    canvas_h, canvas_w = int(height * virtual_scale[0]), int(width * virtual_scale[1])
    u = torch.rand(batch, 4, generator=generator, device=device)
    box_h = (height * (freq_scale[0] + (freq_scale[1] - freq_scale[0]) * u[:, 0])).floor().clamp(1, canvas_h)
    box_w = (width * (time_scale[0] + (time_scale[1] - time_scale[0]) * u[:, 1])).floor().clamp(1, canvas_w)
    top = ((canvas_h - box_h + 1) * u[:, 2]).floor() - (canvas_h - height) // 2
    left = ((canvas_w - box_w + 1) * u[:, 3]).floor() - (canvas_w - width) // 2
    return torch.stack([top, left, box_h, box_w], dim=1)


def resize_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Cut each box out of x (B, C, H, W), zeros outside the input, and resize it to (H, W) bicubically.

    Output pixel k samples the box at top + k * (box_h - 1) / (H - 1), as `interpolate(align_corners=True)`
    would on the cropped canvas.
    """
    batch, _, height, width = x.shape
    steps_h = torch.linspace(0, 1, height, device=x.device, dtype=x.dtype)
    steps_w = torch.linspace(0, 1, width, device=x.device, dtype=x.dtype)
    boxes = boxes.to(x.dtype)
    rows = boxes[:, :1] + steps_h[None] * (boxes[:, 2:3] - 1)  # (B, H) input row coordinates
    cols = boxes[:, 1:2] + steps_w[None] * (boxes[:, 3:4] - 1)  # (B, W)
    # grid_sample wants normalised (x, y) in [-1, 1] with align_corners=True meaning pixel centres at +-1.
    grid_y = (2 * rows / max(height - 1, 1) - 1)[:, :, None].expand(batch, height, width)
    grid_x = (2 * cols / max(width - 1, 1) - 1)[:, None, :].expand(batch, height, width)
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="zeros", align_corners=True)


def time_windows(x: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Frames [start, start + length) of each clip of x (B, C, F, T); starts (B,) int64."""
    index = (starts[:, None] + torch.arange(length, device=x.device))[:, None, None, :]
    return x.gather(3, index.expand(x.shape[0], x.shape[1], x.shape[2], length))


def time_stretch(x: torch.Tensor, start: torch.Tensor, rate: torch.Tensor, length: int) -> torch.Tensor:
    """Resample each clip of x (B, C, F, T) along time: output frame k is input frame start + k * rate.

    start, rate : Tensor (B,) in frames and input frames per output frame; linear interpolation, with the
    read positions kept inside the input (they must be, for the rate to be the one applied).
    """
    batch, _, height, width = x.shape
    positions = start[:, None] + rate[:, None] * torch.arange(length, device=x.device, dtype=x.dtype)  # (B, L)
    grid_x = (2 * positions / max(width - 1, 1) - 1)[:, None, :].expand(batch, height, length)
    rows = torch.linspace(-1, 1, height, device=x.device, dtype=x.dtype)
    grid_y = rows[None, :, None].expand(batch, height, length)
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


class BYOLAugment(nn.Module):
    """Two augmented views of a batch of normalised log-mels, BYOL-A recipe, on the batch's device.

    Parameters
    ----------
    memory_size : int
        Past samples kept for mixup (BYOL-A: 2048).
    mixup_ratio : float
        Upper bound of the mixing weight lam (BYOL-A: 0.4). 0 disables mixup.
    fader_gain : float
        Range of the linear fader's end points (BYOL-A v2: 1.0). 0 disables the fader.
    seed : int
        Seed of the augmentation generator.
    """

    def __init__(
        self,
        memory_size: int = 2048,
        mixup_ratio: float = 0.4,
        virtual_scale: tuple[float, float] = (1.0, 1.5),
        freq_scale: tuple[float, float] = (0.6, 1.5),
        time_scale: tuple[float, float] = (0.6, 1.5),
        fader_gain: float = 1.0,
        seed: int = 0,
    ):
        super().__init__()
        self.memory_size, self.mixup_ratio, self.fader_gain = memory_size, mixup_ratio, fader_gain
        self.virtual_scale, self.freq_scale, self.time_scale = virtual_scale, freq_scale, time_scale
        self.seed = seed
        self.generator = None  # created on first use, on the batch's device
        self.register_buffer("memory", torch.zeros(0), persistent=False)
        self.filled = 0  # samples in memory
        self.cursor = 0  # next slot to overwrite

    def _generator(self, device) -> torch.Generator:
        if self.generator is None or self.generator.device != torch.device(device):
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(self.seed)
        return self.generator

    def _mixup(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.mixup_ratio <= 0 or self.filled == 0:
            return x
        batch = x.shape[0]
        lam = self.mixup_ratio * torch.rand(batch, 1, 1, 1, generator=generator, device=x.device)
        pick = torch.randint(0, self.filled, (batch,), generator=generator, device=x.device)
        return log_mixup_exp(x, self.memory[pick], lam)

    def _remember(self, x: torch.Tensor) -> None:
        if self.mixup_ratio <= 0 or self.memory_size <= 0:
            return
        if self.memory.shape[1:] != x.shape[1:] or self.memory.device != x.device:
            self.memory = torch.zeros((self.memory_size, *x.shape[1:]), dtype=x.dtype, device=x.device)
            self.filled = self.cursor = 0
        x = x.detach()[-self.memory_size :]
        slots = (self.cursor + torch.arange(x.shape[0], device=x.device)) % self.memory_size
        self.memory[slots] = x
        self.cursor = (self.cursor + x.shape[0]) % self.memory_size
        self.filled = min(self.filled + x.shape[0], self.memory_size)

    def _one_view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._crop_and_fade(self._mixup(x, generator), generator)

    def _crop_and_fade(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, _, height, width = x.shape
        boxes = crop_boxes(
            batch, height, width, generator, x.device, self.virtual_scale, self.freq_scale, self.time_scale
        )
        return self._fade(resize_crop(x, boxes), generator)

    def _fade(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.fader_gain <= 0:
            return x
        batch, width = x.shape[0], x.shape[-1]
        ends = self.fader_gain * (2 * torch.rand(batch, 2, generator=generator, device=x.device) - 1)
        ramp = torch.linspace(0, 1, width, device=x.device, dtype=x.dtype)
        return x + (ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * ramp)[:, None, None, :]

    def generator_on(self, device) -> torch.Generator:
        """The checkpointed generator, on `device`: objectives draw their other random choices (crop offsets,
        masks) from it too, so one saved state makes them all resume exactly."""
        return self._generator(device)

    @torch.no_grad()
    def view(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, T) -> one augmented view (mixup with the memory, resize crop, fader); memory unchanged."""
        return self._one_view(x, self._generator(x.device))

    @torch.no_grad()
    def remember(self, x: torch.Tensor) -> None:
        """Add a batch (B, 1, F, T) to the mixup memory."""
        self._remember(x)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, F, T) normalised log-mels -> two independently augmented views of the same shape.

        Both views mix with memory from previous batches only; the batch is remembered afterwards.
        """
        if x.dim() != 4:
            raise ValueError(f"expected log-mels (batch, 1, n_mels, frames), got {tuple(x.shape)}")
        generator = self._generator(x.device)
        views = self._one_view(x, generator), self._one_view(x, generator)
        self._remember(x)
        return views

    @torch.no_grad()
    def multi_crop(self, x: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
        """Views of different lengths for multi-crop objectives (DINO): one view (B, 1, F, L) per entry.

        Each view mixes with memory at full length, then takes a random window of L frames per clip
        (`time_windows`), then the resize crop and fader at that length. The batch is remembered afterwards.
        """
        if x.dim() != 4:
            raise ValueError(f"expected log-mels (batch, 1, n_mels, frames), got {tuple(x.shape)}")
        if any(not 0 < length <= x.shape[-1] for length in lengths):
            raise ValueError(f"crop lengths {lengths} must lie in 1..{x.shape[-1]} (the crop length)")
        generator = self._generator(x.device)
        views = []
        for length in lengths:
            mixed = self._mixup(x, generator)
            starts = torch.randint(0, x.shape[-1] - length + 1, (x.shape[0],), generator=generator, device=x.device)
            views.append(self._crop_and_fade(time_windows(mixed, starts, length), generator))
        self._remember(x)
        return views

    @torch.no_grad()
    def stretched_views(
        self, x: torch.Tensor, rate_range: tuple[float, float], length: int, views: int = 2
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Time-stretched views with known rates, for equivariant objectives (tempo).

        Each clip of x (B, 1, F, T) gets `views` rates r ~ U(rate_range) and a random start; view frame k
        reads the input at start + k * r (linear interpolation), so r > 1 plays the clip faster (tempo x r).
        Only the fader follows: mixup and the resize crop would change the tempo by an unknown factor.

        Returns
        -------
        views : list of Tensor (B, 1, F, length)
        rates : Tensor (views, B) float32, the rate of each view
        """
        low, high = rate_range
        if not 0 < low <= high:
            raise ValueError(f"rate range must be 0 < low <= high, got {rate_range}")
        if (length - 1) * high > x.shape[-1] - 1:
            raise ValueError(
                f"{length} frames at rate {high} need {int((length - 1) * high) + 1} input frames, the crop has "
                f"{x.shape[-1]}; lower the view length or the highest rate"
            )
        generator = self._generator(x.device)
        batch = x.shape[0]
        rates = low + (high - low) * torch.rand(views, batch, generator=generator, device=x.device)
        out = []
        for rate in rates:
            room = (x.shape[-1] - 1) - (length - 1) * rate
            start = room * torch.rand(batch, generator=generator, device=x.device)
            view = time_stretch(x, start, rate, length)
            out.append(self._fade(view, generator))
        return out, rates.float()

    def augment_state(self) -> dict:
        """Generator state and mixup memory: what a checkpoint needs for an exact resume."""
        return {
            "generator": None if self.generator is None else self.generator.get_state(),
            "generator_device": None if self.generator is None else str(self.generator.device),
            # A copy: the live buffer keeps changing after the state is taken.
            "memory": self.memory[: self.filled].detach().to("cpu", copy=True),
            "filled": self.filled,
            "cursor": self.cursor,
        }

    def load_augment_state(self, state: dict, device) -> None:
        if state["generator"] is not None:
            self.generator = torch.Generator(device=device)
            self.generator.set_state(state["generator"])
        self.filled, self.cursor = state["filled"], state["cursor"]
        memory = state["memory"].to(device)
        if self.filled:
            self.memory = torch.zeros((self.memory_size, *memory.shape[1:]), dtype=memory.dtype, device=device)
            self.memory[: memory.shape[0]] = memory
        else:
            self.memory = torch.zeros(0, device=device)


def normalize_batch(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """BYOL-A's post-augmentation normalisation: one mean and std over the batch, frequency and time."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(eps)
    return (x - mean) / std


def per_sample_augment(x: torch.Tensor, memory: list, rng: random.Random, mixup_ratio=0.4, memory_size=2048):
    """One clip (1, F, T) at a time, as the official dataloader does: mixup, resize crop, fader.

    The reference path for speed comparisons; `memory` is a list of past clips updated in place.
    """
    if memory and mixup_ratio > 0:
        lam = torch.tensor(mixup_ratio * rng.random())
        x_mixed = log_mixup_exp(x, memory[rng.randrange(len(memory))], lam)
    else:
        x_mixed = x
    memory.append(x)
    del memory[:-memory_size]
    _, height, width = x.shape
    canvas_h, canvas_w = int(height * 1.0), int(width * 1.5)
    canvas = x_mixed.new_zeros(1, canvas_h, canvas_w)
    top0, left0 = (canvas_h - height) // 2, (canvas_w - width) // 2
    canvas[:, top0 : top0 + height, left0 : left0 + width] = x_mixed
    box_h = min(max(int(height * rng.uniform(0.6, 1.5)), 1), canvas_h)
    box_w = min(max(int(width * rng.uniform(0.6, 1.5)), 1), canvas_w)
    i, j = rng.randint(0, canvas_h - box_h), rng.randint(0, canvas_w - box_w)
    crop = canvas[:, i : i + box_h, j : j + box_w]
    out = F.interpolate(crop[None], size=(height, width), mode="bicubic", align_corners=True)[0]
    head, tail = rng.uniform(-1, 1), rng.uniform(-1, 1)
    return out + torch.linspace(head, tail, width)[None, None, :]
