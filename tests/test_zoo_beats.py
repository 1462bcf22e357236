"""BEATs: parity with the official microsoft/unilm code (seed fixture), HEAR behaviour and clear errors.

The fixture (`reference/seeds/beats_fixture.pt`, see its README §1) holds a small random-init BEATs in the exact
official checkpoint layout, the official fbank, every layer's output and the fine-tuned probabilities.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hear_ssl
import hear_ssl.beats as beats
from hear_ssl import registry
from hear_ssl.beats_config import BEATS_BASE, SUPPORTED_ACTIVATIONS
from hear_ssl.frontends.kaldi_fbank import KaldiFbank, normalise_beats_fbank
from hear_ssl.models.beats import ACTIVATIONS, BEATs, BEATsConfig, load_beats_checkpoint, relative_position_buckets
from hear_ssl.weights import CheckpointError

from .requires import unavailable
from .validator_support import assert_hearvalidator_passes
from .zoo_support import BAD_AUDIO, assert_bad_audio_rejected, assert_input_types_agree

CLIPS = ["a_3s", "b_1p37s", "c_batch2_1s"]
ENCODER_TOLERANCE = 1e-4  # x max|reference|, encoder fed the official fbank
WAVEFORM_TOLERANCE = 1e-3  # x max|reference|, from the waveform through the HEAR API


@pytest.fixture(scope="module")
def fixture(reference_dir):
    path = reference_dir / "seeds" / "beats_fixture.pt"
    if not path.is_file():
        unavailable(f"BEATs seed fixture absent at {path}")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def checkpoints(fixture, tmp_path_factory):
    """The fixture written as official `{'cfg', 'model'}` files (the fine-tuned one with a label_dict)."""
    folder = tmp_path_factory.mktemp("beats")
    pretrained, finetuned = folder / "BEATs_seed.pt", folder / "BEATs_seed_finetuned.pt"
    torch.save({"cfg": fixture["config"], "model": fixture["state_dict"]}, pretrained)
    labels = {i: f"/m/class{i}" for i in range(fixture["finetuned"]["config"]["predictor_class"])}
    torch.save(
        {"cfg": fixture["finetuned"]["config"], "model": fixture["finetuned"]["state_dict"], "label_dict": labels},
        finetuned,
    )
    return pretrained, finetuned


@pytest.fixture(scope="module")
def model(checkpoints):
    return beats.load_model(str(checkpoints[0]))


def relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    return ((actual - reference).abs().max() / reference.abs().max()).item()


def steps_of(patches: torch.Tensor) -> torch.Tensor:
    """(B, P, C) time-major patches -> (B, P // 8, 8, C)."""
    batch, count, width = patches.shape
    return patches.view(batch, count // 8, 8, width)


# ------------------------------------------------------------------------------------------------------
# Parity with the official code


@pytest.mark.parametrize("clip", CLIPS)
def test_fbank_matches_official_kaldi(fixture, clip):
    reference = fixture["outputs"][clip]["fbank"]
    fbank = normalise_beats_fbank(KaldiFbank()(fixture["inputs"][clip]))
    assert fbank.shape == reference.shape
    assert relative_error(fbank, reference) < ENCODER_TOLERANCE


def test_state_dict_keys_are_the_official_ones(fixture):
    for part in (fixture, fixture["finetuned"]):
        expected = part["state_dict"]
        ours = BEATs(BEATsConfig.from_cfg(part["config"])).state_dict()
        assert set(ours) == set(expected) and len(ours) == len(expected)
        assert all(ours[k].shape == expected[k].shape for k in expected)
    # The one shared relative-position table is registered under every layer, as an alias.
    encoder = BEATs(BEATsConfig.from_cfg(fixture["config"])).encoder
    tables = [layer.self_attn.relative_attention_bias.weight for layer in encoder.layers]
    assert all(table is tables[0] for table in tables)


@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_layers_match_official(fixture, checkpoints, clip):
    encoder = load_beats_checkpoint(checkpoints[0]).model
    reference = fixture["outputs"][clip]
    with torch.no_grad():
        outputs = encoder.layer_outputs(reference["fbank"])
    assert len(outputs) == len(reference["layer_outputs"])
    for ours, official in zip(outputs, reference["layer_outputs"]):  # official hooks record T x B x C
        assert relative_error(ours, official.transpose(0, 1)) < ENCODER_TOLERANCE
    assert relative_error(outputs[-1], reference["x"]) < ENCODER_TOLERANCE


@pytest.mark.parametrize("clip", CLIPS)
def test_finetuned_probabilities_match_official(fixture, checkpoints, clip):
    loaded = load_beats_checkpoint(checkpoints[1])
    reference = fixture["finetuned"]["outputs"][clip]["probs"]
    with torch.no_grad():
        probs = loaded.model.class_probabilities(fixture["outputs"][clip]["fbank"])
    assert relative_error(probs, reference) < ENCODER_TOLERANCE
    embedder = beats.load_model(str(checkpoints[1]))
    from_waveform = embedder.class_probabilities(fixture["inputs"][clip])
    assert relative_error(from_waveform, reference) < WAVEFORM_TOLERANCE
    assert embedder.labels[3] == "/m/class3"


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_matches_official(fixture, model, clip):
    audio, reference = fixture["inputs"][clip], fixture["outputs"][clip]["x"]
    embeddings, timestamps = beats.get_timestamp_embeddings(audio, model)
    assert relative_error(embeddings, steps_of(reference).mean(dim=2)) < WAVEFORM_TOLERANCE
    scene = beats.get_scene_embeddings(audio, model)
    assert relative_error(scene, reference.mean(dim=1)) < WAVEFORM_TOLERANCE
    # One step per 16 fbank frames (160 ms), stamped at the centre of its frames.
    assert timestamps.shape == embeddings.shape[:2] == (audio.shape[0], reference.shape[1] // 8)
    expected = 87.5 + 160.0 * torch.arange(timestamps.shape[1])
    torch.testing.assert_close(timestamps, expected.expand_as(timestamps))


def test_layer_option_matches_official_layers(fixture, checkpoints):
    audio, reference = fixture["inputs"]["a_3s"], fixture["outputs"]["a_3s"]["layer_outputs"]
    first = beats.load_model(str(checkpoints[0]), layer=0)
    assert relative_error(beats.get_timestamp_embeddings(audio, first)[0],
                          steps_of(reference[0].transpose(0, 1)).mean(2)) < WAVEFORM_TOLERANCE  # fmt: skip
    every = beats.load_model(str(checkpoints[0]), layer="all")
    assert every.scene_embedding_size == every.timestamp_embedding_size == 2 * 192
    concatenated = torch.cat([layer.transpose(0, 1) for layer in reference], dim=-1).mean(dim=1)
    assert relative_error(beats.get_scene_embeddings(audio, every), concatenated) < WAVEFORM_TOLERANCE
    with pytest.raises(ValueError, match="unknown hear_ssl.beats option"):
        beats.load_model(str(checkpoints[0]), layers=1)
    for bad in (2, -3, "last", 1.0, True):
        with pytest.raises(ValueError, match="layer"):
            beats.load_model(str(checkpoints[0]), layer=bad)


def test_padding_mask_facts(fixture, model):
    """Why we use no padding mask: the official one mis-maps frames, and a padded row is not the clip's own."""
    outputs = fixture["outputs"]
    assert all(outputs[clip]["x_with_all_false_padding_mask_equal"] for clip in CLIPS)
    mask = outputs["padded_pair"]["padding_mask"]
    assert not mask[0].any() and int(mask[1].sum()) == 75 and bool(mask[1, 69:].all()) and not mask[1, :69].any()
    # Patch 69 is time step 8, frequency patch 5: the mask splits a time step (patches are time-major).
    assert divmod(69, 8) == (8, 5)
    padded_row, own = outputs["padded_pair"]["x"][1, :64], outputs["b_1p37s"]["x"][0]
    assert (padded_row - own).abs().max() > 0.1
    # The unpadded row is unaffected, and we reproduce each clip's own embedding.
    torch.testing.assert_close(outputs["padded_pair"]["x"][0], outputs["a_3s"]["x"][0], rtol=0, atol=1e-5)
    ours = beats.get_scene_embeddings(fixture["inputs"]["b_1p37s"], model)
    assert relative_error(ours, own.mean(dim=0, keepdim=True)) < WAVEFORM_TOLERANCE
    probs = fixture["finetuned"]["outputs"]
    torch.testing.assert_close(probs["padded_pair"]["probs"][0], probs["a_3s"]["probs"][0], rtol=0, atol=1e-6)


def test_relative_position_buckets():
    buckets = relative_position_buckets(900, num_buckets=320, max_distance=800)
    assert buckets[0, 0] == 0 and buckets[0, 79] == 160 + 79 and buckets[79, 0] == 79
    assert buckets[0, 899] == 319 and buckets[899, 0] == 159  # beyond max_distance: the last bucket
    assert torch.equal(buckets.diagonal(), torch.zeros(900, dtype=torch.long))


# ------------------------------------------------------------------------------------------------------
# HEAR behaviour


def test_batch_equals_one_at_a_time(fixture, model):
    audio = torch.cat([fixture["inputs"]["c_batch2_1s"], fixture["inputs"]["a_3s"][:, :16000]])
    batched, _ = beats.get_timestamp_embeddings(audio, model)
    scene = beats.get_scene_embeddings(audio, model)
    for i in range(len(audio)):
        alone, _ = beats.get_timestamp_embeddings(audio[i : i + 1], model)
        torch.testing.assert_close(alone[0], batched[i], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            beats.get_scene_embeddings(audio[i : i + 1], model)[0], scene[i], rtol=1e-5, atol=1e-6
        )


def test_long_clips_go_in_bounded_chunks(fixture, checkpoints):
    model = beats.load_model(str(checkpoints[0]), chunk_seconds=1.0)  # 1 s = 6 steps of 16 frames
    assert model.chunk_steps == 6
    generator = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(2, 4 * 16000 + 1234, generator=generator)  # 25 steps -> chunks of 5
    lengths = []
    original = model.model.layer_outputs

    def recording(fbank, num_layers=None):
        lengths.append(fbank.shape[1])
        return original(fbank, num_layers)

    model.model.layer_outputs = recording
    embeddings, timestamps = beats.get_timestamp_embeddings(audio, model)
    scene = beats.get_scene_embeddings(audio, model)
    del model.model.layer_outputs
    assert max(lengths) <= 6 * 16 and embeddings.shape == (2, 25, 192)
    torch.testing.assert_close(timestamps[0], 87.5 + 160.0 * torch.arange(25.0))
    torch.testing.assert_close(scene, embeddings.mean(dim=1), rtol=1e-5, atol=1e-6)
    # Each chunk is the embedding of its own stretch of audio, encoded alone.
    whole = beats.load_model(str(checkpoints[0]))
    second_chunk = audio[:, 5 * 2560 : 10 * 2560 + 240]  # steps 5..9: frames 80..159
    alone, _ = beats.get_timestamp_embeddings(second_chunk, whole)
    torch.testing.assert_close(embeddings[:, 5:10], alone, rtol=1e-5, atol=1e-6)
    # A clip of up to 10 s is one pass: the official whole-clip result.
    assert whole._chunk_bounds(62) == [(0, 62)] and len(whole._chunk_bounds(63)) == 2


@pytest.mark.parametrize("samples", [1, 100, 399, 2799])
def test_clips_shorter_than_one_patch(model, samples):
    generator = torch.Generator().manual_seed(samples)
    audio = 0.1 * torch.randn(2, samples, generator=generator)
    embeddings, timestamps = beats.get_timestamp_embeddings(audio, model)
    scene = beats.get_scene_embeddings(audio, model)
    assert embeddings.shape == (2, 1, 192) and scene.shape == (2, 192)
    assert torch.isfinite(embeddings).all() and torch.isfinite(scene).all()
    assert 0 <= timestamps[0, 0] <= 1000 * samples / 16000
    tiled = audio.repeat(1, 2800 // samples + 1)[:, :2800]  # documented: tiled up to one 16-frame step
    torch.testing.assert_close(scene, beats.get_scene_embeddings(tiled, model))


def test_bf16_is_close_to_fp32(fixture, checkpoints, model):
    audio = fixture["inputs"]["a_3s"]
    reference = beats.get_scene_embeddings(audio, model)
    bf16 = beats.load_model(str(checkpoints[0]), precision="bf16")
    scene = beats.get_scene_embeddings(audio, bf16)
    assert scene.dtype == torch.float32 and relative_error(scene, reference) < 0.05
    with pytest.raises(ValueError, match="precision"):
        beats.load_model(str(checkpoints[0]), precision="fp8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(fixture, checkpoints, model):
    audio = fixture["inputs"]["c_batch2_1s"]
    cuda_model = beats.load_model(str(checkpoints[0])).to("cuda")
    embeddings, timestamps = beats.get_timestamp_embeddings(audio.cuda(), cuda_model)
    assert embeddings.device.type == timestamps.device.type == "cuda"
    cpu, _ = beats.get_timestamp_embeddings(audio, model)
    assert relative_error(embeddings.cpu(), cpu) < WAVEFORM_TOLERANCE
    bf16 = beats.load_model(str(checkpoints[0]), precision="bf16").to("cuda")
    assert relative_error(beats.get_scene_embeddings(audio.cuda(), bf16).cpu(), cpu.mean(1)) < 0.05


def test_input_types(model):
    generator = torch.Generator().manual_seed(1)
    audio = 0.1 * torch.randn(2, 8000, generator=generator)
    assert_input_types_agree(beats, model, audio)
    embeddings, timestamps = beats.get_timestamp_embeddings(audio[:0], model)
    assert embeddings.shape == (0, 0, 192) and timestamps.shape == (0, 0)


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_audio_is_a_clear_error(model, audio, error, message):
    calls = (beats.get_scene_embeddings, beats.get_timestamp_embeddings)
    assert_bad_audio_rejected(calls, model, audio, error, message)


# ------------------------------------------------------------------------------------------------------
# Checkpoints


def test_config_from_cfg(fixture):
    assert set(ACTIVATIONS) == set(SUPPORTED_ACTIVATIONS)
    config = BEATsConfig.from_cfg({**fixture["config"], "some_future_option": 3})
    assert config.ignored_keys == ("some_future_option",) and config.encoder_layers == 2
    assert config.to_cfg() == fixture["config"]
    with pytest.raises(CheckpointError, match="encoder_layers"):
        BEATsConfig.from_cfg({**fixture["config"], "encoder_layers": "2"})
    with pytest.raises(CheckpointError, match="input_patch_size"):
        BEATsConfig.from_cfg({k: v for k, v in fixture["config"].items() if k != "input_patch_size"})
    with pytest.raises(CheckpointError, match="activation_fn"):
        BEATsConfig.from_cfg({**fixture["config"], "activation_fn": "glu"})


def test_released_shape_registry_protocol():
    assert 89e6 < BEATS_BASE.num_parameters() < 92e6  # the paper's 90 M
    assert BEATS_BASE.embedding_size == 768 and "12 layers" in BEATS_BASE.describe()
    assert BEATS_BASE.describe_timestamps().startswith("160 ms")
    # The registry imports the config module: importing it first must not close an import cycle.
    assert subprocess.run([sys.executable, "-c", "import hear_ssl.beats_config"]).returncode == 0


def test_no_bundled_default_says_where_to_download():
    with pytest.raises(CheckpointError, match="Download BEATs_iter3_plus_AS2M.pt from https://1drv.ms"):
        beats.load_model("")
    with pytest.raises(ValueError, match="unknown model 'beats-iter9'"):
        beats.load_model("x.pt", model_name="beats-iter9")
    with pytest.raises(ValueError, match="not a BEATs model"):
        beats.load_model("x.pt", model_name="byol-a-512")


def test_registry_lists_every_release():
    """Five iterations, each pre-trained plus two AudioSet fine-tuned checkpoints: the 15 README links."""
    assert beats.MODEL_NAMES == ("beats-iter1", "beats-iter2", "beats-iter3", "beats-iter3-plus-as20k",
                                 "beats-iter3-plus-as2m")  # fmt: skip
    entries = [registry.get_weights(name) for arch in beats.MODEL_NAMES for name in registry.available_weights(arch)]
    assert len(entries) == 15 and len({e.url for e in entries}) == 15 and len({e.filename for e in entries}) == 15
    assert all(e.url.startswith("https://1drv.ms/u/s!") and e.sha256 is None and not e.bundled for e in entries)
    assert registry.get_weights("beats-iter3-plus-as2m.as2m-cpt2").filename == (
        "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"
    )
    assert registry.get_architecture("beats-iter3").config == BEATS_BASE


def test_model_name_checks_the_checkpoint_kind(checkpoints):
    assert beats.load_model(str(checkpoints[0]), model_name="beats-iter3").name == "beats-iter3.official"
    assert beats.load_model(str(checkpoints[1]), model_name="beats-iter3.as2m-cpt1").labels is not None
    with pytest.raises(CheckpointError, match="pre-trained BEATs checkpoint"):
        beats.load_model(str(checkpoints[0]), model_name="beats-iter3.as2m-cpt1")
    # The generic entry point hands BEATs names over to this module.
    assert isinstance(
        hear_ssl.load_model(str(checkpoints[0]), "beats-iter1"), type(beats.load_model(str(checkpoints[0])))
    )


def write(path: Path, payload) -> str:
    torch.save(payload, path)
    return str(path)


def test_bad_checkpoints_are_clear_errors(fixture, reference_dir, checkpoints, tmp_path):
    state, cfg = fixture["state_dict"], fixture["config"]
    with pytest.raises(CheckpointError, match="not found"):
        beats.load_model(str(tmp_path / "absent.pt"))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoints[0].read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        beats.load_model(str(truncated))
    with pytest.raises(CheckpointError, match="expected a dict with 'cfg' and 'model'"):
        beats.load_model(write(tmp_path / "bare.pt", state))
    missing = {k: v for k, v in state.items() if k != "encoder.layers.1.fc2.bias"}
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): encoder.layers.1.fc2.bias"):
        beats.load_model(write(tmp_path / "missing.pt", {"cfg": cfg, "model": missing}))
    extra = {**state, "encoder.layers.1.extra": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): encoder.layers.1.extra"):
        beats.load_model(write(tmp_path / "extra.pt", {"cfg": cfg, "model": extra}))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        beats.load_model(write(tmp_path / "wide.pt", {"cfg": {**cfg, "encoder_ffn_embed_dim": 512}, "model": state}))
    with pytest.raises(CheckpointError, match="finetuned_model flag"):
        beats.load_model(write(tmp_path / "flag.pt", {"cfg": {**cfg, "finetuned_model": True}, "model": state}))
    edited = {**state, "encoder.layers.1.self_attn.relative_attention_bias.weight": torch.zeros(320, 4)}
    with pytest.raises(CheckpointError, match="shares one relative position table"):
        beats.load_model(write(tmp_path / "edited.pt", {"cfg": cfg, "model": edited}))
    wavlm_path = reference_dir / "seeds" / "wavlm_base_fixture.pt"
    if wavlm_path.is_file():  # another family's official {'cfg', 'model'} file
        wavlm = torch.load(wavlm_path, weights_only=True)
        with pytest.raises(CheckpointError, match="not a BEATs checkpoint cfg"):
            beats.load_model(write(tmp_path / "wavlm.pt", {"cfg": wavlm["config"], "model": wavlm["state_dict"]}))


def test_hearvalidator_passes(checkpoints, tmp_path):
    assert_hearvalidator_passes("hear_ssl.beats", "--model", str(checkpoints[0]), cwd=tmp_path)


def test_speed_benchmark_baseline_is_the_official_call(fixture, model):
    """benchmarks/embed_speed.py's BEATs baseline (per-clip fbank loop) computes the official features."""
    from .benchmark_scripts import load_benchmark

    official = load_benchmark("embed_speed").official_beats_call(model, fixture["inputs"]["c_batch2_1s"])
    assert relative_error(official, fixture["outputs"]["c_batch2_1s"]["x"]) < WAVEFORM_TOLERANCE


def test_command_line_embeds_with_beats(checkpoints, tmp_path):
    """`hear-ssl embed --model beats-...`: resampled, downmixed files give the Python API's embeddings."""
    import numpy as np
    import soundfile

    from hear_ssl.audio import load_audio
    from hear_ssl.cli import main as cli

    rng = np.random.default_rng(0)
    files = {
        "tone8k.wav": (rng.standard_normal(20000), 8000),
        "stereo44k.wav": (rng.standard_normal((50000, 2)), 44100),
        "blip.wav": (rng.standard_normal(480), 16000),  # shorter than one BEATs step: tiled
    }
    for name, (samples, rate) in files.items():
        soundfile.write(tmp_path / name, (0.1 * samples).astype(np.float32), rate, subtype="FLOAT")
    out = tmp_path / "emb.npz"
    argv = ["embed", *(str(tmp_path / n) for n in files), "--model", "beats-iter3", "--weights", str(checkpoints[0])]
    assert cli([*argv, "--out", str(out), "--timestamps", "--quiet"]) == 0
    model = beats.load_model(str(checkpoints[0]), model_name="beats-iter3")
    with np.load(out) as saved:
        assert str(saved["model"]) == "beats-iter3.official"
        for name in files:
            audio = torch.from_numpy(load_audio(tmp_path / name)).unsqueeze(0)
            frames, times = beats.get_timestamp_embeddings(audio, model)
            np.testing.assert_allclose(saved[f"scene/{name}"], beats.get_scene_embeddings(audio, model)[0], atol=1e-5)
            np.testing.assert_allclose(saved[f"timestamp_embeddings/{name}"], frames[0], atol=1e-5)
            np.testing.assert_array_equal(saved[f"timestamps/{name}"], times[0])
    assert cli([*argv, "--out", str(tmp_path / "x.npz"), "--serab-compat", "--quiet"]) == 2  # a clear error
