"""The log-mel front-end matches the official torchaudio front-end and handles real-world input."""

import sys

import numpy as np
import pytest
import torch

from hear_ssl.audio import LogMelSpectrogram, load_audio, mel_filterbank, resample, to_mono
from hear_ssl.config import FrontEndConfig

from .requires import require_module

CLIPS = ["noise_3s", "chirp_2p5s", "twotone_1s", "burst_0p2s", "silence_1s"]


@pytest.fixture(scope="module")
def reference(reference_dir):
    return np.load(reference_dir / "byola_d512_reference.npz")


@pytest.mark.parametrize("win_length", [1024, 400])
@pytest.mark.parametrize("clip", CLIPS)
def test_logmel_matches_official(reference, clip, win_length):
    ours = LogMelSpectrogram(FrontEndConfig(win_length=win_length))(torch.from_numpy(reference[f"{clip}/audio"]))
    official = reference[f"{clip}/logmel_win{win_length}"]
    assert ours.shape == official.shape
    diff = np.abs(ours.numpy() - official)
    loud = official >= official.max() - 10.0  # bins away from the log(eps) floor
    assert diff[loud].max() <= 1e-3
    assert diff.max() <= 1e-2


def test_filterbank_is_htk_triangles_without_normalisation():
    bank = mel_filterbank(16000, 1024, 64, 60.0, 7800.0)
    assert bank.shape == (513, 64)
    assert bank.max() <= 1.0 and bank.min() >= 0.0
    assert (bank.sum(0) > 0).all(), "every mel band covers at least one FFT bin"
    # No area normalisation: peaks reach close to 1 where a bin lands near the centre.
    assert bank.max(0).values.median() > 0.5


def test_batch_rows_are_independent():
    frontend = LogMelSpectrogram()
    audio = torch.randn(3, 8000)
    batched = frontend(audio)
    for i in range(3):
        torch.testing.assert_close(frontend(audio[i]), batched[i])


def test_buffers_follow_the_module_and_shape_is_predicted():
    frontend = LogMelSpectrogram().to(torch.float64).float()
    assert {name for name, _ in frontend.named_buffers()} == {"window", "filterbank"}
    for samples in (1, 100, 16000, 16001):
        assert frontend(torch.zeros(2, samples)).shape == (2, 64, frontend.num_frames(samples))


def test_rejects_window_longer_than_fft():
    with pytest.raises(ValueError, match="win_length"):
        LogMelSpectrogram(FrontEndConfig(n_fft=512, win_length=1024))


def test_load_audio_resamples_and_downmixes(tmp_path):
    import soundfile

    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1)
    path = tmp_path / "tone.wav"
    soundfile.write(path, stereo, 44100, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 2


def test_load_audio_array_inputs():
    pcm = (np.sin(np.linspace(0, 100, 8000)) * 20000).astype(np.int16)
    audio = load_audio(pcm, sample_rate=8000)
    assert audio.dtype == np.float32 and np.abs(audio).max() < 1.0 and len(audio) == 16000
    assert np.allclose(to_mono(np.ones((2, 50))), 1.0) and to_mono(np.ones((50, 2))).shape == (50,)
    np.testing.assert_array_equal(resample(audio, 16000), audio)


@pytest.mark.parametrize(
    "source, message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
        (np.array([0.0, np.inf], dtype=np.float32), "NaN or Inf"),
    ],
)
def test_load_audio_rejects_bad_arrays(source, message):
    with pytest.raises(ValueError, match=message):
        load_audio(source, sample_rate=16000)


def test_load_audio_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "missing.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(ValueError, match="cannot decode"):
        load_audio(broken)
    with pytest.raises(ValueError, match="sample_rate is required"):
        load_audio(np.zeros(10))


def test_load_audio_short_multichannel_file_averages_channels(tmp_path):
    import soundfile

    path = tmp_path / "two_frames_four_channels.wav"
    soundfile.write(path, np.array([[0.5, -0.1, 0.2, 0.0], [0.1, 0.1, 0.1, 0.1]]), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), [0.15, 0.1], atol=1e-6)
    single = tmp_path / "one_sample.wav"
    soundfile.write(single, np.array([0.5]), 44100, subtype="FLOAT")
    with pytest.raises(ValueError, match="too short"):
        load_audio(single)


@pytest.mark.parametrize("backend", ["soxr", "scipy"])
def test_resample_gives_exactly_rounded_length_with_either_backend(monkeypatch, backend):
    if backend == "scipy":
        monkeypatch.setitem(sys.modules, "soxr", None)  # `import soxr` now raises ImportError
    else:
        require_module("soxr", "installed by `make install` (the [resample] extra)")
    t = np.arange(44101) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float64)
    out = resample(tone, 44100, 16000)
    assert out.dtype == np.float32 and len(out) == round(44101 * 16000 / 44100)
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(len(out)) / 16000)
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=2e-3)  # edges: filter start-up
