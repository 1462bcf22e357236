"""`hear-ssl embed`: files in, the same embeddings as the Python API out, and readable errors for bad input."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

import hear_ssl
from hear_ssl.audio import load_audio
from hear_ssl.cli import main as cli
from hear_ssl.config import EncoderConfig

from .weights_support import write_random_weights

RNG = np.random.default_rng(1234)


def noise(num_samples, channels=1):
    shape = (num_samples,) if channels == 1 else (num_samples, channels)
    return (0.1 * RNG.standard_normal(shape)).astype(np.float32)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """byol-a-512 with random weights, saved the way hear-ssl saves its own checkpoints."""
    path = tmp_path_factory.mktemp("weights") / "random-byol-a-512.safetensors"
    write_random_weights(path, EncoderConfig(arch="audiontt2020", d=512))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Sound files at several rates and channel counts; two share a base name and a length."""
    root = tmp_path_factory.mktemp("audio")
    (root / "speech").mkdir()
    (root / "music").mkdir()
    soundfile.write(root / "tone8k.wav", noise(20000), 8000)  # 2.5 s, 16-bit PCM
    soundfile.write(root / "stereo44k.wav", noise(57330, channels=2), 44100, subtype="FLOAT")
    soundfile.write(root / "speech" / "clip.wav", noise(32000), 16000, subtype="FLOAT")
    soundfile.write(root / "music" / "clip.flac", noise(32000), 16000)
    soundfile.write(root / "blip22k.wav", noise(660), 22050, subtype="FLOAT")  # 30 ms: shorter than a window
    return root


def run_cli(*argv):
    return cli(["embed", *map(str, argv), "--quiet"])


def api_embeddings(model, path):
    audio = torch.from_numpy(load_audio(path)).unsqueeze(0)
    frames, times = hear_ssl.get_timestamp_embeddings(audio, model)
    return hear_ssl.get_scene_embeddings(audio, model)[0].numpy(), frames[0].numpy(), times[0].numpy()


def test_cli_embeddings_equal_python_api(clips, random_checkpoint, tmp_path):
    inputs = [
        clips / "tone8k.wav",
        clips / "stereo44k.wav",
        clips / "speech" / "clip.wav",
        clips / "music" / "clip.flac",
        clips / "blip22k.wav",
    ]
    out = tmp_path / "embeddings.npz"
    assert run_cli(*inputs, "--model", "byol-a-512", "--weights", random_checkpoint, "--out", out, "--timestamps") == 0

    model = hear_ssl.load_model(random_checkpoint, model_name="byol-a-512")
    with np.load(out) as saved:
        names = list(saved["files"])
        assert names == ["tone8k.wav", "stereo44k.wav", "speech/clip.wav", "music/clip.flac", "blip22k.wav"]
        assert list(saved["paths"]) == [str(p) for p in inputs]
        assert str(saved["model"]) == "byol-a-512"
        scenes = []
        for name, path in zip(names, inputs):
            scene, frames, times = api_embeddings(model, path)
            # The CLI batches equal-length files (speech/ and music/ here); per-clip results must not change.
            np.testing.assert_allclose(saved[f"scene/{name}"], scene, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(saved[f"timestamp_embeddings/{name}"], frames, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(saved[f"timestamps/{name}"], times)
            assert saved[f"scene/{name}"].shape == (512,) and saved[f"scene/{name}"].dtype == np.float32
            scenes.append(saved[f"scene/{name}"])
    # Timestamps are window centres in ms, every 50 ms, covering the (resampled) clip.
    with np.load(out) as saved:
        times = saved["timestamps/tone8k.wav"]
    assert times[0] == 0 and np.allclose(np.diff(times), 50.0) and len(times) == 2500 // 50 + 1
    # Different audio gives different embeddings (random weights are not degenerate).
    assert np.abs(scenes[2] - scenes[3]).max() > 1e-3


def test_scene_only_output_has_no_timestamps(clips, random_checkpoint, tmp_path):
    out = tmp_path / "nested" / "folder" / "scene.npz"
    assert run_cli(clips / "tone8k.wav", "--model", "byol-a-512", "--weights", random_checkpoint, "--out", out) == 0
    with np.load(out) as saved:
        assert sorted(saved.files) == ["files", "model", "paths", "scene/tone8k.wav"]


def test_stereo_is_averaged_to_mono(random_checkpoint, tmp_path):
    left, right = noise(24000), noise(24000)
    soundfile.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 48000, subtype="FLOAT")
    soundfile.write(tmp_path / "mono.wav", (left + right) / 2, 48000, subtype="FLOAT")
    out = tmp_path / "out.npz"
    argv = ["--model", "byol-a-512", "--weights", random_checkpoint, "--out", out]
    assert run_cli(tmp_path / "stereo.wav", tmp_path / "mono.wav", *argv) == 0
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["scene/stereo.wav"], saved["scene/mono.wav"], rtol=1e-5, atol=1e-5)


def test_official_checkpoint_reproduces_reference_embedding(byola_d512_checkpoint, reference_dir, tmp_path):
    """End to end: a wav of a reference input through the CLI gives the official BYOL-A d512 embedding."""
    reference = np.load(reference_dir / "byola_d512_reference.npz")
    for name in ("noise_3s", "chirp_2p5s"):
        soundfile.write(tmp_path / f"{name}.wav", reference[f"{name}/audio"].astype(np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "out.npz"
    inputs = [tmp_path / "noise_3s.wav", tmp_path / "chirp_2p5s.wav"]
    assert run_cli(*inputs, "--model", "byol-a-512", "--weights", byola_d512_checkpoint, "--out", out) == 0
    with np.load(out) as saved:
        for name in ("noise_3s", "chirp_2p5s"):
            expected = reference[f"{name}/byola_d512_embedding"]
            error = np.abs(saved[f"scene/{name}.wav"] - expected).max()
            assert error <= 1e-4 * np.abs(expected).max(), f"{name}: max abs diff {error}"


def test_npy_arrays_need_and_use_sample_rate(random_checkpoint, tmp_path, capsys):
    samples = noise(11025 * 2)
    np.save(tmp_path / "raw.npy", samples)
    out = tmp_path / "out.npz"
    argv = [tmp_path / "raw.npy", "--model", "byol-a-512", "--weights", random_checkpoint, "--out", out]
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert "raw.npy" in err and "pass --sample-rate" in err
    assert not out.exists()

    assert run_cli(*argv, "--sample-rate", "11025") == 0
    model = hear_ssl.load_model(random_checkpoint, model_name="byol-a-512")
    expected = hear_ssl.get_scene_embeddings(torch.from_numpy(load_audio(samples, 11025)).unsqueeze(0), model)
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["scene/raw.npy"], expected[0].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "rate, message",
    [
        ("0", "positive"),
        ("-16000", "positive"),
        ("nan", "positive"),
        ("16", "did you mean 16000"),
        ("16k", "number of Hz"),
        ("5000000", "not a plausible"),
    ],
)
def test_implausible_sample_rate_is_rejected(clips, rate, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(clips / "tone8k.wav", "--model", "byol-a-512", "--sample-rate", rate, "--out", tmp_path / "o.npz")
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_sample_rate_contradicting_a_file_header_is_an_error(clips, random_checkpoint, tmp_path, capsys):
    out = tmp_path / "o.npz"
    argv = ["--model", "byol-a-512", "--weights", random_checkpoint, "--out", out, "--sample-rate", "16000"]
    assert run_cli(clips / "tone8k.wav", *argv) == 2
    err = capsys.readouterr().err
    assert "tone8k.wav" in err and "8000 Hz" in err and "16000" in err and "drop --sample-rate" in err
    assert not out.exists()
    # A matching rate is accepted.
    assert run_cli(clips / "speech" / "clip.wav", *argv) == 0


def write_bad_inputs(folder):
    soundfile.write(folder / "empty.wav", np.zeros(0, np.float32), 16000)
    (folder / "junk.wav").write_bytes(b"this is not a sound file\n" * 20)
    soundfile.write(folder / "whole.flac", noise(48000), 16000)
    data = (folder / "whole.flac").read_bytes()
    (folder / "truncated.flac").write_bytes(data[: len(data) // 2])
    np.save(folder / "text.npy", np.array(["a", "b"]))
    soundfile.write(folder / "one_sample.wav", np.array([0.3], np.float32), 44100, subtype="FLOAT")


@pytest.mark.parametrize(
    "name, problem",
    [
        ("missing.wav", "no such file"),
        ("empty.wav", "no audio"),
        ("junk.wav", "cannot read as audio"),
        ("truncated.flac", "decode"),  # header intact, data cut: fails while decoding
        ("text.npy", "expected real samples"),
        ("one_sample.wav", "too short"),  # one sample at 44.1 kHz is none at 16 kHz
    ],
)
def test_bad_files_give_one_line_errors(clips, random_checkpoint, tmp_path, capsys, name, problem):
    write_bad_inputs(tmp_path)
    out = tmp_path / "o.npz"
    argv = ["--model", "byol-a-512", "--weights", random_checkpoint, "--out", out]
    if name.endswith(".npy"):
        argv += ["--sample-rate", "16000"]
    assert run_cli(clips / "speech" / "clip.wav", tmp_path / name, *argv) == 2
    err = capsys.readouterr().err
    assert name in err and problem in err, err
    assert not out.exists() and not list(tmp_path.glob(".o.npz*"))  # nor a temporary file


def test_all_bad_files_are_listed_before_any_work(clips, tmp_path, capsys):
    write_bad_inputs(tmp_path)
    # No --weights: the file check must come first, so the missing-weights error is not what is reported.
    code = run_cli(
        tmp_path / "empty.wav",
        clips / "tone8k.wav",
        tmp_path / "junk.wav",
        "--model",
        "byol-a-512",
        "--out",
        tmp_path / "o.npz",
    )
    err = capsys.readouterr().err
    assert code == 2 and "2 of 3 inputs" in err and "empty.wav" in err and "junk.wav" in err


@pytest.mark.parametrize(
    "weights, model, problem",
    [
        (None, "byol-a-512", "no bundled default weights"),
        ("missing.pth", "byol-a-512", "checkpoint file not found"),
        ("hf://nobody/nothing/weights.safetensors", "byol-a-512", "not in the local Hugging Face cache"),
        ("RANDOM", "byol-a2-2048", "audiontt2020 encoder"),  # another model's checkpoint
    ],
)
def test_weight_problems_are_reported(clips, random_checkpoint, tmp_path, monkeypatch, capsys, weights, model, problem):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.chdir(tmp_path)
    argv = [clips / "tone8k.wav", "--model", model, "--out", tmp_path / "o.npz"]
    if weights is not None:
        argv += ["--weights", random_checkpoint if weights == "RANDOM" else weights]
    assert run_cli(*argv) == 2
    assert problem in capsys.readouterr().err


def test_truncated_checkpoint_is_reported(clips, random_checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(random_checkpoint.read_bytes()[:1000])
    code = run_cli(clips / "tone8k.wav", "--model", "byol-a-512", "--weights", broken, "--out", tmp_path / "o.npz")
    assert code == 2 and "broken.safetensors" in capsys.readouterr().err


def test_out_must_be_npz(clips, random_checkpoint, tmp_path, capsys):
    code = run_cli(
        clips / "tone8k.wav", "--model", "byol-a-512", "--weights", random_checkpoint, "--out", tmp_path / "embeddings"
    )
    assert code == 2 and ".npz" in capsys.readouterr().err


def test_command_line_error_has_no_traceback(clips, tmp_path):
    """Through a real process: the message, a non-zero exit, and no Python traceback."""
    (tmp_path / "junk.wav").write_bytes(b"garbage" * 50)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hear_ssl.cli",
            "embed",
            str(tmp_path / "junk.wav"),
            "--model",
            "byol-a-512",
            "--out",
            str(tmp_path / "o.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "junk.wav" in result.stderr and "Traceback" not in result.stderr


def test_every_registry_model_is_accepted():
    import argparse

    from hear_ssl.commands import embed

    parser = argparse.ArgumentParser()
    embed.add_arguments(parser)
    for name in hear_ssl.available_models():
        assert parser.parse_args(["x.wav", "--model", name, "--out", "o.npz"]).model == name
