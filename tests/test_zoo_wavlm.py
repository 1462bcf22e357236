"""WavLM: parity with the official implementation's fixtures, the HEAR contract, both checkpoint layouts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import hear_ssl
import hear_ssl.wavlm as wavlm
from hear_ssl.models.wavlm import WavLM, hf_to_official_state_dict, official_to_hf_state_dict, read_checkpoint
from hear_ssl.wavlm_config import WAVLM_BASE, WAVLM_LARGE, WavLMConfig, hf_config_from, parse_conv_layers
from hear_ssl.weights import CheckpointError

from .requires import unavailable
from .validator_support import assert_hearvalidator_passes
from .zoo_support import BAD_AUDIO, assert_bad_audio_rejected, assert_input_types_agree

VARIANTS = ("base", "large")
CLIPS = ("a_3s", "b_1p37s", "c_batch2_1s")


def relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    return ((actual - reference).abs().max() / reference.abs().max()).item()


@pytest.fixture(scope="module", params=VARIANTS)
def fixture(request, reference_dir):
    path = reference_dir / "seeds" / f"wavlm_{request.param}_fixture.pt"
    if not path.is_file():
        unavailable(f"WavLM fixture absent at {path}")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def official_file(fixture, tmp_path_factory):
    """The fixture's weights in the official checkpoint format, as WavLM-*.pt files are."""
    path = tmp_path_factory.mktemp("wavlm") / "WavLM-fixture.pt"
    torch.save({"cfg": fixture["config"], "model": fixture["state_dict"]}, path)
    return path


@pytest.fixture(scope="module")
def encoder(fixture):
    model = WavLM(WavLMConfig.from_cfg(fixture["config"])).eval()
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model


@pytest.fixture(scope="module")
def model(official_file):
    return wavlm.load_model(str(official_file))


def as_official_input(fixture, source: torch.Tensor) -> torch.Tensor:
    """What the fixture fed `extract_features`: the README's layer norm over the whole tensor when normalize."""
    return F.layer_norm(source, source.shape) if fixture["config"]["normalize"] else source


def default_reference(outputs: dict) -> torch.Tensor:
    return outputs["x"] if outputs["x_default_call_equals_x"] else outputs["x_default_call"]


def clips(n=3, seconds=1.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(n, int(seconds * 16000), generator=generator)


# ------------------------------------------------------------------------------------- encoder parity


@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_matches_every_fixture_output(fixture, encoder, clip):
    source, outputs = as_official_input(fixture, fixture["inputs"][clip]), fixture["outputs"][clip]
    layers = fixture["config"]["encoder_layers"]
    with torch.no_grad():
        x, layer_results, _ = encoder.extract_features(source, output_layer=layers)
        default = encoder(source)
    assert len(layer_results) == len(outputs["layer_results"]) == layers + 1
    for ours, reference in zip(layer_results, outputs["layer_results"]):
        assert relative_error(ours, reference.transpose(0, 1)) < 1e-4
    assert relative_error(x, outputs["x"]) < 1e-4
    assert relative_error(default, default_reference(outputs)) < 1e-4
    # Pre-LN (Large): the default call adds the final LayerNorm that output_layer=L skips.
    assert torch.allclose(default, x) is (not fixture["config"]["layer_norm_first"])


def test_every_parameter_gets_a_gradient(fixture):
    """Every official tensor takes part in the forward (mask_emb is training-only: span masking)."""
    model = WavLM(WavLMConfig.from_cfg(fixture["config"]))
    model.load_state_dict(fixture["state_dict"])
    _, results, _ = model.extract_features(fixture["inputs"]["b_1p37s"], output_layer=model.num_layers)
    (model(fixture["inputs"]["b_1p37s"]).square().mean() + sum(r.square().mean() for r in results)).backward()
    for name, param in model.named_parameters():
        if name != "mask_emb":
            assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().max() > 0, name


def test_encoder_matches_padded_pair(fixture, encoder):
    inputs = fixture["inputs"]
    source = torch.cat([inputs["a_3s"], F.pad(inputs["b_1p37s"], (0, 48000 - 21920))])
    padding = torch.arange(48000) >= 21920
    mask = torch.stack([torch.zeros_like(padding), padding])
    with torch.no_grad():
        x, _, frame_mask = encoder.extract_features(as_official_input(fixture, source), padding_mask=mask)
    reference = fixture["outputs"]["padded_pair"]
    assert torch.equal(frame_mask, reference["padding_mask"])
    assert relative_error(x, reference["x_default_call"]) < 1e-4


def test_state_dict_is_the_official_one(fixture, encoder):
    assert list(encoder.state_dict()) == list(fixture["state_dict"])
    layer_keys = [key for key in fixture["state_dict"] if "relative_attention_bias" in key]
    assert layer_keys == ["encoder.layers.0.self_attn.relative_attention_bias.weight"]


# ------------------------------------------------------------------------------------- HEAR API


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_matches_fixture_from_the_waveform(fixture, model, encoder, clip):
    audio, outputs = fixture["inputs"][clip], fixture["outputs"][clip]
    frames, timestamps = wavlm.get_timestamp_embeddings(audio, model)
    scene = wavlm.get_scene_embeddings(audio, model)
    if fixture["config"]["normalize"] and audio.shape[0] > 1:
        # The fixture normalised the 2-clip batch as one tensor; we normalise each clip, so compare with
        # the official encoder on per-clip normalised input and check the batch coupling is really gone.
        with torch.no_grad():
            reference = encoder(F.layer_norm(audio, audio.shape[-1:]))
        assert relative_error(frames, default_reference(outputs)) > 1e-3
    else:
        reference = default_reference(outputs)
    assert frames.shape == reference.shape and frames.dtype == torch.float32
    assert relative_error(frames, reference) < 1e-3
    assert relative_error(scene, reference.mean(dim=1)) < 1e-3
    hop = torch.full((timestamps.shape[1] - 1,), 20.0)
    assert timestamps[0, 0] == 12.5 and torch.allclose(timestamps[0].diff(), hop)


def test_batch_equals_one_at_a_time(model, official_file):
    audio = clips(3)
    audio[1] *= 10  # a loud clip must not change its neighbours (per-clip normalisation)
    frames, _ = wavlm.get_timestamp_embeddings(audio, model)
    scene = wavlm.get_scene_embeddings(audio, model)
    for i in range(3):
        alone, _ = wavlm.get_timestamp_embeddings(audio[i : i + 1], model)
        torch.testing.assert_close(alone[0], frames[i], rtol=1e-5, atol=1e-5)  # float noise of batched matmuls
        torch.testing.assert_close(wavlm.get_scene_embeddings(audio[i : i + 1], model)[0], scene[i])
    torch.testing.assert_close(wavlm.get_scene_embeddings(audio, model), scene, rtol=0, atol=0)
    # Encoder passes of one clip each (batch_seconds below a clip) give the same result.
    grouped = wavlm.load_model(str(official_file), batch_seconds=0.5)
    torch.testing.assert_close(wavlm.get_timestamp_embeddings(audio, grouped)[0], frames, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wavlm.get_scene_embeddings(audio, grouped), scene, rtol=1e-5, atol=1e-5)


def test_layer_option(fixture, official_file):
    audio, outputs = fixture["inputs"]["a_3s"], fixture["outputs"]["a_3s"]
    layers, width = fixture["config"]["encoder_layers"], fixture["config"]["encoder_embed_dim"]
    for k in range(layers + 1):
        frames, _ = wavlm.get_timestamp_embeddings(audio, wavlm.load_model(str(official_file), layer=k))
        assert relative_error(frames, outputs["layer_results"][k].transpose(0, 1)) < 1e-3
    every = wavlm.load_model(str(official_file), layer="all")
    assert every.scene_embedding_size == every.timestamp_embedding_size == (layers + 1) * width
    frames, _ = wavlm.get_timestamp_embeddings(audio, every)
    expected = torch.cat([result.transpose(0, 1) for result in outputs["layer_results"]], dim=-1)
    assert relative_error(frames, expected) < 1e-3
    for bad in (-1, layers + 1, "last", True, 1.0):
        with pytest.raises(ValueError, match="layer must be"):
            wavlm.load_model(str(official_file), layer=bad)


@pytest.mark.parametrize("samples", [1, 100, 399, 400, 719, 720])
def test_clips_shorter_than_a_frame(model, samples):
    audio = clips(2, seconds=samples / 16000)
    frames, timestamps = wavlm.get_timestamp_embeddings(audio, model)
    expected_frames = max(1, (samples - 400) // 320 + 1)
    assert frames.shape == (2, expected_frames, model.timestamp_embedding_size)
    assert timestamps.shape == (2, expected_frames)
    assert torch.isfinite(frames).all() and torch.isfinite(wavlm.get_scene_embeddings(audio, model)).all()


def test_long_clips_go_in_overlapping_windows(official_file):
    """Each kept frame is the frame the encoder gives on its window (2-s windows, 0.5-s context per side)."""
    model = wavlm.load_model(str(official_file), chunk_seconds=2.0, context_seconds=0.5)
    audio = clips(2, seconds=7.3)
    frames, timestamps = wavlm.get_timestamp_embeddings(audio, model)
    total = (audio.shape[1] - 400) // 320 + 1
    assert frames.shape[1] == timestamps.shape[1] == total
    assert torch.allclose(timestamps[0], 12.5 + 20.0 * torch.arange(total))
    prepared = model.prepare(audio)
    extractor = model.encoder.feature_extractor
    stats = extractor.group_norm_statistics(prepared) if extractor.group_norm_first else None
    window, context = 100, 25  # frames
    kept = 0
    while kept < total:
        start = max(0, min(kept - context, total - window))
        count = min(window - 2 * context, total - kept)
        with torch.no_grad():
            piece = prepared[:, start * 320 : (start + window - 1) * 320 + 400]
            expected = model.encoder.extract_features(piece, group_norm_stats=stats)[0]
        assert expected.shape[1] == window
        torch.testing.assert_close(frames[:, kept : kept + count], expected[:, kept - start : kept - start + count])
        kept += count
    scene = wavlm.get_scene_embeddings(audio, model)
    torch.testing.assert_close(scene, frames.mean(dim=1), rtol=1e-5, atol=1e-6)
    # A clip no longer than one window is a single official call.
    whole = wavlm.load_model(str(official_file))
    torch.testing.assert_close(
        wavlm.get_timestamp_embeddings(audio[:, :32000], model)[0],
        wavlm.get_timestamp_embeddings(audio[:, :32000], whole)[0],
    )


def test_windows_see_the_whole_clips_conv_features(encoder):
    """Base's conv-0 GroupNorm runs over the clip's time axis: with the streamed whole-clip statistics a
    window's conv features are exactly the whole clip's (so windowing only limits attention)."""
    extractor = encoder.feature_extractor
    if not extractor.group_norm_first:
        pytest.skip("the layer-norm conv stack has no clip-level statistics")
    audio = clips(2, seconds=3.0)
    with torch.no_grad():
        stats = extractor.group_norm_statistics(audio, segment_samples=4000)  # several segments
        first = extractor.conv_layers[0][0](audio.unsqueeze(1))
        torch.testing.assert_close(stats[0], first.mean(-1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats[1], first.var(-1, unbiased=False), rtol=1e-4, atol=1e-6)
        whole = extractor(audio)
        torch.testing.assert_close(extractor(audio, stats), whole, rtol=1e-4, atol=1e-5)
        start = 40  # frames
        window = extractor(audio[:, start * 320 : start * 320 + 50 * 320 + 80], stats)
        torch.testing.assert_close(window, whole[..., start : start + window.shape[-1]], rtol=1e-4, atol=1e-5)
        assert not torch.allclose(extractor(audio[:, start * 320 : start * 320 + 50 * 320 + 80]), window, atol=1e-3)


@pytest.mark.slow
def test_ten_minute_clip_has_bounded_memory(official_file):
    """Whole-clip attention over 10 min (30k frames) would need > 14 GB; windows keep the growth small."""
    script = f"""
import resource, torch, hear_ssl.wavlm as m
torch.set_num_threads(1)
model = m.load_model({str(official_file)!r})
audio = 0.1 * torch.randn(1, 600 * 16000, generator=torch.Generator().manual_seed(0))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = m.get_scene_embeddings(audio, model)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert out.shape == (1, model.scene_embedding_size) and torch.isfinite(out).all()
print((after - before) // 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) < 800, "peak memory grew by more than 800 MiB"


def test_bf16_is_close_to_fp32(official_file, model):
    audio = clips(2, seconds=2.0)
    half = wavlm.load_model(str(official_file), precision="bf16")
    frames, _ = wavlm.get_timestamp_embeddings(audio, half)
    reference, _ = wavlm.get_timestamp_embeddings(audio, model)
    assert frames.dtype == torch.float32 and relative_error(frames, reference) < 5e-2
    with pytest.raises(ValueError, match="precision"):
        wavlm.load_model(str(official_file), precision="fp8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="requires CUDA")
def test_cuda_matches_cpu(official_file, model):
    audio = clips(2, seconds=2.0)
    on_gpu = wavlm.load_model(str(official_file)).to("cuda")
    frames, timestamps = wavlm.get_timestamp_embeddings(audio, on_gpu)
    assert frames.device.type == timestamps.device.type == "cuda"
    reference, _ = wavlm.get_timestamp_embeddings(audio, model)
    assert relative_error(frames.cpu(), reference) < 1e-3


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_audio_is_a_clear_error(model, audio, error, message):
    calls = (wavlm.get_scene_embeddings, wavlm.get_timestamp_embeddings)
    assert_bad_audio_rejected(calls, model, audio, error, message)


def test_input_types(model):
    assert_input_types_agree(wavlm, model, clips(2))


def test_no_bundled_weights_says_where_to_get_them():
    with pytest.raises(CheckpointError, match="WavLM-Base.pt.*microsoft/wavlm-base"):
        wavlm.load_model("")
    with pytest.raises(CheckpointError, match="not found"):
        wavlm.load_model("/nonexistent/WavLM-Large.pt")
    with pytest.raises(ValueError, match="unknown model 'wavlm-huge'"):
        wavlm.load_model("x.pt", model_name="wavlm-huge")
    with pytest.raises(ValueError, match="not a WavLM model"):
        wavlm.load_model("x.pt", model_name="byol-a-512")
    # The package-level loader hands registry names to this module.
    with pytest.raises(CheckpointError, match="bundles no weights.*WavLM-Large.pt"):
        hear_ssl.load_model("", "wavlm-large")
    with pytest.raises(TypeError, match="unknown WavLM option"):
        wavlm.load_model("x.pt", chunk=3)


def test_foreign_and_broken_checkpoints_are_clear_errors(fixture, official_file, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(official_file.read_bytes()[: official_file.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        wavlm.load_model(str(truncated))
    foreign = tmp_path / "byola.pth"
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3), "fc.0.weight": torch.zeros(8, 8)}, foreign)
    with pytest.raises(CheckpointError, match="another model"):
        wavlm.load_model(str(foreign))
    import argparse

    torch.save({"cfg": argparse.Namespace(normalize=True), "model": {}}, tmp_path / "pickled.pt")  # an object
    with pytest.raises(CheckpointError, match="pickled objects"):
        wavlm.load_model(str(tmp_path / "pickled.pt"))
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a WavLM checkpoint"):
        wavlm.load_model(str(tmp_path / "list.pt"))
    incomplete = dict(fixture["state_dict"])
    del incomplete["encoder.layers.1.fc2.weight"]
    torch.save({"cfg": fixture["config"], "model": incomplete}, tmp_path / "incomplete.pt")
    with pytest.raises(CheckpointError, match="missing keys.*encoder.layers.1.fc2.weight"):
        wavlm.load_model(str(tmp_path / "incomplete.pt"))
    wider = {**fixture["config"], "encoder_ffn_embed_dim": 512}  # cfg and tensors disagree
    torch.save({"cfg": wider, "model": fixture["state_dict"]}, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="shape mismatches"):
        wavlm.load_model(str(tmp_path / "mismatch.pt"))
    hostile = {**fixture["config"], "conv_feature_layers": "__import__('os').system('true')"}
    torch.save({"cfg": hostile, "model": fixture["state_dict"]}, tmp_path / "hostile.pt")
    with pytest.raises(CheckpointError, match="conv_feature_layers"):
        wavlm.load_model(str(tmp_path / "hostile.pt"))


def test_conv_feature_layers_are_parsed_without_eval():
    released = parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2")
    assert released == ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
    assert WavLMConfig().hop_samples == 320 and WavLMConfig().receptive_field == 400
    assert parse_conv_layers("2 * [(8, 4, 2)]") == ((8, 4, 2), (8, 4, 2))
    for bad in ("[(512,10,5)] * x", "[(512,10)]", "[(512,10,-5)]", "open('f')", "[(1.5,2,2)]", "[]", "[(1,2,3)] - []"):
        with pytest.raises(ValueError, match="conv_feature_layers"):
            parse_conv_layers(bad)


def test_release_names(fixture):
    """A file's network is named after the release(s) it is; the fixtures' small networks are none."""
    assert wavlm.release_names(WAVLM_BASE) == ["wavlm-base", "wavlm-base-plus"]
    assert wavlm.release_names(WAVLM_LARGE) == ["wavlm-large"]
    assert wavlm.release_names(WavLMConfig(**{**WAVLM_LARGE.to_cfg(), "dropout": 0.0})) == ["wavlm-large"]
    assert wavlm.release_names(WavLMConfig.from_cfg(fixture["config"])) == []


def test_released_shapes():
    """Base/Base+ and Large as transformers' config.json of microsoft/wavlm-* describe them."""
    base, large = hf_config_from(WAVLM_BASE), hf_config_from(WAVLM_LARGE)
    for hf in (base, large):
        assert hf["conv_dim"] == [512] * 7 and hf["conv_kernel"] == [10, 3, 3, 3, 3, 2, 2]
        assert hf["conv_stride"] == [5, 2, 2, 2, 2, 2, 2] and hf["conv_bias"] is False
        assert (hf["num_conv_pos_embeddings"], hf["num_conv_pos_embedding_groups"]) == (128, 16)
        assert (hf["num_buckets"], hf["max_bucket_distance"]) == (320, 800)
    assert (base["hidden_size"], base["num_hidden_layers"], base["feat_extract_norm"]) == (768, 12, "group")
    assert (large["hidden_size"], large["num_hidden_layers"], large["num_attention_heads"]) == (1024, 24, 16)
    assert large["feat_extract_norm"] == "layer" and large["do_stable_layer_norm"] and WAVLM_LARGE.normalize
    assert WAVLM_BASE.embedding_size == 768 and 94e6 < WAVLM_BASE.num_parameters() < 95e6
    assert "12 layers" in WAVLM_BASE.describe() and "20 ms" in WAVLM_LARGE.describe_timestamps()


# ------------------------------------------------------------------------------------- Hugging Face layout


# The official config fields a Hugging Face config.json carries (besides the conv stack).
SHAPE_FIELDS = (
    "extractor_mode encoder_layers encoder_embed_dim encoder_ffn_embed_dim encoder_attention_heads activation_fn "
    "layer_norm_first conv_bias conv_pos conv_pos_groups relative_position_embedding num_buckets max_distance "
    "gru_rel_pos normalize"
).split()


def write_hf_snapshot(fixture, folder: Path, state_transform=None, weights_name="pytorch_model.bin") -> Path:
    config = WavLMConfig.from_cfg(fixture["config"])
    state = official_to_hf_state_dict(fixture["state_dict"])
    if state_transform is not None:
        state = state_transform(state)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config_from(config)))
    if weights_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / weights_name))
    else:
        torch.save(state, folder / weights_name)
    return folder


def test_hf_key_mapping_round_trips(fixture):
    config = WavLMConfig.from_cfg(fixture["config"])
    hf = official_to_hf_state_dict(fixture["state_dict"])
    # Names of transformers' WavLMModel (see its conversion script's MAPPING).
    group_or_layer = "feature_extractor.conv_layers.0.layer_norm.weight"
    for key in (
        "masked_spec_embed",
        "feature_extractor.conv_layers.0.conv.weight",
        group_or_layer,
        "feature_projection.layer_norm.bias",
        "feature_projection.projection.weight",
        "encoder.pos_conv_embed.conv.weight_g",
        "encoder.pos_conv_embed.conv.weight_v",
        "encoder.layers.0.attention.rel_attn_embed.weight",
        "encoder.layers.1.attention.gru_rel_pos_const",
        "encoder.layers.1.attention.gru_rel_pos_linear.bias",
        "encoder.layers.1.layer_norm.weight",
        "encoder.layers.1.feed_forward.intermediate_dense.weight",
        "encoder.layers.1.feed_forward.output_dense.bias",
        "encoder.layers.1.final_layer_norm.weight",
        "encoder.layer_norm.weight",
    ):
        assert key in hf, key
    back = hf_to_official_state_dict(hf, config)
    assert back.keys() == fixture["state_dict"].keys()
    assert all(back[key] is fixture["state_dict"][key] for key in back)
    with pytest.raises(KeyError, match="lm_head.weight"):
        hf_to_official_state_dict({**hf, "lm_head.weight": torch.zeros(2, 2)}, config)


@pytest.mark.parametrize(
    "variant",
    ["folder-bin", "file-safetensors", "wavlm-prefix", "parametrized-weight-norm"],
)
def test_hf_layout_loads_and_gives_the_same_outputs(fixture, model, tmp_path, variant):
    transform, weights_name = None, "pytorch_model.bin"
    if variant == "file-safetensors":
        weights_name = "model.safetensors"
    if variant == "wavlm-prefix":

        def transform(state):
            return {"wavlm." + key: value for key, value in state.items()}

    if variant == "parametrized-weight-norm":

        def transform(state):
            renamed = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}
            out = {}
            for key, value in state.items():
                for old, new in renamed.items():
                    key = key.replace(f"pos_conv_embed.conv.{old}", f"pos_conv_embed.conv.{new}")
                out[key] = value
            return out

    folder = write_hf_snapshot(fixture, tmp_path / "snapshot", transform, weights_name)
    target = folder / weights_name if variant == "file-safetensors" else folder
    config, _, layout = read_checkpoint(target)
    expected = WavLMConfig.from_cfg(fixture["config"])
    assert layout == "hf" and config.conv_layers == expected.conv_layers
    for name in SHAPE_FIELDS:
        assert getattr(config, name) == getattr(expected, name), name
    hub_model = wavlm.load_model(str(target))
    audio = fixture["inputs"]["a_3s"]
    torch.testing.assert_close(
        wavlm.get_timestamp_embeddings(audio, hub_model)[0], wavlm.get_timestamp_embeddings(audio, model)[0]
    )


def test_hf_file_without_config_is_a_clear_error(fixture, tmp_path):
    folder = write_hf_snapshot(fixture, tmp_path / "snapshot")
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        wavlm.load_model(str(folder / "pytorch_model.bin"))


def test_hub_reference_fetches_weights_and_config(fixture, model, tmp_path, monkeypatch):
    import huggingface_hub

    folder = write_hf_snapshot(fixture, tmp_path / "snapshot")
    requested = []

    def fake_download(repo_id, filename, revision=None, **kwargs):
        requested.append((repo_id, filename, revision))
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    hub_model = wavlm.load_model("hf://microsoft/wavlm-base/pytorch_model.bin@abc123")
    assert ("microsoft/wavlm-base", "config.json", "abc123") in requested
    # The fixture is a small network: naming a release it is not is an error, not a silent relabel.
    with pytest.raises(CheckpointError, match="different network than wavlm-base"):
        wavlm.load_model("hf://microsoft/wavlm-base/pytorch_model.bin@abc123", model_name="wavlm-base.hf")
    audio = fixture["inputs"]["b_1p37s"]
    torch.testing.assert_close(wavlm.get_scene_embeddings(audio, hub_model), wavlm.get_scene_embeddings(audio, model))


# ------------------------------------------------------------------------------------- command line


def test_cli_embeds_files_like_the_python_api(fixture, official_file, model, tmp_path, monkeypatch):
    import numpy as np
    import soundfile

    from hear_ssl.cli import main as cli

    clip = fixture["inputs"]["b_1p37s"][0].numpy()
    soundfile.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")
    soundfile.write(tmp_path / "tone8k.wav", clip[:8000], 8000, subtype="FLOAT")
    out = tmp_path / "o.npz"
    argv = ["embed", str(tmp_path / "clip.wav"), "--model", "wavlm-base", "--weights", str(official_file)]
    # The fixture is a small network, not WavLM Base: the CLI reports that in one line.
    assert cli([*argv, "--out", str(out), "--quiet"]) == 2
    # With the release check out of the way, the CLI plumbing gives the Python API's embeddings.
    monkeypatch.setattr(wavlm, "_same_network", lambda a, b: True)
    assert cli([*argv, "--out", str(out), "--quiet", "--timestamps"]) == 0
    frames, times = wavlm.get_timestamp_embeddings(fixture["inputs"]["b_1p37s"], model)
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["timestamp_embeddings/clip.wav"], frames[0].numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(saved["timestamps/clip.wav"], times[0].numpy())
    wrong_rate = ["embed", str(tmp_path / "tone8k.wav"), "--model", "wavlm-base", "--weights", str(official_file)]
    assert cli([*wrong_rate, "--sample-rate", "16000", "--out", str(out), "--quiet"]) == 2
    with pytest.raises(ValueError, match="serab_compat"):
        wavlm.load_model(str(official_file), serab_compat=True)


# ------------------------------------------------------------------------------------- hearvalidator


@pytest.mark.slow
def test_hearvalidator_passes(official_file, tmp_path):
    assert_hearvalidator_passes("hear_ssl.wavlm", "--model", str(official_file), cwd=tmp_path)
