"""Encoders are key-for-key compatible with the official checkpoints and reproduce their outputs."""

import re

import numpy as np
import pytest
import torch

import hear_ssl.byol_a as byol_a
from hear_ssl.audio import LogMelSpectrogram
from hear_ssl.config import EncoderConfig
from hear_ssl.models import build_encoder
from hear_ssl.registry import LogMelEncoder, available_models, get_architecture, get_spec

LOGMEL_MODELS = [name for name in available_models() if isinstance(get_architecture(name).config, LogMelEncoder)]

CLIPS = ["noise_3s", "chirp_2p5s", "twotone_1s", "burst_0p2s", "silence_1s"]


def load_fixture(path):
    fixture = torch.load(path, weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in fixture["state_dict"].items()}
    return fixture, state


def test_cvt_fixture(reference_dir):
    fixture, state = load_fixture(reference_dir / "cvt_fixture.pt")
    config = fixture["config"]
    encoder = build_encoder(
        EncoderConfig(
            arch="cvt",
            cvt_dims=(config["s1_emb_dim"], config["s2_emb_dim"], config["s3_emb_dim"]),
            cvt_depths=(config["s1_depth"], config["s2_depth"], config["s3_depth"]),
            cvt_mlp_mult=config["s1_mlp_mult"],
        )
    ).eval()
    encoder.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = encoder(fixture["input"])
    expected = fixture["output"]
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_audiontt2022_fixture(reference_dir):
    fixture, state = load_fixture(reference_dir / "audiontt2022_fixture.pt")
    encoder = build_encoder(EncoderConfig(arch="audiontt2022", **fixture["config"])).eval()
    encoder.load_state_dict(state, strict=True)
    with torch.no_grad():
        frames, pooled = encoder.forward_frames(fixture["input"]), encoder(fixture["input"])
    assert (frames - fixture["frames"]).abs().max() <= 1e-4 * fixture["frames"].abs().max()
    assert (pooled - fixture["output"]).abs().max() <= 1e-4 * fixture["output"].abs().max()


def serab_reference(reference_dir):
    """serab-byols-expected-keys.txt: one summary line per checkpoint, then the CvT's `key (shape)` lines."""
    summaries, cvt_keys = {}, {}
    for line in (reference_dir / "serab-byols-expected-keys.txt").read_text().splitlines():
        if line.startswith(" "):
            key, shape = line.strip().split(" ", 1)
            cvt_keys[key] = tuple(int(n) for n in re.findall(r"\d+", shape))
        elif line.strip():
            words = line.split()
            summaries[words[0]] = {"params": int(words[2]), "state elements": int(words[5]), "keys": int(words[7])}
    return summaries, cvt_keys


def test_cvt_state_dict_layout_matches_serab_byols(reference_dir):
    _, cvt_keys = serab_reference(reference_dir)
    ours = {k: tuple(v.shape) for k, v in build_encoder(get_spec("byol-s-cvt").encoder).state_dict().items()}
    assert ours == cvt_keys


@pytest.mark.parametrize("section, model_name", [("default2048", "byol-s"), ("cvt", "byol-s-cvt")])
def test_sizes_match_serab_byols_checkpoints(reference_dir, section, model_name):
    summaries, _ = serab_reference(reference_dir)
    encoder = build_encoder(get_spec(model_name).encoder)
    state = encoder.state_dict()
    assert len(state) == summaries[section]["keys"]
    assert sum(p.numel() for p in encoder.parameters()) == summaries[section]["params"]
    assert sum(t.numel() for t in state.values()) == summaries[section]["state elements"]


def test_official_byola_d512_from_waveform(reference_dir, byola_d512_checkpoint):
    """Raw waveform -> our front-end -> normalisation -> encoder reproduces the official outputs."""
    reference = np.load(reference_dir / "byola_d512_reference.npz")
    model = byol_a.load_model(byola_d512_checkpoint)
    assert model.name == "byol-a-512"
    frontend, encoder = LogMelSpectrogram(), model.encoder
    for clip in CLIPS:
        audio = torch.from_numpy(reference[f"{clip}/audio"])
        with torch.no_grad():
            frames = encoder.forward_frames(model._normalise(frontend(audio[None])))[0].numpy()
        embedding = byol_a.get_scene_embeddings(audio[None], model)[0].numpy()
        official_frames = reference[f"{clip}/byola_d512_frames"]
        official_embedding = reference[f"{clip}/byola_d512_embedding"]
        assert frames.shape == official_frames.shape
        assert np.abs(embedding - official_embedding).max() <= 1e-4 * np.abs(official_embedding).max(), clip
        # float32 FFT round-off at the log(eps) floor of the chirp (~7e-3 in a few bins, machine-dependent)
        # moves its frames by up to ~2e-4 relative; every other clip is within 1e-4.
        tolerance = 3e-4 if clip == "chirp_2p5s" else 1e-4
        assert np.abs(frames - official_frames).max() <= tolerance * np.abs(official_frames).max(), clip


def test_official_byola_d512_encoder_is_exact_on_official_logmel(reference_dir, byola_d512_checkpoint):
    """Given the official log-mel, the encoder alone matches to float precision (isolates the front-end)."""
    reference = np.load(reference_dir / "byola_d512_reference.npz")
    model = byol_a.load_model(byola_d512_checkpoint)
    for clip in CLIPS:
        logmel = torch.from_numpy(reference[f"{clip}/logmel_win1024"])[None]
        with torch.no_grad():
            frames = model.encoder.forward_frames(model._normalise(logmel))[0].numpy()
        official = reference[f"{clip}/byola_d512_frames"]
        assert np.abs(frames - official).max() <= 1e-5 * np.abs(official).max()


@pytest.mark.parametrize("name", LOGMEL_MODELS)
def test_every_parameter_gets_a_gradient(name):
    encoder = build_encoder(get_spec(name).encoder).train()
    x = torch.randn(2, 1, 64, 96)
    encoder(x).square().mean().backward()
    for param_name, param in encoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
    assert encoder(x).shape == (2, get_spec(name).embedding_size)
