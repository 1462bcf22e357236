"""ATST-Clip and ATST-Frame against the official implementation's outputs, checkpoint formats, HEAR behaviour.

Fixtures: ../shared/reference/seeds/atst_{frame,clip}_fixture.pt (README there, sections 3-4): small random
configs (96 wide, 2 blocks, 2 heads) in the official checkpoint layouts.
"""

import argparse

import pytest
import torch
from torch.nn import functional as F

import hear_ssl.atst as atst
from hear_ssl.frontends.db_mel import DbMelSpectrogram
from hear_ssl.models.atst import ATSTClip, ATSTConfig, ATSTFrame
from hear_ssl.weights import CheckpointError

from .validator_support import assert_hearvalidator_passes
from .zoo_support import BAD_AUDIO, assert_bad_audio_rejected, assert_input_types_agree

CLIPS = ("a_3s", "b_1p37s", "c_batch2_1s")
INPUTS = CLIPS + ("padded_pair",)
HEADS = 2  # the fixtures' head count; no official format records it, so the tests pass it


def relative_error(got: torch.Tensor, reference: torch.Tensor) -> float:
    return float((got.float() - reference).abs().max() / reference.abs().max())


@pytest.fixture(scope="module")
def seeds(reference_dir):
    return reference_dir / "seeds"


@pytest.fixture(scope="module")
def waves(seeds):
    return torch.load(seeds / "waves_16k.pt", weights_only=True)


@pytest.fixture(scope="module", params=["frame", "clip"])
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def fixtures(seeds):
    return {k: torch.load(seeds / f"atst_{k}_fixture.pt", weights_only=True) for k in ("frame", "clip")}


def mels(fixture):
    """The fixture's mel inputs plus `padded_pair`, built as the README says (zero padding of the scaled mel)."""
    mel = dict(fixture["inputs"]["mel"])
    mel["padded_pair"] = torch.cat([mel["a_3s"], F.pad(mel["b_1p37s"], (0, 301 - 138))])
    return mel


def encoder(fixture, kind):
    config = fixture["config"]
    model = {"frame": ATSTFrame, "clip": ATSTClip}[kind](
        ATSTConfig(embed_dim=config["embed_dim"], depth=config["depth"], num_heads=config["num_heads"])
    ).eval()
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model


def lightning_checkpoint(fixture, path, hyper_parameters=None):
    """An official-format Lightning checkpoint: the teacher encoder plus the other sub-networks' keys."""
    state = dict(fixture["checkpoint_state_dict"])
    state["model.student.encoder.pos_embed"] = torch.zeros(1)
    state["model.teacher.projector.weight"] = torch.zeros(1)
    payload = {"state_dict": state, "pytorch-lightning_version": "1.9.5"}
    if hyper_parameters is not None:
        payload["hyper_parameters"] = hyper_parameters
    torch.save(payload, path)
    return path


@pytest.fixture(scope="module")
def hear_models(fixtures, tmp_path_factory):
    folder = tmp_path_factory.mktemp("atst")
    return {
        k: atst.load_model(lightning_checkpoint(fixtures[k], folder / f"{k}.ckpt", {"num_heads": HEADS}))
        for k in ("frame", "clip")
    }


# ----------------------------------------------------------------------------------------------------------
# Parity


@pytest.mark.parametrize("clip", CLIPS)
def test_frontend_matches_the_official_mel(fixtures, waves, clip):
    assert relative_error(DbMelSpectrogram()(waves[clip]), fixtures["frame"]["inputs"]["mel"][clip]) < 1e-4
    torch.testing.assert_close(fixtures["frame"]["inputs"]["mel"][clip], fixtures["clip"]["inputs"]["mel"][clip])


def test_frontend_chunks_do_not_change_the_result(waves):
    audio = waves["a_3s"]
    torch.testing.assert_close(DbMelSpectrogram(chunk_frames=37)(audio), DbMelSpectrogram()(audio))


@pytest.mark.parametrize("name", INPUTS)
def test_frame_encoder_matches_every_output(fixtures, name):
    fixture = fixtures["frame"]
    model, mel, length = encoder(fixture, "frame"), mels(fixture)[name], fixture["inputs"]["length"][name]
    with torch.no_grad():
        got = {"scene": model.scene_embedding(mel, length, 2), "timestamp": model.frame_embeddings(mel, length, 2)}
    for output, reference in fixture["outputs"][name].items():
        assert got[output].shape == reference.shape
        assert relative_error(got[output], reference) < 1e-4, output


def official_chunks(model, mel, length, n, chunk_len, avgpool=True):
    """The official `get_intermediate_layers_chunks` formula on top of our encoder, its quirks included:
    every chunk is told the clip's *remaining* length (its patch mean is divided by the remaining patch
    count) and a chunk is counted only if it is the first or has more than chunk_len // 2 frames left."""
    total, marks, embeddings = mel.shape[-1], [], []
    for i in range(total // chunk_len + 1):
        remaining = (length - i * chunk_len).clamp(min=0)
        chunk = mel[..., i * chunk_len : min((i + 1) * chunk_len, total)]
        marks.append(remaining > 0 if i == 0 else remaining > chunk_len // 2)
        if chunk.shape[-1] < 4:
            embeddings.append(torch.zeros(mel.shape[0], 2 * n * model.embed_dim))
            continue
        outputs, _ = model.intermediate_layers(chunk, remaining, n)
        patches = torch.div(remaining, 4, rounding_mode="floor")
        inside = (torch.arange(outputs[0].shape[1] - 1) < patches[:, None]).unsqueeze(-1)
        cls = [out[:, 0] for out in outputs]
        avg = [(out[:, 1:] * inside).sum(1) / (patches[:, None] + 1e-6) for out in outputs]
        embeddings.append(torch.cat(cls + avg, dim=-1))
    marks = torch.stack(marks).float()[..., None]
    result = (torch.stack(embeddings) * marks).sum(0) / marks.sum(0)
    return result if avgpool else result[:, : n * model.embed_dim]


@pytest.mark.parametrize("name", INPUTS)
def test_clip_encoder_matches_every_output(fixtures, name):
    fixture = fixtures["clip"]
    model, mel, length = encoder(fixture, "clip"), mels(fixture)[name], fixture["inputs"]["length"][name]
    outputs = fixture["outputs"][name]
    with torch.no_grad():
        intermediate, _ = model.intermediate_layers(mel, length, 2)
        got = {
            "forward_cls": model(mel, length),
            # One 6-s chunk holds every fixture input: the clean chunking and the official one agree.
            "chunks_601": model.cls_and_mean(mel, length, 2),
            "chunks_601_no_avgpool": model.cls_and_mean(mel, length, 2)[:, : 2 * model.embed_dim],
            "chunks_101": official_chunks(model, mel, length, 2, 101),
        }
        official_601 = official_chunks(model, mel, length, 2, 601)
    assert len(intermediate) == len(outputs["intermediate"]) == 2
    for block, reference in zip(intermediate, outputs["intermediate"]):
        assert block.shape == reference.shape and relative_error(block, reference) < 1e-4
    for output in ("forward_cls", "chunks_601", "chunks_601_no_avgpool", "chunks_101"):
        assert got[output].shape == outputs[output].shape, output
        assert relative_error(got[output], outputs[output]) < 1e-4, output
    assert relative_error(official_601, outputs["chunks_601"]) < 1e-4


def test_padded_pair_rows_are_the_single_clips(fixtures):
    """ATST masks padded keys and averages over each row's own length: a zero-padded row is its clip."""
    for kind in ("frame", "clip"):
        fixture = fixtures[kind]
        model, mel = encoder(fixture, kind), mels(fixture)
        with torch.no_grad():
            pair, _ = model.intermediate_layers(mel["padded_pair"], fixture["inputs"]["length"]["padded_pair"], 2)
            alone, _ = model.intermediate_layers(mel["b_1p37s"], None, 2)
            first, _ = model.intermediate_layers(mel["a_3s"], None, 2)
        for p, b, a in zip(pair, alone, first):
            torch.testing.assert_close(p[1:2, : b.shape[1]], b, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(p[0:1], a, rtol=1e-4, atol=1e-5)
    frame = fixtures["frame"]["outputs"]
    torch.testing.assert_close(frame["padded_pair"]["scene"][1:], frame["b_1p37s"]["scene"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("clip", CLIPS)
def test_hear_api_from_the_waveform(fixtures, hear_models, waves, kind, clip):
    model, outputs, audio = hear_models[kind], fixtures[kind]["outputs"][clip], waves[clip]
    scene = atst.get_scene_embeddings(audio, model)
    embeddings, timestamps = atst.get_timestamp_embeddings(audio, model)
    assert scene.shape == (len(audio), model.scene_embedding_size)
    assert embeddings.shape[-1] == model.timestamp_embedding_size == 192
    if kind == "frame":
        assert relative_error(scene, outputs["scene"]) < 1e-3
        assert relative_error(embeddings, outputs["timestamp"]) < 1e-3
    else:
        assert relative_error(scene, outputs["chunks_601"]) < 1e-3
        tokens = torch.cat([block[:, 1:] for block in outputs["intermediate"]], dim=-1)
        assert relative_error(embeddings, tokens) < 1e-3
    # One token per 4 frames (40 ms), centred on its frames: 15, 55, 95, ... ms.
    expected = (torch.arange(embeddings.shape[1]) * 40.0 + 15.0).expand(len(audio), -1)
    torch.testing.assert_close(timestamps, expected)


# ----------------------------------------------------------------------------------------------------------
# HEAR behaviour


def test_batch_gives_the_one_at_a_time_result(hear_models, kind):
    model = hear_models[kind]
    audio = 0.1 * torch.randn(3, 20000, generator=torch.Generator().manual_seed(0))
    audio[1] *= 5  # a louder clip: the dB floor is per clip, so it must not move the others
    scene = atst.get_scene_embeddings(audio, model)
    frames, _ = atst.get_timestamp_embeddings(audio, model)
    for i in range(3):
        torch.testing.assert_close(atst.get_scene_embeddings(audio[i : i + 1], model)[0], scene[i])
        torch.testing.assert_close(atst.get_timestamp_embeddings(audio[i : i + 1], model)[0][0], frames[i])


def test_frame_long_clip_chunks_lose_no_frame(hear_models):
    """25 s = 2501 frames: chunks of 1000 frames (250 tokens each), 625 tokens in all, scene = their mean."""
    model = hear_models["frame"]
    audio = 0.1 * torch.randn(1, 25 * 16000, generator=torch.Generator().manual_seed(1))
    embeddings, timestamps = atst.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (1, 2501 // 4, 192)
    torch.testing.assert_close(timestamps.diff(dim=1), torch.full((1, 624), 40.0))
    mel = model.frontend(audio)
    with torch.no_grad():
        second = model.encoder.frame_embeddings(mel[..., 1000:2000], None, 2)
    torch.testing.assert_close(embeddings[:, 250:500], second, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(atst.get_scene_embeddings(audio, model), embeddings.mean(dim=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seconds, counted", [(15.0, 2), (16.0, 3)])
def test_clip_long_clip_chunk_mean(hear_models, seconds, counted):
    """6-s chunks (601 frames) each with their own length, equal weights, a tail of <= 300 frames left out."""
    model = hear_models["clip"]
    audio = 0.1 * torch.randn(1, int(seconds * 16000), generator=torch.Generator().manual_seed(2))
    mel = model.frontend(audio)
    with torch.no_grad():
        chunks = [model.encoder.cls_and_mean(mel[..., i * 601 : (i + 1) * 601], None, 2) for i in range(counted)]
    expected = torch.stack(chunks).mean(dim=0)
    torch.testing.assert_close(atst.get_scene_embeddings(audio, model), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("samples", [1, 100, 480, 513, 700])
def test_clips_shorter_than_a_token(hear_models, kind, samples):
    model = hear_models[kind]
    audio = 0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(0))
    embeddings, timestamps = atst.get_timestamp_embeddings(audio, model)
    scene = atst.get_scene_embeddings(audio, model)
    assert embeddings.shape[:2] == timestamps.shape == (2, 1)
    assert torch.isfinite(embeddings).all() and torch.isfinite(scene).all()


def test_layer_option_selects_one_block(fixtures, tmp_path, waves):
    path = lightning_checkpoint(fixtures["frame"], tmp_path / "f.ckpt", {"num_heads": HEADS})
    first = atst.load_model(path, layer=0)
    assert first.timestamp_embedding_size == first.scene_embedding_size == 96
    embeddings, _ = atst.get_timestamp_embeddings(waves["a_3s"], first)
    reference = fixtures["frame"]["outputs"]["a_3s"]["timestamp"]
    assert relative_error(embeddings, reference[..., :96]) < 1e-3
    with pytest.raises(ValueError, match="layer must be in"):
        atst.load_model(path, layer=2)


def test_bf16_is_close_to_fp32(fixtures, tmp_path, hear_models, waves, kind):
    path = lightning_checkpoint(fixtures[kind], tmp_path / "m.ckpt", {"num_heads": HEADS})
    low = atst.load_model(path, precision="bf16")
    reference = atst.get_scene_embeddings(waves["a_3s"], hear_models[kind])
    got = atst.get_scene_embeddings(waves["a_3s"], low)
    assert got.dtype == torch.float32 and relative_error(got, reference) < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(hear_models, waves, kind):
    model = hear_models[kind]
    reference = atst.get_scene_embeddings(waves["a_3s"], model)
    got = atst.get_scene_embeddings(waves["a_3s"].cuda(), model.to("cuda")).cpu()
    model.to("cpu")
    assert relative_error(got, reference) < 1e-3


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_input_is_a_clear_error(hear_models, kind, audio, error, message):
    calls = (atst.get_scene_embeddings, atst.get_timestamp_embeddings)
    assert_bad_audio_rejected(calls, hear_models[kind], audio, error, message)


def test_int16_numpy_and_empty_input(hear_models, kind, waves):
    assert_input_types_agree(atst, hear_models[kind], waves["b_1p37s"])


# ----------------------------------------------------------------------------------------------------------
# Checkpoint formats


def scene_of(model, waves):
    return atst.get_scene_embeddings(waves["a_3s"], model)


def test_every_checkpoint_format_loads_the_same_encoder(fixtures, hear_models, tmp_path, waves, kind):
    fixture, reference = fixtures[kind], scene_of(hear_models[kind], waves)
    bare = tmp_path / "bare.pt"
    torch.save(fixture["state_dict"], bare)
    prefixed = tmp_path / "prefixed.pt"
    torch.save(fixture["checkpoint_state_dict"], prefixed)
    no_hparams = lightning_checkpoint(fixture, tmp_path / "no_hparams.ckpt")
    from safetensors.torch import save_file

    safetensors = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in fixture["state_dict"].items()}, str(safetensors))
    for path in (bare, prefixed, no_hparams, safetensors):
        model = atst.load_model(path, num_heads=HEADS)
        assert model.kind == kind
        torch.testing.assert_close(scene_of(model, waves), reference)
    with pytest.raises(CheckpointError, match="num_heads"):
        atst.load_model(no_hparams)


def test_old_teacher_args_format(fixtures, hear_models, tmp_path, waves):
    fixture = fixtures["clip"]
    teacher = {f"module.backbone.{k}": v for k, v in fixture["state_dict"].items()}
    teacher["module.head.mlp.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "old.pth"
    torch.save({"teacher": teacher, "args": argparse.Namespace(arch="ast", anchor_len=[3.0, 3.0])}, path)
    # arch "ast" names the small variant, whose shapes these are not: the head count must be given.
    with pytest.raises(CheckpointError, match="num_heads"):
        atst.load_model(path)
    model = atst.load_model(path, num_heads=HEADS)
    assert model.chunk_frames == 301  # train_len from args.anchor_len[0]
    torch.testing.assert_close(scene_of(model, waves), scene_of(hear_models["clip"], waves))
    # A 10-s train length: 1001-frame chunks, the whole positional embedding (250 tokens) and one spare frame.
    torch.save({"teacher": teacher, "args": argparse.Namespace(arch="ast", anchor_len=[10.0])}, path)
    model = atst.load_model(path, num_heads=HEADS)
    audio = 0.1 * torch.randn(1, 17 * 16000, generator=torch.Generator().manual_seed(3))
    mel = model.frontend(audio)
    with torch.no_grad():
        expected = torch.stack(
            [model.encoder.cls_and_mean(mel[..., :1001], None, 2), model.encoder.cls_and_mean(mel[..., 1001:], None, 2)]
        )
    assert model.chunk_frames == 1001
    torch.testing.assert_close(atst.get_scene_embeddings(audio, model), expected.mean(0), rtol=1e-4, atol=1e-5)


def test_official_variants_are_inferred_from_shapes():
    from hear_ssl.models.atst import VARIANTS, infer_kind_and_config

    for name, config in VARIANTS.items():
        with torch.device("meta"):
            state = ATSTFrame(config).state_dict()
        kind, inferred = infer_kind_and_config(state)
        assert kind == "frame" and inferred == config, name


def test_wrong_missing_foreign_and_truncated_checkpoints(fixtures, tmp_path, seeds):
    clip = lightning_checkpoint(fixtures["clip"], tmp_path / "clip.ckpt", {"num_heads": HEADS})
    with pytest.raises(CheckpointError, match="ATST-Clip encoder, not atst-frame-base"):
        atst.load_model(clip, model_name="atst-frame-base")
    with pytest.raises(ValueError, match="not served by hear_ssl.atst"):
        atst.load_model(clip, model_name="beats-iter3")
    with pytest.raises(CheckpointError, match="bundles no weights.*checkpointstorage"):
        atst.load_model("")
    with pytest.raises(CheckpointError, match="is not atst-frame-base.official: its encoder is 96 wide"):
        atst.load_model(
            lightning_checkpoint(fixtures["frame"], tmp_path / "f.ckpt", {"num_heads": 2}), "atst-frame-base"
        )
    with pytest.raises(CheckpointError, match="not found"):
        atst.load_model(tmp_path / "absent.ckpt")
    with pytest.raises(CheckpointError, match="not an ATST checkpoint|not an ATST encoder"):
        atst.load_model(seeds / "TCN-pretrained-220204-1729-002-8b0f9fa5.pt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(clip.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        atst.load_model(truncated)
    extra = dict(fixtures["frame"]["state_dict"], **{"blocks.0.attn.qkv.bias": torch.zeros(288)})
    del extra["blocks.1.mlp.fc2.bias"]
    broken = tmp_path / "broken.pt"
    torch.save(extra, broken)
    with pytest.raises(CheckpointError, match="missing keys"):
        atst.load_model(broken, num_heads=HEADS)


@pytest.mark.parametrize("which", ["frame", "clip"])
def test_hearvalidator_passes(fixtures, tmp_path, which):
    weights = lightning_checkpoint(fixtures[which], tmp_path / f"{which}.ckpt", {"num_heads": HEADS})
    assert_hearvalidator_passes("hear_ssl.atst", "--model", str(weights), cwd=tmp_path)


def test_registry_entries():
    import hear_ssl
    from hear_ssl import registry

    assert atst.MODEL_NAMES == ("atst-clip-small", "atst-clip-base", "atst-frame-small", "atst-frame-base")
    for name in atst.MODEL_NAMES:
        arch, entry = registry.get_architecture(name), registry.get_weights(name)
        assert arch.module == "hear_ssl.atst" and entry.name == f"{name}.official" and not entry.bundled
        assert entry.license.startswith("CC BY 4.0") and entry.url.startswith("https://")
        encoder = {"clip": ATSTClip, "frame": ATSTFrame}[arch.config.kind](arch.config.encoder)
        assert arch.config.num_parameters() == sum(p.numel() for p in encoder.parameters())
        width = arch.config.encoder.depth * arch.config.encoder.embed_dim
        assert arch.embedding_size == (2 * width if arch.config.kind == "clip" else width)
    assert registry.get_weights("atst-clip-base").filename == "base.ckpt"
    assert registry.get_architecture("atst-frame-small").config.encoder.num_heads == 6
    # The top-level loader dispatches here; with nothing bundled it says where the file is published.
    with pytest.raises(CheckpointError, match="drive.google.com"):
        hear_ssl.load_model("", "atst-frame-base")
