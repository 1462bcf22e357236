"""DeLoRes-S / -M: parity with LAPE's official encoder (seed fixture, recipe weights) and the HEAR contract."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

import hear_ssl
import hear_ssl.delores as delores
from hear_ssl import registry
from hear_ssl.audio import load_audio
from hear_ssl.cli import main as cli
from hear_ssl.frontends.slaney_mel import SlaneyLogMel, per_clip_standardise, slaney_filterbank
from hear_ssl.models.delores import block_outputs, build_delores_encoder, convert_lape_state_dict
from hear_ssl.models.pooling import mean_max_pool
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


class LapeEncoderClass:
    """Stands for the class LAPE pickles into `hyper_parameters` (`base_encoder`)."""


@pytest.fixture(scope="module")
def seeds(reference_dir):
    return seeds_dir(reference_dir)


@pytest.fixture(scope="module")
def fixture(seeds):
    return load_fixture(seeds, "delores_s_fixture.pt")


@pytest.fixture(scope="module")
def waves(seeds):
    return load_fixture(seeds, "waves_16k.pt")


@pytest.fixture(scope="module")
def official_state(seeds, fixture):
    """The DELORES_S module state dict (`encoder.features_*`, `encoder.fc.*`), sha256-checked by the recipe."""
    return load_recipe(seeds).build_state_dict(fixture)


def lightning_state(fixture, official_state, seeds):
    """The LAPE upstream Lightning `state_dict`: the encoder under `encoder.` plus the Barlow-Twins head."""
    recipe = load_recipe(seeds)
    state = {"encoder." + key: value for key, value in official_state.items()}
    for key, shape, dtype in fixture["lightning_checkpoint_state_dict_spec"]:
        if key not in state:
            state[key] = torch.zeros(shape, dtype=torch.int64) if dtype == "int64" else recipe.recipe_tensor(key, shape)
    assert [k for k, _, _ in fixture["lightning_checkpoint_state_dict_spec"]] == list(state)
    return state


@pytest.fixture(scope="module")
def lightning_ckpt(tmp_path_factory, fixture, official_state, seeds):
    """A DeLoRes-S upstream `.ckpt` as Lightning writes it, with a pickled class in its hyper-parameters."""
    path = tmp_path_factory.mktemp("lape") / "delores_s_upstream.ckpt"
    torch.save(
        {
            "epoch": 3,
            "global_step": 1200,
            "pytorch-lightning_version": "1.9.5",
            "state_dict": lightning_state(fixture, official_state, seeds),
            "hyper_parameters": {"config": fixture["config"], "base_encoder": LapeEncoderClass},
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def model(lightning_ckpt):
    return delores.load_model(str(lightning_ckpt))


# --------------------------------------------------------------------------------------------------
# Parity


def test_slaney_filterbank_is_area_normalised():
    bank = slaney_filterbank(16000, 1024, 64, 60.0, 7800.0).double()
    freqs = torch.linspace(0, 8000, 513, dtype=torch.float64)
    # Slaney norm scales each triangle to unit area over Hz (up to the 15.6-Hz bin sampling of narrow bands).
    assert bank.shape == (513, 64) and (bank >= 0).all()
    centres = (bank * freqs[:, None]).sum(0) / bank.sum(0)
    assert centres[0] > 60 and centres[-1] < 7800 and (centres.diff() > 0).all()
    areas = torch.trapezoid(bank, freqs, dim=0)
    torch.testing.assert_close(areas, torch.full_like(areas, 1.0), rtol=0.1, atol=0.0)


@pytest.mark.parametrize("clip", CLIPS)
def test_frontend_matches_fixture_features(waves, fixture, clip):
    features = per_clip_standardise(SlaneyLogMel()(waves[clip]))
    assert relative_error(features, fixture["inputs"]["logmel"][clip]) < 1e-4


@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_parity_every_recorded_layer(fixture, official_state, clip):
    encoder = build_delores_encoder()
    encoder.load_state_dict(convert_lape_state_dict(official_state), strict=True)
    encoder.eval()
    reference = fixture["outputs"][clip]
    with torch.no_grad():
        layers = block_outputs(encoder, fixture["inputs"]["logmel"][clip])
        outputs = {
            "embedding": mean_max_pool(layers[-1]),
            "layer1_mean": layers[0].mean(dim=1),
            "layer2_mean": layers[1].mean(dim=1),
            "layer3_mean": layers[2].mean(dim=1),
        }
        if "frames" in reference:
            outputs["frames"] = encoder.forward_frames(fixture["inputs"]["logmel"][clip])
    assert set(outputs) == set(reference)
    for name, value in outputs.items():
        assert relative_error(value, reference[name]) < 1e-4, name


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_parity_from_the_waveform(model, waves, fixture, clip):
    reference = fixture["outputs"][clip]
    scene = delores.get_scene_embeddings(waves[clip], model)
    assert relative_error(scene, reference["embedding"]) < 1e-3
    frames, timestamps = delores.get_timestamp_embeddings(waves[clip], model)
    if "frames" in reference:
        assert relative_error(frames, reference["frames"]) < 1e-3
    # The scene embedding is the authors' max + mean of the timestamp frames.
    torch.testing.assert_close(frames.amax(dim=1) + frames.mean(dim=1), scene, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_layer_option_parity_from_the_waveform(lightning_ckpt, waves, fixture, layer):
    """`layer=k` embeds conv block k as LAPE's downstream does: its time mean is the fixture's layer{k}_mean."""
    model = delores.load_model(str(lightning_ckpt), layer=layer)
    assert model.scene_embedding_size == model.timestamp_embedding_size == {1: 2048, 2: 1024, 3: 512}[layer]
    for clip in CLIPS:
        scene = delores.get_scene_embeddings(waves[clip], model)
        assert relative_error(scene, fixture["outputs"][clip][f"layer{layer}_mean"]) < 1e-3
    frames, timestamps = delores.get_timestamp_embeddings(waves["a_3s"], model)
    stride = 2**layer
    assert frames.shape == (1, 301 // stride, model.timestamp_embedding_size)
    assert timestamps[0, 0] == 10 * (stride - 1) / 2 and torch.allclose(timestamps.diff(), torch.tensor(10.0 * stride))
    # Streaming in chunks reproduces the whole-clip frames of every layer.
    chunked = delores.load_model(str(lightning_ckpt), layer=layer, chunk_seconds=1.0)
    assert relative_error(delores.get_timestamp_embeddings(waves["a_3s"], chunked)[0], frames) < 1e-5
    with pytest.raises(ValueError, match="layer must be one of"):
        delores.load_model(str(lightning_ckpt), layer=0)


# --------------------------------------------------------------------------------------------------
# Checkpoint layouts


def test_every_lape_layout_loads_the_same_encoder(official_state, fixture, seeds):
    reference = convert_lape_state_dict(official_state)
    bare = {key.removeprefix("encoder."): value for key, value in official_state.items()}
    lightning = lightning_state(fixture, official_state, seeds)
    for layout in (bare, lightning):
        converted = convert_lape_state_dict(layout)
        assert list(converted) == list(reference) and all(torch.equal(converted[k], reference[k]) for k in reference)


def test_delores_m_uses_the_query_encoder(tmp_path, official_state, waves, fixture):
    """DeLoRes-M (MoCo): `encoder_q.encoder.*` is used, the momentum copy and the contrastive head are not."""
    state = {}
    for key, value in official_state.items():
        state["encoder_q." + key] = value
        state["encoder_k." + key] = value + 1.0  # a different encoder: loading it would change the outputs
    state.update({"encoder_q.fc.weight": torch.zeros(128, 2048), "encoder_q.fc.bias": torch.zeros(128)})
    state.update({"encoder_k.fc.weight": torch.zeros(128, 2048), "encoder_k.fc.bias": torch.zeros(128)})
    state.update({"queue": torch.zeros(128, 16), "queue_ptr": torch.zeros(1, dtype=torch.long)})
    state.update({f"p{i}.projector.0.weight": torch.zeros(2048, 2048 >> (i - 1)) for i in (1, 2, 3)})
    path = tmp_path / "delores_m.ckpt"
    torch.save({"epoch": 1, "state_dict": state}, path)
    model = delores.load_model(str(path))
    assert model.name == "delores-m"
    scene = delores.get_scene_embeddings(waves["a_3s"], model)
    assert relative_error(scene, fixture["outputs"]["a_3s"]["embedding"]) < 1e-3


def test_a_checkpoint_loads_fully_or_fails_loudly(tmp_path, official_state):
    """LAPE's downstream loader silently loads none of an upstream DeLoRes-S encoder; ours never loads part."""
    partial = {k: v for k, v in official_state.items() if "fc.3" not in k}
    with pytest.raises(CheckpointError, match="25"):
        convert_lape_state_dict(partial)
    byola_keys = {f"features.{k}": v for k, v in convert_lape_state_dict(official_state).items()}
    with pytest.raises(CheckpointError, match="delores-s"):
        convert_lape_state_dict(byola_keys)
    extra = {**official_state, "encoder.extra_head.weight": torch.zeros(3)}
    with pytest.raises(CheckpointError, match="unexpected keys"):
        convert_lape_state_dict(extra)
    wrong = {**official_state, "encoder.fc.0.weight": torch.zeros(2048, 256)}
    with pytest.raises(CheckpointError, match="shape"):
        convert_lape_state_dict(wrong)


def test_bad_checkpoints_are_clear_errors(tmp_path, lightning_ckpt):
    with pytest.raises(CheckpointError, match="no published weights"):
        delores.load_model("")
    with pytest.raises(CheckpointError, match="not found"):
        delores.load_model(str(tmp_path / "missing.ckpt"))
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(lightning_ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        delores.load_model(str(truncated))
    foreign = tmp_path / "foreign.pth"
    torch.save({"model_efficient.module._conv_stem.weight": torch.zeros(32, 1, 3, 3)}, foreign)
    with pytest.raises(CheckpointError, match="not a delores-s checkpoint"):
        delores.load_model(str(foreign))
    with pytest.raises(ValueError, match="delores-s"):
        delores.load_model(str(lightning_ckpt), model_name="byol-a-512")
    with pytest.raises(CheckpointError, match="not a delores-m checkpoint"):
        delores.load_model(str(lightning_ckpt), model_name="delores-m")  # a DeLoRes-S file named as -M
    with pytest.raises(ValueError, match="serab_compat"):
        delores.load_model(str(lightning_ckpt), serab_compat=True)


# --------------------------------------------------------------------------------------------------
# Registry binding


def test_registry_entries_say_no_weights_are_published():
    assert delores.MODEL_NAMES == ("delores-s", "delores-m") and delores.DEFAULT_MODEL == "delores-s"
    for name in delores.MODEL_NAMES:
        arch, entry = registry.get_architecture(name), registry.get_weights(name)
        assert (
            arch.family == "delores"
            and entry.name == f"{name}.user"
            and registry.available_weights(name) == [entry.name]
        )
        assert not (entry.bundled or entry.hub or entry.redistributable or entry.filename or entry.sha256)
        assert entry.description.startswith("user-provided; none published")
        assert arch.embedding_size == 2048
        assert arch.config.num_parameters() == sum(p.numel() for p in build_delores_encoder().parameters())


def test_top_level_loader_and_cli_serve_delores(lightning_ckpt, tmp_path, waves, fixture):
    model = hear_ssl.load_model(str(lightning_ckpt), "delores-s.user")
    assert isinstance(model, type(delores.load_model(str(lightning_ckpt))))
    wav = tmp_path / "a.wav"
    soundfile.write(wav, waves["a_3s"][0].numpy(), 16000, subtype="FLOAT")
    out = tmp_path / "emb.npz"
    assert cli(["embed", str(wav), "--model", "delores-s", "--weights", str(lightning_ckpt), "--out", str(out),
                "--timestamps", "--quiet"]) == 0  # fmt: skip
    saved = np.load(out)
    audio = torch.from_numpy(load_audio(wav)).unsqueeze(0)
    torch.testing.assert_close(torch.from_numpy(saved["scene/a.wav"]), delores.get_scene_embeddings(audio, model)[0])
    assert relative_error(torch.from_numpy(saved["scene/a.wav"])[None], fixture["outputs"]["a_3s"]["embedding"]) < 1e-3
    assert saved["timestamps/a.wav"][0] == 35.0
    # Without --weights the CLI says there are no published weights (exit 2, one line).
    assert cli(["embed", str(wav), "--model", "delores-s", "--out", str(out), "--quiet"]) == 2


# --------------------------------------------------------------------------------------------------
# HEAR contract


def test_attributes_and_timestamps(model):
    assert model.sample_rate == 16000 and model.scene_embedding_size == model.timestamp_embedding_size == 2048
    audio = synthetic_clips(2.0)
    frames, timestamps = delores.get_timestamp_embeddings(audio, model)
    assert frames.shape == (2, (32000 // 160 + 1) // 8, 2048) and frames.dtype == timestamps.dtype == torch.float32
    assert timestamps[0, 0] == 35.0 and torch.allclose(timestamps.diff(dim=1), torch.tensor(80.0))
    assert not torch.allclose(frames[0, 0], frames[0, -1])


def test_batch_equals_one_at_a_time(model):
    audio = synthetic_clips(1.5, n=3)
    audio[1] *= 5.0  # per-clip normalisation: a louder neighbour must not change the others
    scene = delores.get_scene_embeddings(audio, model)
    frames, _ = delores.get_timestamp_embeddings(audio, model)
    for i in range(3):
        alone = delores.get_scene_embeddings(audio[i : i + 1], model)[0]
        assert relative_error(alone, scene[i]) < 1e-5
        assert relative_error(delores.get_timestamp_embeddings(audio[i : i + 1], model)[0][0], frames[i]) < 1e-5


def test_long_clips_stream_in_chunks_exactly(lightning_ckpt):
    whole = delores.load_model(str(lightning_ckpt))
    chunked = delores.load_model(str(lightning_ckpt), chunk_seconds=1.0)
    audio = synthetic_clips(7.3)
    frames, timestamps = delores.get_timestamp_embeddings(audio, whole)
    chunked_frames, chunked_timestamps = delores.get_timestamp_embeddings(audio, chunked)
    assert torch.equal(timestamps, chunked_timestamps)
    assert relative_error(chunked_frames, frames) < 1e-5
    scene = delores.get_scene_embeddings(audio, whole)
    assert relative_error(delores.get_scene_embeddings(audio, chunked), scene) < 1e-5


@pytest.mark.parametrize("samples", [1, 100, 600, 1200])
def test_clips_shorter_than_a_frame(model, samples):
    audio = synthetic_clips(samples / 16000)
    frames, timestamps = delores.get_timestamp_embeddings(audio, model)
    scene = delores.get_scene_embeddings(audio, model)
    assert frames.shape == (2, 1, 2048) and timestamps.tolist() == [[min(35.0, samples / 16)]] * 2
    assert torch.isfinite(frames).all() and torch.isfinite(scene).all()


def test_input_types(model):
    assert_input_types_agree(delores, model, synthetic_clips(1.0))


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_input_is_a_clear_error(model, audio, error, message):
    assert_bad_audio_rejected(
        (delores.get_scene_embeddings, delores.get_timestamp_embeddings), model, audio, error, message
    )


def test_bf16_tracks_fp32(lightning_ckpt, waves):
    fp32 = delores.get_scene_embeddings(waves["a_3s"], delores.load_model(str(lightning_ckpt)))
    bf16 = delores.get_scene_embeddings(waves["a_3s"], delores.load_model(str(lightning_ckpt), precision="bf16"))
    assert bf16.dtype == torch.float32 and relative_error(bf16, fp32) < 0.02
    with pytest.raises(ValueError, match="precision"):
        delores.load_model(str(lightning_ckpt), precision="int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_fixture(lightning_ckpt, waves, fixture):
    model = delores.load_model(str(lightning_ckpt)).to("cuda")
    for clip in CLIPS:
        scene = delores.get_scene_embeddings(waves[clip].cuda(), model)
        assert scene.device.type == "cuda"
        assert relative_error(scene.cpu(), fixture["outputs"][clip]["embedding"]) < 1e-3


def test_hearvalidator_passes(lightning_ckpt, tmp_path):
    assert_hearvalidator_passes("hear_ssl.delores", "--model", str(lightning_ckpt), cwd=tmp_path)


def test_long_clip_memory_stays_bounded(lightning_ckpt):
    """A 4-min clip in 10-s chunks: peak memory grows far less than whole-clip encoding (~780 MiB here)."""
    script = f"""
import resource, torch, hear_ssl.delores as m
torch.set_num_threads(1)
model = m.load_model({str(lightning_ckpt)!r}, chunk_seconds=10.0)
audio = torch.zeros(1, 240 * 16000)
audio[0, ::7] = 0.1
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = m.get_scene_embeddings(audio, model)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert out.shape == (1, 2048) and torch.isfinite(out).all()
print((after - before) // 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    growth_mib = int(result.stdout.strip().splitlines()[-1])
    assert growth_mib < 300, f"peak memory grew by {growth_mib} MiB"
