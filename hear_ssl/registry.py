"""The model zoo: every named model hear-ssl knows, in one table.

A `ModelSpec` says how to build the model (encoder, front-end, normalisation, timestamp framing) and where
its weights come from: the official checkpoint a user brings (file name, size and sha256 where the
authors published them), a Hugging Face Hub repo, or a default bundled in `weights/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import EncoderConfig, FramingConfig, FrontEndConfig, NormConfig

BYOLA_FRONTEND = FrontEndConfig(win_length=1024)
SERAB_FRONTEND = FrontEndConfig(win_length=400)
BYOLA_NORM = NormConfig(mode="fixed", mean=-5.4919195, std=5.0389895)
SERAB_NORM = NormConfig(mode="per_input")


@dataclass(frozen=True)
class OfficialCheckpoint:
    """A published checkpoint users download themselves (none is redistributable by us)."""

    filename: str
    source: str
    license: str
    num_bytes: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    encoder: EncoderConfig
    frontend: FrontEndConfig = BYOLA_FRONTEND
    norm: NormConfig = BYOLA_NORM
    framing: FramingConfig = field(default_factory=FramingConfig)
    official: OfficialCheckpoint | None = None
    # `hf://owner/repo/file[@revision]` of hear-ssl weights on the Hub, when published.
    hub: str | None = None
    # File name in `weights/` of the bundled default trained by hear-ssl's pretraining engine.
    bundled: str | None = None

    @property
    def embedding_size(self) -> int:
        if self.encoder.arch == "cvt":
            return self.encoder.cvt_dims[-1] * self.encoder.n_mels // 16
        return self.encoder.d


BYOLA_SOURCE = "https://github.com/nttcslab/byol-a (v1/pretrained_weights)"
BYOLA2_SOURCE = "https://github.com/nttcslab/byol-a (v2/pretrained_weights)"
NTT_LICENSE = "NTT software evaluation license: internal evaluation only, no redistribution"
SERAB_SOURCE = "https://github.com/GasserElbanna/serab-byols (checkpoints/)"
SERAB_LICENSE = "serab-byols repository license (MIT code; weights trained on AudioSet speech subset)"

_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="byol-a-512",
            description="BYOL-A v1, AudioNTT2020 d=512, AudioSet-pretrained (Niizumi et al. 2021)",
            encoder=EncoderConfig(arch="audiontt2020", d=512),
            official=OfficialCheckpoint(
                filename="AudioNTT2020-BYOLA-64x96d512.pth",
                source=BYOLA_SOURCE,
                license=NTT_LICENSE,
                num_bytes=2_410_576,
                sha256="6cc64226318494f06ef41d7e5810be7d37abfd6490da45abdab48f188c5332e2",
            ),
        ),
        ModelSpec(
            name="byol-a-1024",
            description="BYOL-A v1, AudioNTT2020 d=1024, AudioSet-pretrained",
            encoder=EncoderConfig(arch="audiontt2020", d=1024),
            official=OfficialCheckpoint("AudioNTT2020-BYOLA-64x96d1024.pth", BYOLA_SOURCE, NTT_LICENSE),
        ),
        ModelSpec(
            name="byol-a-2048",
            description="BYOL-A v1, AudioNTT2020 d=2048, AudioSet-pretrained",
            encoder=EncoderConfig(arch="audiontt2020", d=2048),
            official=OfficialCheckpoint("AudioNTT2020-BYOLA-64x96d2048.pth", BYOLA_SOURCE, NTT_LICENSE),
            bundled="hear-ssl-byol-audiontt2020-d2048.safetensors",
        ),
        ModelSpec(
            name="byol-a2-2048",
            description="BYOL-A v2, AudioNTT2022 d=2048, AudioSet-pretrained (Niizumi et al. 2023)",
            encoder=EncoderConfig(arch="audiontt2022", d=2048),
            official=OfficialCheckpoint("AudioNTT2022-BYOLA-64x96d2048.pth", BYOLA2_SOURCE, NTT_LICENSE),
        ),
        ModelSpec(
            name="byol-s",
            description="BYOL-S, AudioNTT2020 d=2048 on speech (serab-byols, HEAR 2021 submission)",
            encoder=EncoderConfig(arch="audiontt2020", d=2048),
            frontend=SERAB_FRONTEND,
            norm=SERAB_NORM,
            official=OfficialCheckpoint(
                filename="default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth",
                source=SERAB_SOURCE,
                license=SERAB_LICENSE,
                num_bytes=21_297_232,
                sha256="902dfff8ed4ed1546275b14eb2114901cbfc2c9efe737ce97c7aeb582b6057a4",
            ),
            bundled="hear-ssl-byol-audiontt2020-d2048.safetensors",
        ),
        ModelSpec(
            name="byol-s-cvt",
            description="Hybrid BYOL-S/CvT: BYOL + openSMILE-feature loss (serab-byols, HEAR 2021 submission)",
            encoder=EncoderConfig(arch="cvt"),
            frontend=SERAB_FRONTEND,
            norm=SERAB_NORM,
            # Attention spans the whole input, so each timestamp window is encoded on its own.
            framing=FramingConfig(window_ms=1000.0, hop_ms=50.0, pool_frames=False),
            official=OfficialCheckpoint(
                filename="cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-osandbyolaloss6373-e100-bs256-lr0003-rs42.pth",
                source=SERAB_SOURCE,
                license=SERAB_LICENSE,
            ),
            bundled="hear-ssl-hybrid-cvt.safetensors",
        ),
        ModelSpec(
            name="audio-barlow-twins",
            description="Audio Barlow Twins, AudioNTT2022 d=3072 (Anton et al. 2023)",
            encoder=EncoderConfig(arch="audiontt2022", d=3072),
            frontend=FrontEndConfig(n_fft=1024, win_length=400),
            norm=SERAB_NORM,
            framing=FramingConfig(window_ms=950.0, hop_ms=50.0),
            official=OfficialCheckpoint(
                filename="(not published as a file; see the authors' repository)",
                source="https://github.com/jonahanton/SSL_audio",
                license="see the authors' repository",
            ),
            bundled="hear-ssl-barlow-twins-audiontt2022-d2048.safetensors",
        ),
    ]
}


def available_models() -> list[str]:
    return list(_MODELS)


def get_spec(name: str) -> ModelSpec:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(_MODELS)}") from None
