"""DECAR: parity with the official DeepCluster_ICASSP / efficientnet_pytorch model (seed fixture, recipe
weights with calibrated BatchNorm statistics) and the HEAR contract."""

import pytest
import torch

import hear_ssl
import hear_ssl.decar as decar
from hear_ssl import registry
from hear_ssl.frontends.tf_mel import TFLogMel, tf_mel_weight_matrix
from hear_ssl.models.decar import EfficientNetB0, SameConv2d, convert_decar_state_dict, load_decar
from hear_ssl.weights import CheckpointError

from .validator_support import assert_hearvalidator_passes
from .zoo_support import (
    BAD_AUDIO,
    CLIPS,
    assert_bad_audio_rejected,
    assert_input_types_agree,
    load_fixture,
    load_recipe,
    relative_error,
    seeds_dir,
    synthetic_clips,
)

# fp32-vs-fp64 discrepancy of the official model is ~3e-6 relative (fixture README).
ENCODER_RTOL = 1e-4


@pytest.fixture(scope="module")
def seeds(reference_dir):
    return seeds_dir(reference_dir)


@pytest.fixture(scope="module")
def fixture(seeds):
    return load_fixture(seeds, "decar_fixture.pt")


@pytest.fixture(scope="module")
def waves(seeds):
    return load_fixture(seeds, "waves_16k.pt")


@pytest.fixture(scope="module")
def official_state(seeds, fixture):
    """`DeepCluster_ICASSP` state dict with `model_efficient.module.*` keys (364), sha256-checked."""
    return load_recipe(seeds).build_state_dict(fixture)


@pytest.fixture(scope="module")
def official_ckpt(tmp_path_factory, official_state):
    """A checkpoint as DECAR's `upstream/main.py` saves it: epoch, state_dict, SGD optimizer state."""
    path = tmp_path_factory.mktemp("decar") / "best_loss.pth.tar"
    params = [torch.zeros(3, requires_grad=True)]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-5)
    params[0].grad = torch.ones(3)
    optimizer.step()  # momentum buffers, as a real checkpoint has
    torch.save({"epoch": 12, "state_dict": official_state, "optimizer": optimizer.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def model(official_ckpt):
    return decar.load_model(str(official_ckpt))


# --------------------------------------------------------------------------------------------------
# Parity


def test_tf_mel_matrix_properties():
    bank = tf_mel_weight_matrix(64, 513, 16000, 60.0, 7800.0)
    assert bank.shape == (513, 64) and (bank[0] == 0).all() and (bank >= 0).all() and bank.max() <= 1.0
    # Triangles in the mel domain, unnormalised: adjacent bands cross at weight ~0.5 and every band peaks near 1.
    assert (bank.max(dim=0).values > 0.5).all()


@pytest.mark.parametrize("clip", CLIPS)
def test_frontend_matches_fixture_features(waves, fixture, clip):
    features = TFLogMel()(waves[clip])
    assert relative_error(features, fixture["inputs"]["logmel"][clip]) < 1e-4


def test_same_padding_output_sizes():
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    for height, width in [(1, 1), (5, 2), (135, 64), (298, 64)]:
        out = conv(torch.zeros(1, 1, height, width))
        assert out.shape[-2:] == (-(-height // 2), -(-width // 2))


@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_parity_every_recorded_output(fixture, official_state, clip):
    model = load_decar(official_state, with_head=True)
    logmel, reference = fixture["inputs"]["logmel"][clip], fixture["outputs"][clip]
    with torch.no_grad():
        outputs = {
            "effnet_pooled": model.model_efficient(logmel),
            "forward": model(logmel),
            "cluster_features_512": model.cluster_features(logmel),
        }
        if "effnet_features" in reference:
            outputs["effnet_features"] = model.model_efficient.extract_features(logmel)
    assert set(outputs) == set(reference)
    for name, value in outputs.items():
        assert relative_error(value, reference[name]) < ENCODER_RTOL, name


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_parity_from_the_waveform(model, waves, fixture, clip):
    reference = fixture["outputs"][clip]
    scene = decar.get_scene_embeddings(waves[clip], model)
    assert relative_error(scene, reference["effnet_pooled"].flatten(1)) < 1e-3
    steps, timestamps = decar.get_timestamp_embeddings(waves[clip], model)
    assert timestamps[0, -1] <= 1000.0 * waves[clip].shape[1] / 16000
    if "effnet_features" in reference:
        # 1.37 s: 135 STFT frames -> 5 steps; the 5th (centre 1447.5 ms) lies past the end and is not stamped.
        reference_steps = reference["effnet_features"].mean(dim=3).transpose(1, 2)
        assert steps.shape[1] == 4 and relative_error(steps, reference_steps[:, :4]) < 1e-3


# --------------------------------------------------------------------------------------------------
# Checkpoint layouts


def test_key_layouts(official_state):
    reference = load_decar(official_state).state_dict()
    unwrapped = {k.replace("model_efficient.module.", "model_efficient."): v for k, v in official_state.items()}
    backbone = {k.removeprefix("model_efficient.module."): v for k, v in official_state.items() if "module" in k}
    for layout in (unwrapped, backbone):
        loaded = load_decar(layout).state_dict()
        assert list(loaded) == list(reference) and all(torch.equal(loaded[k], reference[k]) for k in reference)
    assert len(reference) == 358  # backbone only: classifier and top_layer are not needed for embeddings
    # Checkpoints recreate top_layer per epoch with the k-means cluster count: loaded when asked for.
    clustered = {**official_state, "top_layer.weight": torch.zeros(100, 512), "top_layer.bias": torch.zeros(100)}
    assert load_decar(clustered, with_head=True).top_layer.out_features == 100


def test_bad_checkpoints_are_clear_errors(tmp_path, official_ckpt, official_state):
    with pytest.raises(CheckpointError, match="no published weights"):
        decar.load_model("")
    with pytest.raises(CheckpointError, match="not found"):
        decar.load_model(str(tmp_path / "missing.pth.tar"))
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(official_ckpt.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="truncated"):
        decar.load_model(str(truncated))
    foreign = tmp_path / "lape.ckpt"
    torch.save({"state_dict": {"encoder.encoder.fc.0.weight": torch.zeros(2048, 512)}}, foreign)
    with pytest.raises(CheckpointError, match="unexpected key"):
        decar.load_model(str(foreign))
    partial = {k: v for k, v in official_state.items() if "_blocks.15." not in k}
    with pytest.raises(CheckpointError, match="missing"):
        convert_decar_state_dict(partial) and load_decar(partial)
    with pytest.raises(ValueError, match="decar"):
        decar.load_model(str(official_ckpt), model_name="delores-s")


def test_registry_entry_says_no_weights_are_published(official_ckpt, waves, fixture):
    assert decar.MODEL_NAMES == ("decar",) and decar.DEFAULT_MODEL == "decar"
    arch, entry = registry.get_architecture("decar"), registry.get_weights("decar")
    assert (
        arch.family == "decar" and entry.name == "decar.user" and registry.available_weights("decar") == ["decar.user"]
    )
    assert not (entry.bundled or entry.hub or entry.redistributable or entry.filename or entry.sha256)
    assert entry.description.startswith("user-provided; none published") and arch.embedding_size == 1280
    assert arch.config.num_parameters() == sum(p.numel() for p in EfficientNetB0(1).parameters())
    model = hear_ssl.load_model(str(official_ckpt), "decar.user")
    scene = decar.get_scene_embeddings(waves["a_3s"], model)
    assert relative_error(scene, fixture["outputs"]["a_3s"]["effnet_pooled"].flatten(1)) < 1e-3


# --------------------------------------------------------------------------------------------------
# HEAR contract


def test_attributes_and_timestamps(model):
    assert model.sample_rate == 16000 and model.scene_embedding_size == model.timestamp_embedding_size == 1280
    audio = synthetic_clips(2.0)
    steps, timestamps = decar.get_timestamp_embeddings(audio, model)
    stft_frames = 1 + (32000 - 400) // 160
    assert steps.shape == (2, stft_frames // 32, 1280) and steps.dtype == timestamps.dtype == torch.float32
    assert timestamps[0, 0] == 167.5 and torch.allclose(timestamps.diff(dim=1), torch.tensor(320.0))
    assert timestamps[0, -1] <= 2000.0
    # 1.07 s: the 4th step holds 9 of its 32 STFT frames; its centre (1127.5 ms) is past the end, so it is
    # left out of the timestamps, but the scene embedding still averages it in.
    audio = synthetic_clips(1.07)
    steps, timestamps = decar.get_timestamp_embeddings(audio, model)
    assert timestamps[0].tolist() == [167.5, 487.5, 807.5] and steps.shape == (2, 3, 1280)
    with torch.no_grad():
        pooled = model.model.model_efficient(model.frontend(audio)).flatten(1)
    assert relative_error(decar.get_scene_embeddings(audio, model), pooled) < 1e-5
    assert not torch.allclose(steps[0, 0], steps[0, -1])


def test_batch_equals_one_at_a_time(model):
    audio = synthetic_clips(1.5, n=3)
    audio[1] *= 5.0  # L2 normalisation is per clip
    scene = decar.get_scene_embeddings(audio, model)
    steps, _ = decar.get_timestamp_embeddings(audio, model)
    for i in range(3):
        assert relative_error(decar.get_scene_embeddings(audio[i : i + 1], model)[0], scene[i]) < 1e-5
        assert relative_error(decar.get_timestamp_embeddings(audio[i : i + 1], model)[0][0], steps[i]) < 1e-5


def test_long_clips_go_in_bounded_chunks(official_ckpt):
    """Squeeze-excitation sees its whole input, so chunks are independent passes of near-equal length."""
    model = decar.load_model(str(official_ckpt), chunk_seconds=1.0)
    audio = synthetic_clips(3.5, n=1)
    total = 1 + (len(audio[0]) - 400) // 160
    bounds = model._chunk_bounds(total)
    assert bounds[0][0] == 0 and bounds[-1][1] == total and len(bounds) == 4
    assert all(stop - start <= 128 and (stop - start) % 32 == 0 for start, stop in bounds[:-1])
    steps, timestamps = decar.get_timestamp_embeddings(audio, model)
    with torch.no_grad():
        whole_steps = torch.cat(model._clip_steps(audio)[0])
    assert len(whole_steps) == sum(-(-(stop - start) // 32) for start, stop in bounds)
    assert torch.equal(steps[0], whole_steps[: steps.shape[1]]) and timestamps[0, -1] <= 3500.0
    # Each chunk equals an independent pass over its own frames; the scene is the mean over all steps.
    logmel = model.frontend(audio)
    start, stop = bounds[1]
    with torch.no_grad():
        alone = model.model.model_efficient.extract_features(logmel[:, :, start:stop]).mean(dim=3)[0].T
    first = start // 32
    assert relative_error(steps[0, first : first + len(alone)], alone) < 1e-5
    assert relative_error(decar.get_scene_embeddings(audio, model)[0], whole_steps.mean(dim=0)) < 1e-5


@pytest.mark.parametrize("samples", [1, 100, 400, 3200])
def test_clips_shorter_than_a_step(model, samples):
    audio = synthetic_clips(samples / 16000)
    steps, timestamps = decar.get_timestamp_embeddings(audio, model)
    scene = decar.get_scene_embeddings(audio, model)
    assert steps.shape == (2, 1, 1280) and timestamps.tolist() == [[min(167.5, samples / 16)]] * 2
    assert torch.isfinite(steps).all() and torch.isfinite(scene).all()


def test_input_types(model):
    assert_input_types_agree(decar, model, synthetic_clips(1.0))


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_input_is_a_clear_error(model, audio, error, message):
    assert_bad_audio_rejected(
        (decar.get_scene_embeddings, decar.get_timestamp_embeddings), model, audio, error, message
    )


def test_bf16_tracks_fp32(official_ckpt, waves):
    fp32 = decar.get_scene_embeddings(waves["a_3s"], decar.load_model(str(official_ckpt)))
    bf16 = decar.get_scene_embeddings(waves["a_3s"], decar.load_model(str(official_ckpt), precision="bf16"))
    other = decar.get_scene_embeddings(waves["b_1p37s"], decar.load_model(str(official_ckpt)))
    # The calibrated recipe network amplifies rounding (~50x, README): bf16 stays far closer to fp32 than
    # another clip's embedding is.
    assert bf16.dtype == torch.float32 and torch.cosine_similarity(bf16, fp32).item() > 0.99
    assert torch.cosine_similarity(other, fp32).item() < 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_fixture(official_ckpt, waves, fixture):
    model = decar.load_model(str(official_ckpt)).to("cuda")
    for clip in CLIPS:
        scene = decar.get_scene_embeddings(waves[clip].cuda(), model)
        assert scene.device.type == "cuda"
        assert relative_error(scene.cpu(), fixture["outputs"][clip]["effnet_pooled"].flatten(1)) < 1e-3


def test_hearvalidator_passes(official_ckpt, tmp_path):
    assert_hearvalidator_passes("hear_ssl.decar", "--model", str(official_ckpt), cwd=tmp_path)
