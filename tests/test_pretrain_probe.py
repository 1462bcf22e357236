"""benchmarks/pretrain_probe.py's frame-level probe: targets, log-mel timestamps and the event score."""

import numpy as np
import torch

from .benchmark_scripts import load_benchmark


def load_probe():
    return load_benchmark("pretrain_probe")


def test_frame_targets_mark_timestamps_inside_each_event():
    probe = load_probe()
    times = np.arange(0, 1000, 50.0)
    events = [{"label": "b", "start": 100.0, "end": 250.0}, {"label": "a", "start": 900.0, "end": 2000.0}]
    target = probe.frame_targets(times, events, ["a", "b"])
    assert target.shape == (20, 2)
    assert times[target[:, 1] == 1].tolist() == [100.0, 150.0, 200.0]  # end is exclusive
    assert times[target[:, 0] == 1].tolist() == [900.0, 950.0]


def test_logmel_timestamps_are_aligned_with_the_sound():
    """A 1-s tone from 1.0 s to 2.0 s must be loud exactly at the timestamps inside it."""
    probe = load_probe()
    sr = 16000
    audio = torch.zeros(1, 3 * sr)
    t = torch.arange(sr) / sr
    audio[0, sr : 2 * sr] = 0.5 * torch.sin(2 * torch.pi * 1000 * t)
    frames, times = probe.LogMelBaseline(0.0, 1.0).timestamps(audio)
    assert frames.shape == (1, 61, 128)
    assert times[0, :3].tolist() == [0.0, 50.0, 100.0]
    loudness = frames[0, :, :64].mean(-1)
    quiet, loud = loudness < loudness.min() + 1, loudness > loudness.max() - 1
    assert times[0][loud].min() >= 1000 - 100 and times[0][loud].max() <= 2000 + 100
    assert quiet[times[0] < 850].all() and quiet[times[0] > 2150].all()


def test_event_probe_scores_separable_frames_near_one_and_noise_near_chance():
    probe = load_probe()
    rng = np.random.default_rng(0)
    keys = [(split, f"{split}{i}.wav") for split, n in (("train", 6), ("valid", 2), ("test", 2)) for i in range(n)]
    times = np.tile(np.arange(0, 2000, 50.0), (len(keys), 1))
    labels = [[{"label": "x", "start": 500.0, "end": 1000.0}, {"label": "y", "start": 1200.0, "end": 1600.0}]] * len(
        keys
    )
    noise = rng.normal(size=(len(keys), times.shape[1], 8)).astype(np.float32)
    informative = noise.copy()
    for i, events in enumerate(labels):
        for k, event in enumerate(events):
            informative[i, (times[i] >= event["start"]) & (times[i] < event["end"]), k] += 4
    for test_score, valid_score in [probe.event_probe(informative, times, labels, keys)]:
        assert test_score > 0.95 and valid_score > 0.95
    for test_score, valid_score in [probe.event_probe(noise, times, labels, keys)]:
        assert test_score < 0.6 and valid_score < 0.6


def test_scene_probe_reports_the_validation_score_of_the_chosen_c_apart_from_test():
    """Selection may only see validation: a representation informative on valid but not on test must show
    a high validation score and a chance-level test score (the two are not one number)."""
    probe = load_probe()
    rng = np.random.default_rng(0)
    meta = {"splits": ["train", "valid", "test"], "split_mode": "trainvaltest"}
    keys = [(split, f"{split}{i}.wav") for split, n in (("train", 60), ("valid", 30), ("test", 30)) for i in range(n)]
    labels = [str(i % 2) for i in range(len(keys))]
    x = rng.normal(size=(len(keys), 4))
    for i, (split, _) in enumerate(keys):
        if split != "test":  # the label is readable from feature 0 everywhere but on test
            x[i, 0] += 6 * int(labels[i])
    test_score, valid_score = probe.probe(x, labels, keys, meta)
    assert valid_score > 0.95
    assert test_score < 0.8


def test_effective_rank_counts_equally_strong_directions():
    probe = load_probe()
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(5, 64))
    low_rank = rng.normal(size=(2000, 5)) @ mixing  # 64 features spanning 5 directions
    isotropic = rng.normal(size=(2000, 64))
    assert 3.0 < probe.effective_rank(low_rank) < 5.5
    assert probe.effective_rank(isotropic) > 55
    # scaling single features changes nothing: the embeddings are standardised first
    assert abs(probe.effective_rank(isotropic * np.arange(1, 65)) - probe.effective_rank(isotropic)) < 1e-6
