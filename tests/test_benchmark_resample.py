"""benchmarks/resample_effect.py: its signal comparison and score summary measure what the README reports."""

import numpy as np
import pytest
import soundfile as sf

from .benchmark_scripts import load_benchmark

RATE = 16000


def _write(folder, split, name, audio):
    (folder / split).mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / split / name), audio, RATE, subtype="FLOAT")


def test_signal_difference_reports_the_snr_and_max_difference_of_a_known_perturbation(tmp_path):
    bench = load_benchmark("resample_effect")
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    clean = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = rng.normal(scale=0.5 / np.sqrt(2) * 10 ** (-60 / 20), size=RATE).astype(np.float32)  # 60 dB below
    ref, other = tmp_path / "ref", tmp_path / "other"
    _write(ref, "test", "a.wav", clean)
    _write(other, "test", "a.wav", clean + noise)
    _write(ref, "test", "same.wav", clean)
    _write(other, "test", "same.wav", clean)
    _write(ref, "test", "short.wav", clean)
    _write(other, "test", "short.wav", clean[:-3])

    out = bench.signal_difference(ref, other, [("test", "a.wav"), ("test", "same.wav"), ("test", "short.wav")])

    assert out["snr_db_min"] == pytest.approx(60.0, abs=0.5)
    assert out["snr_db_max"] == float("inf")  # identical clips
    assert out["max_abs_diff"] == pytest.approx(float(np.abs(noise).max()), rel=1e-5)
    assert out["clips"] == 3
    assert out["length_mismatches"] == 1


def test_summary_pairs_scores_by_seed_against_the_reference_path():
    bench = load_benchmark("resample_effect")
    scores = {bench.HARNESS_PATH: [0.70, 0.74, 0.72], bench.REFERENCE_PATH: [0.71, 0.72, 0.72]}

    summary = bench.summarise(scores)

    ours = summary[bench.HARNESS_PATH]
    assert ours["paired_diffs"] == pytest.approx([-0.01, 0.02, 0.0])
    assert ours["paired_diff_mean"] == pytest.approx(0.01 / 3)
    assert ours["std"] == pytest.approx(0.02)
    assert "paired_diffs" not in summary[bench.REFERENCE_PATH]


def test_a_sox_binary_that_cannot_run_is_refused_with_the_fix(tmp_path):
    bench = load_benchmark("resample_effect")
    with pytest.raises(SystemExit, match="LD_LIBRARY_PATH"):
        bench.sox_version(str(tmp_path / "no-such-sox"))
