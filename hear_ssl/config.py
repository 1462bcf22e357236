"""Typed configs that travel with the weights: front-end, encoder, normalisation and framing.

A checkpoint saved by hear-ssl stores these as plain dicts; `from_dict` rebuilds them, rejecting unknown
fields so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


class _DictMixin:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; known fields: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class FrontEndConfig(_DictMixin):
    """Log-mel front-end; defaults are BYOL-A's (win 1024). BYOL-S / serab-byols use win_length=400."""

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 60.0
    f_max: float = 7800.0


@dataclass(frozen=True)
class EncoderConfig(_DictMixin):
    """One encoder architecture; variants (width, depth) are data, not subclasses.

    arch: "audiontt2020" (BYOL-A v1 / BYOL-S), "audiontt2022" (BYOL-A v2 / Audio Barlow Twins), "cvt"
    (hybrid BYOL-S). `d` is the output (embedding) size for the AudioNTT family; for CvT it is derived
    (last stage width x n_mels / 16).
    """

    arch: str = "audiontt2020"
    n_mels: int = 64
    d: int = 2048
    # AudioNTT2022 only: hidden width of its MLP.
    mlp_hidden_d: int = 2048
    # CvT only: per-stage widths, depths, heads, MLP ratio.
    cvt_dims: tuple = (64, 256, 512)
    cvt_depths: tuple = (1, 1, 1)
    cvt_heads: tuple = (1, 3, 6)
    cvt_mlp_mult: int = 4

    def __post_init__(self):
        # JSON round-trips turn tuples into lists; keep the dataclass hashable and comparable.
        for name in ("cvt_dims", "cvt_depths", "cvt_heads"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.arch not in ("audiontt2020", "audiontt2022", "cvt"):
            raise ValueError(f"unknown encoder arch {self.arch!r}; expected audiontt2020, audiontt2022 or cvt")


@dataclass(frozen=True)
class NormConfig(_DictMixin):
    """How log-mels are standardised before the encoder.

    mode "fixed": (x - mean) / std with dataset statistics (BYOL-A and our trained models).
    mode "per_input": statistics of the input itself, as the serab-byols HEAR 2021 modules (BYOL-S, hybrid)
    do. By default each clip (each timestamp window) is standardised by its own log-mel mean and std, so
    an embedding never depends on what else is in the batch. `serab_compat` reproduces the published
    code instead: scene statistics averaged over all clips of the call, and the timestamp path's
    statistics taken over all windows of the call and then divided by their number (an upstream quirk),
    for reproducing its HEAR 2021 numbers exactly.
    """

    mode: str = "fixed"
    mean: float = -5.4919195
    std: float = 5.0389895
    serab_compat: bool = False

    def __post_init__(self):
        if self.mode not in ("fixed", "per_input"):
            raise ValueError(f"unknown normalisation mode {self.mode!r}; expected 'fixed' or 'per_input'")
        if self.serab_compat and self.mode != "per_input":
            raise ValueError("serab_compat applies only to mode='per_input'")
        if self.mode == "fixed" and not self.std > 0:
            raise ValueError(f"normalisation std must be positive, got {self.std}")


@dataclass(frozen=True)
class FramingConfig(_DictMixin):
    """Timestamp embeddings: a window of `window_ms` centred every `hop_ms`.

    With `pool_frames` the encoder runs once over the whole clip and each window pools the encoder frames
    it covers (convolutional encoders, whose frames depend only on a local receptive field); otherwise each
    window is encoded on its own (CvT attends across the whole window).
    """

    window_ms: float = 1000.0
    hop_ms: float = 50.0
    pool_frames: bool = True
