"""The model zoo: every architecture and every set of weights hear-ssl knows, in one table.

Names are timm-style `architecture.tag`: `byol-a-2048` is a network (what the encoder is, which HEAR
module serves it), `byol-a-2048.official` and `byol-a-2048.vibcreg` are sets of weights. A
name without a tag means the architecture's `default_tag`.

An `Architecture` is generic: `family` names the HEAR module `hear_ssl.<family>` that builds and serves
it, and `config` is that family's own frozen config dataclass (the log-mel encoders below use
`LogMelEncoder`; other families bring theirs). A `Weights` entry says where its file comes from (a URL
the user downloads it from, a Hub repo at a pinned commit, or the `weights/` bundle), its key layout,
licence, size, sha256, and the processing it was trained with (`processing`, the family's own dataclass
too). `hear_ssl.weights.resolve_weights` turns an entry into a local file.

Regenerate the model-zoo tables of docs/models.md after editing the table:

    python -m hear_ssl.zoo_docs docs/models.md
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from .atst_config import ATSTArchitecture, ATSTProcessing
from .config import EncoderConfig, FramingConfig, FrontEndConfig, NormConfig
from .conformer_config import VARIANTS as CONFORMER_VARIANTS
from .conformer_config import ConformerProcessing
from .decar_config import DECARConfig, DECARProcessing
from .delores_config import DeLoResConfig, DeLoResProcessing
from .tempo_config import TempoProcessing, TempoTCNConfig
from .wavlm_config import WAVLM_BASE, WAVLM_LARGE, WavLMProcessing

# Key layouts a weights file can have. "official": the authors' release as published (usually a bare
# state dict; its processing comes from the registry). "hear-ssl": safetensors written by `hear-ssl
# export`, carrying its configs in the metadata.
FORMATS = ("official", "hear-ssl", "transformers")  # "transformers": a Hugging Face transformers snapshot
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FamilyConfig(Protocol):
    """What every `Architecture.config` offers the registry (for listings and the docs table)."""

    @property
    def embedding_size(self) -> int: ...

    def num_parameters(self) -> int: ...

    def describe(self) -> str: ...

    def describe_timestamps(self) -> str: ...


class Processing(Protocol):
    """What every `Weights.processing` offers: a one-cell summary of the input pipeline it was trained with."""

    def describe(self) -> str: ...


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face Hub model repository, pinned to one commit (a moved branch cannot change it).

    The path inside the repository is the entry's `Weights.filename`.
    """

    repo_id: str
    revision: str

    def __post_init__(self):
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo_id):
            raise ValueError(f"Hub repo_id must be 'owner/name', got {self.repo_id!r}")
        if not _COMMIT.fullmatch(self.revision):
            raise ValueError(f"Hub revision must be a full 40-hex commit hash (pinned), got {self.revision!r}")


@dataclass(frozen=True)
class Architecture:
    """A network: `config` (the family's dataclass) says what it is, `family` which `hear_ssl.<family>` serves it."""

    name: str
    family: str
    config: FamilyConfig
    default_tag: str
    description: str

    def __post_init__(self):
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"architecture name {self.name!r}: lowercase letters, digits and '-' only")

    @property
    def module(self) -> str:
        return f"hear_ssl.{self.family}"

    @property
    def embedding_size(self) -> int:
        return self.config.embedding_size


@dataclass(frozen=True)
class Weights:
    """One set of weights for an architecture, and everything needed to find, trust and use its file.

    A file is found, in order, on the Hub (`hub`), then in the bundle (`bundled`); `url` is where a user
    downloads it by hand when neither applies (official releases we may not redistribute).
    """

    architecture: str
    tag: str
    format: str
    license: str
    redistributable: bool
    processing: Processing
    description: str
    filename: str | None = None
    num_bytes: int | None = None
    sha256: str | None = None
    url: str | None = None
    hub: HubFile | None = None
    bundled: bool = False

    def __post_init__(self):
        if not _NAME.fullmatch(self.tag):
            raise ValueError(f"weights tag {self.tag!r}: lowercase letters, digits and '-' only")
        if self.format not in FORMATS:
            raise ValueError(f"{self.name}: format must be one of {FORMATS}, got {self.format!r}")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits")
        if (self.hub or self.bundled) and not (self.filename and self.sha256 and self.num_bytes):
            raise ValueError(f"{self.name}: Hub and bundled weights need filename, num_bytes and sha256")
        if self.bundled and not self.redistributable:
            raise ValueError(f"{self.name}: weights that may not be redistributed cannot be bundled")

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}"


# --------------------------------------------------------------------------------------------------
# The log-mel encoder family (BYOL-A, BYOL-S, hybrid CvT, Audio Barlow Twins: `hear_ssl/hear.py`).


@dataclass(frozen=True)
class LogMelEncoder:
    """Family config of the log-mel encoders: the network and how its timestamp embeddings are framed."""

    encoder: EncoderConfig
    framing: FramingConfig = field(default_factory=FramingConfig)

    @property
    def embedding_size(self) -> int:
        if self.encoder.arch == "cvt":
            return self.encoder.cvt_dims[-1] * self.encoder.n_mels // 16
        return self.encoder.d

    def num_parameters(self) -> int:
        import torch

        from .models import build_encoder

        with torch.device("meta"):  # shapes only: no memory, no init cost
            return sum(p.numel() for p in build_encoder(self.encoder).parameters())

    def describe(self) -> str:
        e = self.encoder
        if e.arch == "cvt":
            join = "/".join
            return (
                f"CvT, stages {join(map(str, e.cvt_dims))}, depth {join(map(str, e.cvt_depths))}, "
                f"heads {join(map(str, e.cvt_heads))}"
            )
        return f"{ {'audiontt2020': 'AudioNTT2020', 'audiontt2022': 'AudioNTT2022'}[e.arch] }, d={e.d}"

    def describe_timestamps(self) -> str:
        f = self.framing
        how = "pooled frames" if f.pool_frames else "window by window"
        return f"{f.window_ms:g} ms / {f.hop_ms:g} ms, {how}"


@dataclass(frozen=True)
class LogMelProcessing:
    """Processing the log-mel weights were trained with: front-end and normalisation."""

    frontend: FrontEndConfig
    norm: NormConfig

    def describe(self) -> str:
        fe, norm = self.frontend, self.norm
        stats = f"fixed norm (mean {norm.mean:.8g}, std {norm.std:.8g})" if norm.mode == "fixed" else "per-input norm"
        return f"log-mel n_fft {fe.n_fft}, win {fe.win_length}; {stats}"


@dataclass(frozen=True)
class ModelSpec:
    """A log-mel model ready to build: architecture and weights resolved into the four configs."""

    name: str
    encoder: EncoderConfig
    frontend: FrontEndConfig
    norm: NormConfig
    framing: FramingConfig
    weights: Weights | None = None

    @property
    def embedding_size(self) -> int:
        return LogMelEncoder(self.encoder, self.framing).embedding_size

    @property
    def bundled(self) -> str | None:
        """File name in `weights/` when these weights ship with hear-ssl."""
        return self.weights.filename if self.weights is not None and self.weights.bundled else None


BYOLA_PROCESSING = LogMelProcessing(
    FrontEndConfig(win_length=1024), NormConfig(mode="fixed", mean=-5.4919195, std=5.0389895)
)
SERAB_PROCESSING = LogMelProcessing(FrontEndConfig(win_length=400), NormConfig(mode="per_input"))
# hear-ssl's own training recipe: BYOL-A front-end, fixed normalisation (the statistics of the Debian corpus).
HEAR_SSL_PROCESSING = LogMelProcessing(
    FrontEndConfig(win_length=1024), NormConfig(mode="fixed", mean=-1.8957760274132196, std=5.537358876472917)
)
WINDOW_BY_WINDOW = FramingConfig(window_ms=1000.0, hop_ms=50.0, pool_frames=False)

# Training data of the equal-budget defaults: the 41 Debian packages of the extended corpus (licence per package in
# the model card and weights/README.md).
EXTENDED_CORPUS_LICENSE = (
    "trained on openly licensed Debian sound packages (GPL-2+, CC-BY-SA-3.0/4.0, CC-BY-3.0, CC0, MIT, LGPL, BSD, "
    "public domain; per package in the model card)"
)
BYOLA_URL = "https://github.com/nttcslab/byol-a/tree/master/v1/pretrained_weights"
BYOLA2_URL = "https://github.com/nttcslab/byol-a/tree/master/v2/pretrained_weights"
SERAB_URL = "https://github.com/GasserElbanna/serab-byols/tree/main/checkpoints"
NTT_LICENSE = "NTT software evaluation license: internal evaluation only, no redistribution"
SERAB_LICENSE = "MIT (the serab-byols repository license)"


def _official_byola(d: int, num_bytes: int | None = None, sha256: str | None = None, v2: bool = False) -> Weights:
    return Weights(
        architecture=f"byol-a{'2' if v2 else ''}-{d}",
        tag="official",
        format="official",
        license=NTT_LICENSE,
        redistributable=False,
        processing=BYOLA_PROCESSING,
        description=f"BYOL-A v{'2' if v2 else '1'} authors' AudioSet weights",
        filename=f"{'AudioNTT2022' if v2 else 'AudioNTT2020'}-BYOLA-64x96d{d}.pth",
        num_bytes=num_bytes,
        sha256=sha256,
        url=BYOLA2_URL if v2 else BYOLA_URL,
    )


_LOGMEL_ARCHITECTURES = [
    Architecture(
        "byol-a-512", "byol_a", LogMelEncoder(EncoderConfig(arch="audiontt2020", d=512)), "official",
        "BYOL-A v1, AudioNTT2020 d=512 (Niizumi et al. 2021)",
    ),
    Architecture(
        "byol-a-1024", "byol_a", LogMelEncoder(EncoderConfig(arch="audiontt2020", d=1024)), "official",
        "BYOL-A v1, AudioNTT2020 d=1024",
    ),
    Architecture(
        # The default is the equal-budget winner (docs/pretraining-defaults.md); the BYOL one failed the rule.
        "byol-a-2048", "byol_a", LogMelEncoder(EncoderConfig(arch="audiontt2020", d=2048)), "vibcreg",
        "BYOL-A v1, AudioNTT2020 d=2048",
    ),
    Architecture(
        "byol-a2-2048", "byol_a", LogMelEncoder(EncoderConfig(arch="audiontt2022", d=2048)), "official",
        "BYOL-A v2, AudioNTT2022 d=2048 (Niizumi et al. 2023)",
    ),
    Architecture(
        "byol-s", "byol_s", LogMelEncoder(EncoderConfig(arch="audiontt2020", d=2048)), "serab",
        "BYOL-S, AudioNTT2020 d=2048 on speech (serab-byols, HEAR 2021 submission)",
    ),
    Architecture(
        # Attention spans the whole input, so each timestamp window is encoded on its own.
        # No hear-ssl default: the hybrid weights failed the shipping rule (docs/pretraining-defaults.md).
        "byol-s-cvt", "hybrid", LogMelEncoder(EncoderConfig(arch="cvt"), WINDOW_BY_WINDOW), "serab",
        "Hybrid BYOL-S/CvT: BYOL + handcrafted-feature loss (serab-byols, HEAR 2021 submission)",
    ),
    Architecture(
        "audio-barlow-twins", "barlow_twins",
        LogMelEncoder(EncoderConfig(arch="audiontt2022", d=3072), FramingConfig(window_ms=950.0, hop_ms=50.0)),
        "official", "Audio Barlow Twins, AudioNTT2022 d=3072 (Anton et al. 2023)",
    ),
    Architecture(
        "audio-barlow-twins-2048", "barlow_twins", LogMelEncoder(EncoderConfig(arch="audiontt2022", d=2048)),
        "user", "Barlow Twins objective on AudioNTT2022 d=2048 (hear-ssl's training recipe; no bundled weights)",
    ),
]  # fmt: skip

_LOGMEL_WEIGHTS = [
    _official_byola(512, 2_410_576, "6cc64226318494f06ef41d7e5810be7d37abfd6490da45abdab48f188c5332e2"),
    _official_byola(1024),
    _official_byola(2048),
    Weights(
        architecture="byol-a-2048",
        tag="vibcreg",
        format="hear-ssl",
        license=EXTENDED_CORPUS_LICENSE,
        redistributable=True,
        processing=LogMelProcessing(
            FrontEndConfig(win_length=1024), NormConfig(mode="fixed", mean=-2.3083469630753797, std=5.253365637737478)
        ),
        description="VIbCReg, 30 steps x 16 crops on an 800-file sample of the extended Debian corpus "
        "(the equal-budget winner of hear_ssl.byol_a, docs/pretraining-defaults.md)",
        filename="hear-ssl-vibcreg-audiontt2020-d2048.safetensors",
        num_bytes=10647456,
        sha256="19e0ce7a1f97c66e382b02f9c444f3a34d7ec61807b65bdb2dac3072606ca983",
        bundled=True,
    ),
    _official_byola(2048, v2=True),
    Weights(
        architecture="byol-s",
        tag="serab",
        format="official",
        license=SERAB_LICENSE,
        redistributable=True,
        processing=SERAB_PROCESSING,
        description="serab-byols BYOL-S, AudioSet speech subset",
        filename="default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth",
        num_bytes=21_297_232,
        sha256="902dfff8ed4ed1546275b14eb2114901cbfc2c9efe737ce97c7aeb582b6057a4",
        url=SERAB_URL,
    ),
    Weights(
        architecture="byol-s-cvt",
        tag="serab",
        format="official",
        license=SERAB_LICENSE,
        redistributable=True,
        processing=SERAB_PROCESSING,
        description="serab-byols hybrid CvT (BYOL + openSMILE loss), AudioSet speech subset",
        filename="cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-osandbyolaloss6373-e100-bs256-lr0003-rs42.pth",
        url=SERAB_URL,
    ),
    Weights(
        architecture="audio-barlow-twins",
        tag="official",
        format="official",
        license="see the authors' repository",
        redistributable=False,
        processing=LogMelProcessing(FrontEndConfig(n_fft=1024, win_length=400), NormConfig(mode="per_input")),
        description="authors' weights (not published as a file)",
        url="https://github.com/jonahanton/SSL_audio",
    ),
    Weights(
        architecture="audio-barlow-twins-2048",
        tag="user",
        format="hear-ssl",
        license="user-provided: weights you train (hear-ssl pretrain --objective barlow_twins) and export",
        redistributable=False,
        processing=HEAR_SSL_PROCESSING,
        description="none bundled (hear-ssl's failed the shipping rule, docs/pretraining-defaults.md); a "
        "`hear-ssl export` file of an AudioNTT2022 d=2048 encoder, its embedded configs used",
    ),
]

# --------------------------------------------------------------------------------------------------
# WavLM (`hear_ssl/wavlm.py`): the official `{'cfg','model'}` releases and the transformers snapshots on the
# Hub. Neither source publishes sizes or sha256, and the Hub commits could not be looked up here, so the Hub
# entries give the repository to download from by hand (unpinned) rather than a pinned `HubFile`.

WAVLM_README = "https://github.com/microsoft/unilm/tree/master/wavlm#pre-trained-models"
WAVLM_LICENSE = "MIT (microsoft/unilm repository licence); no separate terms stated for the weights"
WAVLM_HUB_LICENSE = "not declared in the Hub card metadata (checked for base, base+); see the model card"

_WAVLM_ARCHITECTURES = [
    Architecture(
        "wavlm-base", "wavlm", WAVLM_BASE, "official", "WavLM Base (Chen et al. 2022), LibriSpeech 960 h"
    ),
    Architecture(
        "wavlm-base-plus", "wavlm", WAVLM_BASE, "official",
        "WavLM Base+, 94k h (Libri-Light 60k, GigaSpeech 10k, VoxPopuli 24k)",
    ),
    Architecture(
        "wavlm-large", "wavlm", WAVLM_LARGE, "official",
        "WavLM Large, 94k h (Libri-Light 60k, GigaSpeech 10k, VoxPopuli 24k)",
    ),
]  # fmt: skip


def _wavlm_weights(architecture: str, official_file: str, hub_repo: str, normalize: bool) -> list[Weights]:
    processing = WavLMProcessing(normalize)
    official = Weights(
        architecture=architecture,
        tag="official",
        format="official",
        license=WAVLM_LICENSE,
        redistributable=False,
        processing=processing,
        description="authors' {'cfg','model'} checkpoint (Azure blob / Google Drive links in the README)",
        filename=official_file,
        url=WAVLM_README,
    )
    hub = Weights(
        architecture=architecture,
        tag="hf",
        format="transformers",
        license=WAVLM_HUB_LICENSE,
        redistributable=False,
        processing=processing,
        description=f"{hub_repo} transformers snapshot (config.json + pytorch_model.bin); revision not pinned",
        filename="pytorch_model.bin",
        url=f"https://huggingface.co/{hub_repo}",
    )
    return [official, hub]


_WAVLM_WEIGHTS = [
    *_wavlm_weights("wavlm-base", "WavLM-Base.pt", "microsoft/wavlm-base", normalize=False),
    *_wavlm_weights("wavlm-base-plus", "WavLM-Base+.pt", "microsoft/wavlm-base-plus", normalize=False),
    *_wavlm_weights("wavlm-large", "WavLM-Large.pt", "microsoft/wavlm-large", normalize=True),
]

# --------------------------------------------------------------------------------------------------
# BEATs (`hear_ssl/beats.py`): Microsoft's releases, linked from microsoft/unilm `beats/README.md` (@ 768a3c8).
# Every iteration is the same network (BEATS_BASE); its file carries that config as `cfg`. Each has the
# pre-trained model and two AudioSet-2M fine-tuned checkpoints (527 classes, a `predictor` and a `label_dict`).
# Microsoft publishes no sizes or checksums. File names are those the OneDrive downloads carry.

BEATS_LICENSE = "MIT (microsoft/unilm LICENSE; beats/README.md puts the project under it)"
BEATS_ONEDRIVE = "https://1drv.ms/u/s!AqeByhGUtINrg"
BEATS_FINETUNED_TAGS = ("as2m-cpt1", "as2m-cpt2")
# file stem: (tokenizer, OneDrive share of the pre-trained model, then of fine-tuned cpt1 and cpt2)
_BEATS_RELEASES = {
    "iter1": ("random-projection tokenizer", "cpmY7IHhgc9q0pT7Q?e=uQuisJ",
              "cpuRfRZmco2XulmFw?e=f2INHa", "cpyMlTmnRh0Wp_Qgg?e=sgzv8H"),
    "iter2": ("Tokenizer_iter2", "cpwwEGgUyiI-jQyQw?e=1rP1RI",
              "cp4l547zKa7xPqy8w?e=rsLdPr", "cp5APbt_2bdIQvX0w?e=2cd2ry"),
    "iter3": ("Tokenizer_iter3", "cpxJUNDxg4eU0r-vA?e=qezPJ5",
              "cplb48ll1zIt82eWQ?e=XyxrX7", "cptb4S-CeJnlJGtZA?e=2FyDy3"),
    "iter3_plus_AS20K": ("Tokenizer_iter3+ (AS20K)", "cpvdNz8-aYim60CIg?e=53V8pg",
                         "cp2YHUCT1uZx2Kysw?e=nvu1Dw", "cp092af0h7P3kXKFA?e=kUkPhN"),
    "iter3_plus_AS2M": ("Tokenizer_iter3+ (AS2M)", "cpke6_lRSZEKD5j2Q?e=A3FpOf",
                        "cpoZecQbiXeaUjN8A?e=DasbeC", "cpj8ujXH1YUtxooEg?e=E9Ncea"),
}  # fmt: skip


def _beats_block() -> tuple[list[Architecture], list[Weights]]:
    from .beats_config import BEATS_BASE, BEATS_FBANK

    architectures, weights = [], []
    for stem, (tokenizer, pretrained, *finetuned) in _BEATS_RELEASES.items():
        name = "beats-" + stem.lower().replace("_", "-")
        about = f"BEATs {stem.replace('_plus_', '+ ')}, AudioSet-2M pre-trained with {tokenizer}"
        architectures.append(Architecture(name, "beats", BEATS_BASE, "official", about + " (Chen et al. 2022)"))
        common = dict(architecture=name, format="official", license=BEATS_LICENSE, redistributable=True,
                      processing=BEATS_FBANK)  # fmt: skip
        weights.append(
            Weights(
                **common,
                tag="official",
                description="pre-trained",
                filename=f"BEATs_{stem}.pt",
                url=BEATS_ONEDRIVE + pretrained,
            )
        )
        for tag, share in zip(BEATS_FINETUNED_TAGS, finetuned):
            weights.append(
                Weights(
                    **common,
                    tag=tag,
                    description=f"fine-tuned on AudioSet-2M (527 classes), {tag[-4:]}",
                    filename=f"BEATs_{stem}_finetuned_on_AS2M_{tag[-4:]}.pt",
                    url=BEATS_ONEDRIVE + share,
                )
            )
    return architectures, weights


_BEATS_ARCHITECTURES, _BEATS_WEIGHTS = _beats_block()


# ATST-Clip and ATST-Frame (`hear_ssl/atst.py`). Checkpoints: CC BY 4.0, downloaded by the user (the authors
# publish no sizes or sha256); ATST-Frame's are Google Drive links without a file name.

ATST_LICENSE = "CC BY 4.0 (audiossl LICENSE: checkpoints; code MIT)"
ATST_CLIP_URL = "https://checkpointstorage.oss-cn-beijing.aliyuncs.com/atst/"
ATST_FRAME_URLS = {
    "small": "https://drive.google.com/file/d/1xZoOTuxV415icYONYbeFQzgrmJQf4a4B",
    "base": "https://drive.google.com/file/d/1bGJSZWlAIIJ6GL5Id5dW0PTB72DL-QDQ",
}

_ATST_ARCHITECTURES = [
    Architecture(
        f"atst-{kind}-{variant}", "atst", ATSTArchitecture.official(kind, variant), "official",
        f"ATST-{kind.capitalize()} {variant} (Li et al. {'2022' if kind == 'clip' else '2024'}, audiossl)",
    )
    for kind in ("clip", "frame")
    for variant in ("small", "base")
]  # fmt: skip

_ATST_WEIGHTS = [
    Weights(
        architecture=f"atst-clip-{variant}",
        tag="official",
        format="official",
        license=ATST_LICENSE,
        redistributable=True,
        processing=ATSTProcessing(),
        description=f"authors' AudioSet ATST-Clip {variant} (Lightning checkpoint, teacher encoder)",
        filename=f"{variant}.ckpt",
        url=ATST_CLIP_URL + f"{variant}.ckpt",
    )
    for variant in ("small", "base")
] + [
    Weights(
        architecture=f"atst-frame-{variant}",
        tag="official",
        format="official",
        license=ATST_LICENSE,
        redistributable=True,
        processing=ATSTProcessing(),
        description=f"authors' AudioSet ATST-Frame {variant} (Lightning checkpoint, teacher encoder)",
        url=ATST_FRAME_URLS[variant],
    )
    for variant in ("small", "base")
]

# --------------------------------------------------------------------------------------------------
# The equivariant tempo TCN (`hear_ssl/tempo.py`). Its published weights (ISC-style licence) are bundled,
# converted to safetensors by `hear_ssl.tempo.convert_official` (model card weights/tempo-tcn-quinton2022.md).

TEMPO_LICENSE = "ISC-style, Copyright 2023 Elio Quinton (redistribution with the notice)"
TEMPO_URL = "https://github.com/Quint-e/equivariant-self-supervision-tempo/tree/main/pretrained_model"

_TEMPO_ARCHITECTURES = [
    Architecture(
        "tempo-tcn", "tempo", TempoTCNConfig(), "bundled",
        "Equivariant self-supervised tempo TCN, 44.1 kHz (Quinton, ISMIR 2022)",
    ),
]  # fmt: skip

_TEMPO_WEIGHTS = [
    Weights(
        architecture="tempo-tcn",
        tag="official",
        format="official",
        license=TEMPO_LICENSE,
        redistributable=True,
        processing=TempoProcessing(),
        description="the author's MagnaTagATune weights as published (bare state dict, CUDA tensors)",
        filename="TCN-pretrained-220204-1729-002-8b0f9fa5.pt",
        num_bytes=144_036,
        sha256="d67671facad6eab88889a6f72845b512220dbb5fa830dac0611faabd99f1eebf",
        url=TEMPO_URL,
    ),
    Weights(
        architecture="tempo-tcn",
        tag="bundled",
        format="hear-ssl",
        license=TEMPO_LICENSE,
        redistributable=True,
        processing=TempoProcessing(),
        description="the published weights converted to safetensors, tensors unchanged",
        filename="tempo-tcn-quinton2022.safetensors",
        num_bytes=121_220,
        sha256="e6e370bfe4762427810bd8113fed04d8b62b00100bda6fa2d0f8e7a23f850e2b",
        bundled=True,
    ),
]

# DeLoRes-S / -M (LAPE, `hear_ssl/delores.py`) and DECAR (`hear_ssl/decar.py`). Their authors publish no
# weights (and no licence), so the only tag is "user": a checkpoint the user trained with the official code,
# in its official layout.

_USER_WEIGHTS_LICENSE = "user-provided; none published (the authors' repositories have no licence file)"

_DELORES_ARCHITECTURES = [
    Architecture(
        "delores-s", "delores", DeLoResConfig("delores-s"), "user",
        "DeLoRes-S (LAPE), Barlow-Twins-style decorrelation on AudioNTT2020 d=2048 (Ghosh et al. 2022)",
    ),
    Architecture(
        "delores-m", "delores", DeLoResConfig("delores-m"), "user",
        "DeLoRes-M (LAPE), MoCo + per-layer decorrelation on AudioNTT2020 d=2048 (Ghosh et al. 2022)",
    ),
]  # fmt: skip
_DELORES_WEIGHTS = [
    Weights(
        architecture=name,
        tag="user",
        format="official",
        license=_USER_WEIGHTS_LICENSE,
        redistributable=False,
        processing=DeLoResProcessing(),
        description=f"user-provided; none published. A LAPE upstream Lightning .ckpt (state_dict with {layout}) "
        "or a bare AudioNTT2020Task6 state dict (features_1..3.*, fc.*)",
    )
    for name, layout in (("delores-s", "encoder.encoder.*"), ("delores-m", "encoder_q.encoder.*"))
]
_DECAR_ARCHITECTURES = [
    Architecture(
        "decar", "decar", DECARConfig(), "user",
        "DECAR, DeepCluster on EfficientNet-B0 (1 channel), 1280-d pooled embedding (Ghosh et al. 2022)",
    ),
]  # fmt: skip
_DECAR_WEIGHTS = [
    Weights(
        architecture="decar",
        tag="user",
        format="official",
        license=_USER_WEIGHTS_LICENSE,
        redistributable=False,
        processing=DECARProcessing(),
        description="user-provided; none published. A DECAR upstream checkpoint {'epoch', 'state_dict', "
        "'optimizer'} with model_efficient.module.* keys (or without module.), or a bare EfficientNet-B0 state dict",
    ),
]

# Conformer wav2vec 2.0 (`hear_ssl/conformer.py`). Its authors publish no weights: the only tag is "user", a
# file the user trained with `hear-ssl pretrain --objective conformer_w2v2` and exported with `hear-ssl export`.

_CONFORMER_ARCHITECTURES = [
    Architecture(
        f"conformer-w2v2-{variant}", "conformer", config, "user",
        f"Conformer wav2vec 2.0 {variant} (Srivastava et al. 2022)"
        + (", the paper's size" if variant != "4x192" else ", a CPU-sized member"),
    )
    for variant, config in CONFORMER_VARIANTS.items()
]  # fmt: skip
_CONFORMER_WEIGHTS = [
    Weights(
        architecture=f"conformer-w2v2-{variant}",
        tag="user",
        format="hear-ssl",
        license="user-provided; the authors publish no weights",
        redistributable=False,
        processing=ConformerProcessing(),
        description="user-provided; none published. A `hear-ssl export` (.safetensors) of a `hear-ssl pretrain "
        "--objective conformer_w2v2` checkpoint of this size",
    )
    for variant in CONFORMER_VARIANTS
]

# One block per family; a new family appends its own two lists here (see docs/models.md).
_ARCHITECTURE_TABLE: list[Architecture] = [
    *_LOGMEL_ARCHITECTURES,
    *_BEATS_ARCHITECTURES,
    *_ATST_ARCHITECTURES,
    *_TEMPO_ARCHITECTURES,
    *_DELORES_ARCHITECTURES,
    *_DECAR_ARCHITECTURES,
    *_CONFORMER_ARCHITECTURES,
    *_WAVLM_ARCHITECTURES,
]
_WEIGHTS_TABLE: list[Weights] = [
    *_LOGMEL_WEIGHTS,
    *_ATST_WEIGHTS,
    *_TEMPO_WEIGHTS,
    *_DELORES_WEIGHTS,
    *_DECAR_WEIGHTS,
    *_CONFORMER_WEIGHTS,
    *_BEATS_WEIGHTS,
    *_WAVLM_WEIGHTS,
]


def _index():
    architectures: dict[str, Architecture] = {}
    for arch in _ARCHITECTURE_TABLE:
        if arch.name in architectures:
            raise ValueError(f"architecture {arch.name!r} is registered twice")
        architectures[arch.name] = arch
    weights: dict[str, Weights] = {}
    for entry in _WEIGHTS_TABLE:
        if entry.architecture not in architectures:
            raise ValueError(f"weights {entry.name!r} name an unregistered architecture")
        if entry.name in weights:
            raise ValueError(f"weights {entry.name!r} are registered twice")
        weights[entry.name] = entry
    for arch in architectures.values():
        if f"{arch.name}.{arch.default_tag}" not in weights:
            raise ValueError(f"{arch.name}: default tag {arch.default_tag!r} has no weights entry")
    return architectures, weights


_ARCHITECTURES, _WEIGHTS = _index()


def split_name(name: str) -> tuple[str, str | None]:
    """`"byol-a-2048.official"` -> `("byol-a-2048", "official")`; `"byol-a-2048"` -> `("byol-a-2048", None)`."""
    if not isinstance(name, str):
        raise TypeError(f"a model name is a string, got {type(name).__name__}")
    architecture, _, tag = name.partition(".")
    return architecture, tag or None


def available_models(family: str | None = None) -> list[str]:
    """Architecture names (each loads its default weights), optionally only those `hear_ssl.<family>` serves."""
    return [name for name, arch in _ARCHITECTURES.items() if family is None or arch.family == family]


def available_weights(architecture: str | None = None) -> list[str]:
    """Every `architecture.tag` name, optionally for one architecture."""
    return [name for name, entry in _WEIGHTS.items() if architecture is None or entry.architecture == architecture]


def get_architecture(name: str) -> Architecture:
    """The architecture of `name` (tagged or not); ValueError listing the known ones otherwise."""
    architecture, _ = split_name(name)
    try:
        return _ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(_ARCHITECTURES)}") from None


def get_weights(name: str) -> Weights:
    """The weights entry of `architecture.tag`, or of the architecture's default tag when `name` has none."""
    arch = get_architecture(name)
    tag = split_name(name)[1] or arch.default_tag
    try:
        return _WEIGHTS[f"{arch.name}.{tag}"]
    except KeyError:
        known = ", ".join(available_weights(arch.name))
        raise ValueError(f"unknown weights {name!r}; {arch.name} has: {known}") from None


def get_spec(name: str) -> ModelSpec:
    """A log-mel model's configs: the architecture's encoder and framing, the weights' front-end and norm."""
    entry = get_weights(name)
    arch = get_architecture(name)
    if not isinstance(arch.config, LogMelEncoder):
        raise ValueError(f"{name} is a {arch.family} model, not a log-mel encoder; use hear_ssl.{arch.family}")
    processing = entry.processing
    return ModelSpec(entry.name, arch.config.encoder, processing.frontend, processing.norm, arch.config.framing, entry)
