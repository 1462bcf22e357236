"""Pretraining data: file discovery, the log-mel shard cache and the resumable crop sampler."""

import json

import numpy as np
import pytest
import torch

from hear_ssl.audio import LogMelSpectrogram, load_audio
from hear_ssl.config import FrontEndConfig
from hear_ssl.data import cache as cache_module
from hear_ssl.data.cache import build_logmel_cache, cache_report, logmel_of_waveform
from hear_ssl.data.crops import SILENCE, LogMelCrops
from hear_ssl.data.files import resolve_audio_files

from .pretrain_corpus import write_corpus


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    write_corpus(folder)
    return folder


@pytest.fixture(scope="module")
def cache_dir(audio_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    build_logmel_cache(resolve_audio_files(audio_dir), folder, shard_hours=0.001, progress=False)
    return folder


def test_resolve_audio_files_from_folder_and_list(audio_dir, tmp_path):
    files = resolve_audio_files(audio_dir)
    assert len(files) == 8 and files == sorted(files)
    listing = tmp_path / "list.txt"
    listing.write_text("# corpus\n" + "\n".join(str(f) for f in files[:3]) + "\n\n")
    assert resolve_audio_files(listing) == files[:3]
    listing.write_text(str(audio_dir / "missing.wav") + "\n")
    with pytest.raises(FileNotFoundError, match="list.txt:1"):
        resolve_audio_files(listing)
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        resolve_audio_files(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        resolve_audio_files(empty)


def test_chunked_logmel_equals_one_whole_file_transform():
    frontend = LogMelSpectrogram(FrontEndConfig())
    waveform = np.random.default_rng(0).standard_normal(cache_module.CHUNK_FRAMES * 160 + 12345).astype(np.float32)
    expected = frontend(torch.from_numpy(waveform)).numpy()
    assert np.array_equal(logmel_of_waveform(waveform, frontend), expected)


def test_cache_holds_each_file_exactly_and_its_statistics(audio_dir, cache_dir):
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["shards"]) > 1
    frontend = LogMelSpectrogram(FrontEndConfig())
    all_frames = []
    for shard in manifest["shards"]:
        data = np.load(cache_dir / shard["name"])
        assert data.dtype == np.float16
        for entry in shard["files"]:
            expected = frontend(torch.from_numpy(load_audio(entry["path"]))).numpy()
            got = data[:, entry["offset"] : entry["offset"] + entry["frames"]]
            assert got.shape == expected.shape
            assert np.abs(got.astype(np.float32) - expected).max() < 0.02  # float16 rounding only
            all_frames.append(expected)
    report = cache_report(cache_dir)
    stacked = np.concatenate(all_frames, axis=1)
    assert report.files == 8 and report.frames == stacked.shape[1]
    assert report.mean == pytest.approx(stacked.mean(), abs=1e-3)
    assert report.std == pytest.approx(stacked.std(), rel=1e-3)


def test_interrupted_cache_build_resumes_to_the_same_result(audio_dir, cache_dir, tmp_path, monkeypatch):
    files = resolve_audio_files(audio_dir)
    real_load, calls = cache_module.load_audio, []

    def failing_load(path, **options):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way
        return real_load(path, **options)

    monkeypatch.setattr(cache_module, "load_audio", failing_load)
    with pytest.raises(KeyboardInterrupt):
        build_logmel_cache(files, tmp_path / "c", shard_hours=0.001, progress=False)
    partial = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert not partial["complete"] and 0 < partial["next_file"] <= 4
    monkeypatch.setattr(cache_module, "load_audio", real_load)
    build_logmel_cache(files, tmp_path / "c", shard_hours=0.001, progress=False)
    resumed = json.loads((tmp_path / "c" / "manifest.json").read_text())
    reference = json.loads((cache_dir / "manifest.json").read_text())
    assert [s["files"] for s in resumed["shards"]] == [s["files"] for s in reference["shards"]]
    for shard in reference["shards"]:
        assert np.array_equal(np.load(tmp_path / "c" / shard["name"]), np.load(cache_dir / shard["name"]))


def test_cache_refuses_other_files_or_front_end(audio_dir, cache_dir):
    files = resolve_audio_files(audio_dir)
    with pytest.raises(ValueError, match="new --cache-dir"):
        build_logmel_cache(files[:2], cache_dir, progress=False)
    with pytest.raises(ValueError, match="new --cache-dir"):
        build_logmel_cache(files, cache_dir, FrontEndConfig(win_length=400), progress=False)


def test_crops_are_deterministic_and_resume_exactly(cache_dir):
    a = LogMelCrops(cache_dir, crop_frames=48, seed=1)
    batches = [a.next_batch(7) for _ in range(len(a) // 7 + 2)]  # crosses an epoch boundary
    assert a.epoch >= 1
    b = LogMelCrops(cache_dir, crop_frames=48, seed=1)
    for crops, ids in batches[:2]:
        got, got_ids = b.next_batch(7)
        assert torch.equal(got, crops) and torch.equal(got_ids, ids)
    state = b.state_dict()
    c = LogMelCrops(cache_dir, crop_frames=48, seed=1)
    c.load_state_dict(state)
    for crops, ids in batches[2:]:
        got, got_ids = c.next_batch(7)
        assert torch.equal(got, crops) and torch.equal(got_ids, ids)
    assert batches[0][0].shape == (7, 1, 64, 48) and batches[0][0].dtype == torch.float32


def test_an_epoch_visits_every_segment_once_and_ranks_split_it(cache_dir):
    full = LogMelCrops(cache_dir, crop_frames=48, seed=2)
    _, ids = full.next_batch(len(full))
    assert sorted(ids.tolist()) == list(range(len(full.segments)))
    ranks = [LogMelCrops(cache_dir, crop_frames=48, seed=2, rank=r, world_size=2) for r in range(2)]
    seen = [set(r.next_batch(len(r))[1].tolist()) for r in ranks]
    assert not seen[0] & seen[1]


def test_short_clips_are_padded_with_silence(cache_dir):
    crops = LogMelCrops(cache_dir, crop_frames=400, seed=0)  # longer than the 0.3 s file (31 frames)
    short = [i for i, row in enumerate(crops.segments) if row[2] == 31]
    assert short
    crop = crops.crop(short[0])
    silent_columns = np.all(crop == np.float32(SILENCE), axis=0)
    assert silent_columns.sum() == 400 - 31


def test_resume_on_another_corpus_is_refused(cache_dir):
    crops = LogMelCrops(cache_dir, crop_frames=48)
    state = crops.state_dict()
    other = LogMelCrops(cache_dir, crop_frames=24)
    with pytest.raises(ValueError, match="same --data"):
        other.load_state_dict(state)
