"""Equivariant tempo pretraining of the zoo's TCN: its 44.1-kHz input cache, the stretched views and their rates,
the loss, and a run that is killed, resumes exactly, exports and loads through hear_ssl.tempo like the bundled
published weights (hearvalidator in the slow part)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hear_ssl import cli
from hear_ssl.audio import load_audio
from hear_ssl.data import cache as cache_module
from hear_ssl.data.cache import read_manifest
from hear_ssl.data.crops import LogMelCrops
from hear_ssl.data.files import resolve_audio_files
from hear_ssl.frontends.tempo_logmel import SILENCE, TEMPO_LOGMEL_CACHE, TempoLogMel
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.objectives import build_objective, objective_class
from hear_ssl.pretrain.objectives.base import Batch
from hear_ssl.ssl.augment import BYOLAugment
from hear_ssl.weights import read_checkpoint

from .pretrain_corpus import write_corpus
from .resume_support import REPO, killed_and_resumed
from .validator_support import assert_hearvalidator_passes

BUNDLED = REPO / "weights" / "tempo-tcn-quinton2022.safetensors"
# Views of 64 frames (0.64 s; crops of 77): the corpus files are 0.3-4 s.
TINY = ["--objective", "tempo", "--tempo-view-frames", "64"]
RUN = ["--batch-size", "6", "--max-steps", "6", "--checkpoint-every", "2", "--log-every", "1", "--no-progress",
       "--seed", "3", "--lr", "1e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Generated audio (16 and 22.05 kHz files) and its tempo cache, built once by `--prepare-only`."""
    root = tmp_path_factory.mktemp("tempo")
    write_corpus(root / "audio")
    cache = root / "cache"
    argv = ["pretrain", *TINY, "--data", str(root / "audio"), "--cache-dir", str(cache), "--prepare-only"]
    assert cli.main([*argv, "--no-progress"]) == 0
    return root / "audio", cache


def command(out_dir, audio, cache) -> list[str]:
    import sys

    return [sys.executable, "-m", "hear_ssl.cli", "pretrain", *TINY, *RUN, "--data", str(audio),
            "--cache-dir", str(cache), "--out-dir", str(out_dir), "--no-export"]  # fmt: skip


def test_the_cache_holds_what_hear_ssl_tempo_feeds_the_tcn(corpus):
    audio, cache = corpus
    manifest = read_manifest(cache)
    assert manifest["frontend"] == TEMPO_LOGMEL_CACHE.to_dict()
    assert manifest["frontend"]["sample_rate"] == 44100 and manifest["frontend"]["n_mels"] == 81
    shards = [np.load(cache / s["name"]) for s in manifest["shards"]]
    frontend = TempoLogMel()
    files = {e["path"]: (shard, e) for shard, s in zip(shards, manifest["shards"]) for e in s["files"]}
    assert len(files) == len(resolve_audio_files(audio))
    for path in (str(audio / "tone_b.flac"), str(audio / "clicks.flac")):  # a 22.05-kHz stereo and a 16-kHz file
        shard, entry = files[path]
        waveform = load_audio(path, target_sr=44100)
        expected = frontend(torch.from_numpy(waveform)[None])[0, 0].numpy()
        cached = shard[:, entry["offset"] : entry["offset"] + entry["frames"]].astype(np.float32)
        assert cached.shape == expected.shape == (81, len(waveform) // 441 + 1)
        np.testing.assert_allclose(cached, expected, atol=0.01)  # float16 storage


def test_long_files_are_cached_in_chunks_equal_to_one_whole_file_transform():
    waveform = np.random.default_rng(0).standard_normal(cache_module.CHUNK_FRAMES * 441 + 12345).astype(np.float32)
    expected = TempoLogMel()(torch.from_numpy(waveform)[None])[0, 0].numpy()
    chunked = cache_module.waveform_transform(TEMPO_LOGMEL_CACHE)(waveform)
    assert chunked.shape == (81, cache_module.CHUNK_FRAMES + 28)
    np.testing.assert_array_equal(chunked, expected)


def test_short_clips_are_padded_with_the_tcn_inputs_silence(corpus):
    _, cache = corpus
    crops = LogMelCrops(cache, crop_frames=200, seed=0)
    short = next(i for i, row in enumerate(crops.segments) if row[2] < 200)  # a file shorter than the crop
    crop = crops.crop(short)
    silent = np.all(crop == np.float32(SILENCE), axis=0)
    assert silent.sum() == 200 - crops.segments[short][2]
    assert np.float32(SILENCE) == np.float32(np.log(1e-7))  # log(0 + 1e-7), not the 16-kHz log-mel's floor


def test_stretched_views_apply_exactly_the_rates_they_return():
    """On a crop whose every bin counts frames, view frame k must read crop frame start + k r."""
    ramp = torch.arange(200.0).expand(3, 1, 81, 200).contiguous()
    augment = BYOLAugment(memory_size=0, mixup_ratio=0.0, fader_gain=0.0, seed=5)
    views, rates = augment.stretched_views(ramp, (0.8, 1.2), 150)
    assert rates.shape == (2, 3) and ((rates >= 0.8) & (rates <= 1.2)).all()
    for view, rate in zip(views, rates):
        assert view.shape == (3, 1, 81, 150)
        slopes = (view[:, 0, 0, 1:] - view[:, 0, 0, :-1]).mean(dim=-1)
        torch.testing.assert_close(slopes, rate, atol=1e-4, rtol=0)
        assert (view[:, 0, 0, 0] >= 0).all() and (view[:, 0, 0, -1] <= 199 + 1e-3).all()  # inside the crop
    again = BYOLAugment(memory_size=0, mixup_ratio=0.0, fader_gain=0.0, seed=5).stretched_views(ramp, (0.8, 1.2), 150)
    assert torch.equal(again[1], rates)  # a function of the seed (the checkpointed generator)


@pytest.mark.parametrize("loss", ["ratio", "difference"])
def test_the_loss_is_the_official_symmetrised_one_on_the_tcns_regression_output(loss):
    config = PretrainConfig(objective="tempo", options={"view_frames": 40, "loss": loss}, batch_size=4)
    assert objective_class("tempo").crop_frames(config) == 48  # ceil(39 * 1.2) + 1: no view needs padding
    torch.manual_seed(0)
    objective = build_objective(config)
    raw = torch.randn(4, 1, 81, 48) - 8
    inputs = objective.inputs(Batch(raw, raw * 0, torch.arange(4)), objective.new_augment(config, seed=1))
    assert inputs["views"].shape == (8, 1, 81, 40)
    value, terms = objective(inputs)
    z = objective.encoder(inputs["views"])[:, 0]  # hear_ssl.tempo's tempo estimate, before training
    z_i, z_j = z[:4], z[4:]
    r_i, r_j = inputs["rates"]
    if loss == "ratio":  # sst/losses/l1.py L1Ratio, symmetrised as sst/train.py
        expected = 0.5 * ((z_i / z_j - r_i / r_j).abs().mean() + (z_j / z_i - r_j / r_i).abs().mean())
    else:  # L1Diff
        expected = 0.5 * ((z_i - z_j * r_i / r_j).abs().mean() + (z_j - z_i * r_j / r_i).abs().mean())
    torch.testing.assert_close(value, expected)
    assert terms["ssl_loss"] == value.detach()
    # The raw crops are the input (the standardised ones, zero here, would give other views).
    value.backward()
    trained = [n for n, p in objective.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert "network.encoder.bn_input.weight" in trained and "network.encoder.tempo_block.output_reg.weight" in trained


def test_a_bfloat16_autocast_step_trains():
    """The CUDA default (bf16 autocast) as far as a CPU can run it: a finite float32 loss and the TCN moves."""
    from hear_ssl.pretrain.objectives.base import ObjectiveData
    from hear_ssl.pretrain.state import TrainState, train_step

    class FixedCrops:
        def next_batch(self, batch_size: int):
            return torch.randn(batch_size, 1, 81, 48, generator=torch.Generator().manual_seed(0)) - 8, torch.arange(4)

    config = PretrainConfig(objective="tempo", options={"view_frames": 40}, batch_size=4, dtype="bfloat16")
    torch.manual_seed(0)
    state = TrainState.create(config, ObjectiveData(crops=FixedCrops()))
    before = state.objective.encoder.conv1.weight.detach().clone()
    loss, _ = train_step(state)
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert not torch.equal(before, state.objective.encoder.conv1.weight)


def test_settings_are_checked_with_a_clear_message():
    with pytest.raises(ValueError, match="view_frames must be at least 5"):
        PretrainConfig(objective="tempo", options={"view_frames": 4})
    with pytest.raises(ValueError, match="loss must be one of"):
        PretrainConfig(objective="tempo", options={"loss": "l2"})
    with pytest.raises(ValueError, match="rate_low <= rate_high"):
        PretrainConfig(objective="tempo", options={"rate_low": 1.3})
    # The default view is the official 600,000-sample excerpt.
    assert PretrainConfig(objective="tempo").objective_options.view_frames == 1361


@pytest.mark.slow  # 70-95 s on a shared CPU: three training processes at 44.1-kHz features
def test_kill_resume_matches_uninterrupted_run_and_exports_the_bundled_layout(corpus, tmp_path):
    audio, cache = corpus
    _, new_state = killed_and_resumed(lambda out_dir: command(out_dir, audio, cache), tmp_path, wait_s=90)
    interrupted = tmp_path / "interrupted"

    weights = tmp_path / "tempo.safetensors"
    assert cli.main(["export", str(interrupted / "ckpt.pt"), "--out", str(weights)]) == 0
    assert "tempo" in weights.with_suffix(".md").read_text()
    exported, config = read_checkpoint(weights)
    published, _ = read_checkpoint(BUNDLED)
    assert list(exported) == list(published)  # key for key, in the same order
    for key, value in published.items():
        assert exported[key].dtype == value.dtype and exported[key].shape == value.shape, key
    assert config["name"] == "hear-ssl-tempo-tcn" and config["tcn"] == read_checkpoint(BUNDLED)[1]["tcn"]

    import hear_ssl.tempo

    model = hear_ssl.tempo.load_model(str(weights))
    trained = {k.removeprefix("network.encoder."): v for k, v in new_state["model"].items()}
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, trained[key]), key  # float32: the trained weights exactly
    assert not torch.equal(model.encoder.conv1.weight, hear_ssl.tempo.load_model().encoder.conv1.weight)
    clips = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.1)
    assert torch.isfinite(hear_ssl.tempo.get_tempo_estimates(clips, model)).all()
    assert hear_ssl.tempo.get_scene_embeddings(clips, model).shape == (2, 16)


@pytest.mark.slow  # hearvalidator takes about a minute on a shared CPU
def test_a_trained_tcn_passes_hearvalidator(corpus, tmp_path):
    from hear_ssl.pretrain.export import export_checkpoint
    from hear_ssl.pretrain.train import pretrain

    audio, cache = corpus
    config = PretrainConfig(
        objective="tempo", options={"view_frames": 64, "loss": "difference"}, data=str(audio), cache_dir=str(cache),
        out_dir=str(tmp_path / "run"), batch_size=4, max_steps=2, checkpoint_every=2, progress=False,
    )  # fmt: skip
    result = export_checkpoint(pretrain(config), tmp_path / "tempo.safetensors")
    assert result.model_config["name"] == "hear-ssl-tempo-tcn"
    assert_hearvalidator_passes("hear_ssl.tempo", "--model", str(result.weights), cwd=tmp_path)
