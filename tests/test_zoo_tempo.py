"""The equivariant tempo TCN against the official implementation's outputs with the real published weights.

Fixture: ../shared/reference/seeds/tempo_tcn_fixture.pt (see the README there, section 5).
"""

import json

import pytest
import torch
from torch.nn import functional as F

import hear_ssl.tempo as tempo
from hear_ssl.frontends.tempo_logmel import TempoLogMel
from hear_ssl.models.tempo_tcn import TempoTCN
from hear_ssl.weights import CONFIG_METADATA_KEY, CheckpointError, read_checkpoint, weights_dir

from .validator_support import assert_hearvalidator_passes
from .zoo_support import BAD_AUDIO, assert_bad_audio_rejected

CLIPS = ("a_3s", "b_1p37s", "c_batch2_1s")


def relative_error(got: torch.Tensor, reference: torch.Tensor) -> float:
    return float((got.float() - reference).abs().max() / reference.abs().max())


@pytest.fixture(scope="module")
def seeds(reference_dir):
    return reference_dir / "seeds"


@pytest.fixture(scope="module")
def fixture(seeds):
    return torch.load(seeds / "tempo_tcn_fixture.pt", weights_only=True)


@pytest.fixture(scope="module")
def waves(seeds):
    return torch.load(seeds / "waves_44k1.pt", weights_only=True)


@pytest.fixture(scope="module")
def model():
    return tempo.load_model()


def test_bundled_weights_are_the_published_ones(seeds, fixture):
    bundled = weights_dir() / tempo.BUNDLED
    assert 100_000 < bundled.stat().st_size < 160_000
    state, _ = read_checkpoint(bundled)
    original, _ = read_checkpoint(seeds / tempo.OFFICIAL.filename)
    assert len(state) == 77 and state.keys() == original.keys() == fixture["state_dict"].keys()
    for key in state:
        assert torch.equal(state[key], original[key]), key
    from safetensors import safe_open

    with safe_open(str(bundled), framework="pt") as handle:
        config = json.loads(handle.metadata()[CONFIG_METADATA_KEY])
    assert config["source"]["sha256"] == tempo.OFFICIAL.sha256
    card = bundled.with_suffix(".md").read_text()
    assert (seeds / "TCN-pretrained-LICENSE.md").read_text().strip() in card


def test_conversion_reproduces_the_bundled_tensors(seeds, tmp_path):
    sha = tempo.convert_official(seeds / tempo.OFFICIAL.filename, tmp_path / "tcn.safetensors")
    assert sha == tempo.sha256_file(weights_dir() / tempo.BUNDLED)


@pytest.mark.parametrize("clip", CLIPS)
def test_frontend_matches_the_official_log_mel(fixture, waves, clip):
    reference = fixture["inputs"]["logmel"][clip]
    assert relative_error(TempoLogMel()(waves[clip]), reference) < 1e-4


@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_matches_every_recorded_output(fixture, clip):
    net = TempoTCN().eval()
    net.load_state_dict(fixture["state_dict"])
    logmel, outputs = fixture["inputs"]["logmel"][clip], fixture["outputs"][clip]
    with torch.no_grad():
        frames = net.frames(logmel)
        dense = net.dense(frames)
        got = {
            "conv3": net.conv3_features(logmel),
            "tcn_block": frames,
            "dense": dense,
            "dense_elu": F.elu(dense),
            "output": net.tempo(dense),
        }
        torch.testing.assert_close(net(logmel), got["output"])
    assert got.keys() == outputs.keys()
    for name, reference in outputs.items():
        assert got[name].shape == reference.shape, name
        assert relative_error(got[name], reference) < 1e-4, name


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_from_the_waveform(fixture, waves, model, clip):
    outputs = fixture["outputs"][clip]
    audio = waves[clip]
    scene = tempo.get_scene_embeddings(audio, model)
    frames, timestamps = tempo.get_timestamp_embeddings(audio, model)
    estimate = tempo.get_tempo_estimates(audio, model)
    assert scene.shape == (len(audio), model.scene_embedding_size) == outputs["dense"].shape
    assert relative_error(scene, outputs["dense"]) < 1e-3
    assert relative_error(frames, outputs["tcn_block"].transpose(1, 2)) < 1e-3
    assert relative_error(estimate, outputs["output"][:, 0]) < 1e-3
    # Output frame j sits on mel frame j + 2 (10-ms hop, centred STFT).
    expected = (torch.arange(frames.shape[1]) + 2) * 10.0
    torch.testing.assert_close(timestamps, expected.expand(len(audio), -1).float())


def test_batch_gives_the_one_at_a_time_result(waves, model):
    audio = waves["c_batch2_1s"]
    batched = tempo.get_timestamp_embeddings(audio, model)[0]
    scene = tempo.get_scene_embeddings(audio, model)
    for i in range(len(audio)):
        torch.testing.assert_close(tempo.get_timestamp_embeddings(audio[i : i + 1], model)[0][0], batched[i])
        torch.testing.assert_close(tempo.get_scene_embeddings(audio[i : i + 1], model)[0], scene[i])


def test_long_clips_are_excerpts_that_tile_exactly(waves):
    """Excerpts overlap by the 4 frames the convolutions drop: frames tile the clip with no gap or duplicate."""
    audio = waves["a_3s"]
    model = tempo.load_model(excerpt_frames=100)
    frames, timestamps = tempo.get_timestamp_embeddings(audio, model)
    total = audio.shape[1] // 441 + 1
    assert frames.shape == (1, total - 4, 16)
    torch.testing.assert_close(timestamps.diff(dim=1), torch.full((1, total - 5), 10.0))
    logmel = model.frontend(audio)
    with torch.no_grad():
        first = model.encoder.frames(logmel[..., :100]).transpose(1, 2)
        second = model.encoder.frames(logmel[..., 96:196]).transpose(1, 2)
    torch.testing.assert_close(frames[:, :96], first)
    torch.testing.assert_close(frames[:, 96:192], second)
    # The scene is the dense layer of the mean frame over all excerpts.
    with torch.no_grad():
        expected = model.encoder.dense(frames.transpose(1, 2))
    torch.testing.assert_close(tempo.get_scene_embeddings(audio, model), expected)


@pytest.mark.parametrize("samples", [1, 100, 1200, 1764])
def test_clips_shorter_than_the_network_needs(model, samples):
    audio = 0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(0))
    frames, timestamps = tempo.get_timestamp_embeddings(audio, model)
    assert frames.shape == (2, 1, 16) and timestamps.shape == (2, 1)
    assert torch.isfinite(frames).all() and torch.isfinite(tempo.get_scene_embeddings(audio, model)).all()


def test_bf16_is_close_to_fp32(waves, model):
    audio = waves["a_3s"]
    low = tempo.load_model(precision="bf16")
    reference = tempo.get_scene_embeddings(audio, model)
    got = tempo.get_scene_embeddings(audio, low)
    assert got.dtype == torch.float32 and relative_error(got, reference) < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(waves, model):
    audio = waves["a_3s"]
    reference = tempo.get_scene_embeddings(audio, model)
    gpu = tempo.load_model().to("cuda")
    assert relative_error(tempo.get_scene_embeddings(audio.cuda(), gpu).cpu(), reference) < 1e-3


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_input_is_a_clear_error(model, audio, error, message):
    calls = (tempo.get_scene_embeddings, tempo.get_timestamp_embeddings, tempo.get_tempo_estimates)
    assert_bad_audio_rejected(calls, model, audio, error, message)


def test_int16_and_numpy_input(waves, model):
    audio = waves["b_1p37s"]
    pcm = (audio.clamp(-1, 1) * 32767).round().to(torch.int16)
    torch.testing.assert_close(
        tempo.get_scene_embeddings(pcm, model), tempo.get_scene_embeddings(pcm.float() / 32768, model)
    )
    torch.testing.assert_close(
        tempo.get_scene_embeddings(audio.numpy(), model), tempo.get_scene_embeddings(audio, model)
    )


def test_foreign_truncated_and_missing_checkpoints(seeds, tmp_path):
    fixture = torch.load(seeds / "atst_frame_fixture.pt", weights_only=True)
    foreign = tmp_path / "atst.pt"
    torch.save(fixture["state_dict"], foreign)
    with pytest.raises(CheckpointError, match="not a tempo-tcn checkpoint"):
        tempo.load_model(foreign)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((seeds / tempo.OFFICIAL.filename).read_bytes()[:50_000])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        tempo.load_model(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        tempo.load_model(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="not served by hear_ssl.tempo"):
        tempo.load_model(model_name="atst-frame-base")


def test_hearvalidator_passes_with_the_bundled_weights(tmp_path):
    assert_hearvalidator_passes("hear_ssl.tempo", cwd=tmp_path)


def test_registry_entries(seeds, tmp_path):
    import hear_ssl
    from hear_ssl import registry

    assert tempo.MODEL_NAMES == ("tempo-tcn",) and registry.get_architecture("tempo-tcn").module == "hear_ssl.tempo"
    bundled = registry.get_weights("tempo-tcn")
    assert bundled.name == "tempo-tcn.bundled" and bundled.bundled and bundled.redistributable
    path = weights_dir() / bundled.filename
    assert path.stat().st_size == bundled.num_bytes and tempo.sha256_file(path) == bundled.sha256
    official = seeds / tempo.OFFICIAL.filename
    assert official.stat().st_size == tempo.OFFICIAL.num_bytes and tempo.sha256_file(official) == tempo.OFFICIAL.sha256
    config = registry.get_architecture("tempo-tcn").config
    assert config.num_parameters() == sum(p.numel() for p in TempoTCN().parameters())
    assert config.embedding_size == 16 and config.describe() and config.describe_timestamps()
    # The top-level loader dispatches to this module; a tagged name checks the file it is given.
    model = hear_ssl.load_model("", "tempo-tcn")
    assert model.name == "tempo-tcn.bundled" and model.sample_rate == 44100
    assert tempo.load_model(official, "tempo-tcn.official").name == "tempo-tcn.official"
    with pytest.raises(CheckpointError, match="is not the tempo-tcn.official weights file"):
        tempo.load_model(path, "tempo-tcn.official")
