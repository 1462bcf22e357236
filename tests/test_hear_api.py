"""HEAR API invariants for every module, and the bad input a user will eventually pass."""

import importlib
import subprocess
import sys

import pytest
import torch

from hear_ssl.registry import get_spec

from .weights_support import write_random_weights
from .zoo_support import BAD_AUDIO, assert_bad_audio_rejected, assert_input_types_agree

MODULES = {
    "hear_ssl.byol_a": "byol-a-512",
    "hear_ssl.byol_s": "byol-s",
    "hear_ssl.hybrid": "byol-s-cvt",
    "hear_ssl.barlow_twins": "audio-barlow-twins",
}


def random_weights(directory, name, seed=0):
    path = directory / f"{name}.safetensors"
    write_random_weights(path, get_spec(name).encoder, seed=seed)
    return path


@pytest.fixture(scope="module", params=list(MODULES))
def loaded(request, tmp_path_factory):
    module = importlib.import_module(request.param)
    path = random_weights(tmp_path_factory.mktemp("weights"), MODULES[request.param])
    return module, module.load_model(str(path))


def clips(n=3, seconds=1.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(n, int(seconds * 16000), generator=generator)


def test_attributes(loaded):
    module, model = loaded
    assert model.sample_rate == 16000
    assert model.scene_embedding_size == model.timestamp_embedding_size == get_spec(model.name).embedding_size


def test_scene_shapes_and_batch_independence(loaded):
    module, model = loaded
    audio = clips()
    batched = module.get_scene_embeddings(audio, model)
    assert batched.shape == (3, model.scene_embedding_size) and batched.dtype == torch.float32
    assert torch.isfinite(batched).all()
    for i in range(3):
        torch.testing.assert_close(
            module.get_scene_embeddings(audio[i : i + 1], model)[0], batched[i], rtol=1e-4, atol=1e-5
        )
    torch.testing.assert_close(module.get_scene_embeddings(audio, model), batched)  # replicable


def test_timestamps(loaded):
    module, model = loaded
    audio = clips(2, seconds=2.0)
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (2, timestamps.shape[1], model.timestamp_embedding_size)
    assert embeddings.dtype == timestamps.dtype == torch.float32
    assert timestamps[0, 0] == 0 and torch.allclose(timestamps.diff(dim=1), torch.tensor(model.framing.hop_ms))
    assert timestamps[0, -1] <= 2000.0 and timestamps[0, -1] > 2000.0 - model.framing.hop_ms - 1e-3
    single, _ = module.get_timestamp_embeddings(audio[1:], model)
    torch.testing.assert_close(single[0], embeddings[1], rtol=1e-4, atol=1e-5)
    # Windows at different places of a non-stationary clip differ.
    assert not torch.allclose(embeddings[0, 0], embeddings[0, -1])


@pytest.mark.parametrize("samples", [1, 100, 3200])
def test_audio_shorter_than_a_window(loaded, samples):
    module, model = loaded
    audio = clips(2, seconds=samples / 16000)
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    scene = module.get_scene_embeddings(audio, model)
    assert embeddings.shape[1] == timestamps.shape[1] >= 1
    assert torch.isfinite(embeddings).all() and torch.isfinite(scene).all()


def test_input_types(loaded):
    module, model = loaded
    assert_input_types_agree(module, model, clips(2))


@pytest.mark.parametrize("audio, error, message", BAD_AUDIO)
def test_bad_input_is_a_clear_error(loaded, audio, error, message):
    module, model = loaded
    assert_bad_audio_rejected(
        (module.get_scene_embeddings, module.get_timestamp_embeddings), model, audio, error, message
    )


def test_long_clips_are_chunked_exactly(tmp_path):
    """Streaming a long clip in time chunks gives the whole-clip result (convolutional encoders)."""
    import hear_ssl.byol_a as byol_a

    model = byol_a.load_model(str(random_weights(tmp_path, "byol-a-512")))
    audio = clips(2, seconds=7.0)
    whole_scene = byol_a.get_scene_embeddings(audio, model)
    whole_frames, _ = byol_a.get_timestamp_embeddings(audio, model)
    model.chunk_seconds = 1.0
    torch.testing.assert_close(byol_a.get_scene_embeddings(audio, model), whole_scene, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(byol_a.get_timestamp_embeddings(audio, model)[0], whole_frames, rtol=1e-4, atol=1e-5)


def test_serab_compat_statistics(tmp_path):
    """Default per-input statistics are per clip; the serab-byols flag pools them over the call."""
    import hear_ssl.byol_s as byol_s

    path = random_weights(tmp_path, "byol-s")
    default, compat = byol_s.load_model(str(path)), byol_s.load_model(str(path), serab_compat=True)
    audio = clips(2)
    audio[1] *= 10  # a louder second clip shifts the pooled statistics
    alone = byol_s.get_scene_embeddings(audio[:1], compat)
    together = byol_s.get_scene_embeddings(audio, compat)
    assert not torch.allclose(alone[0], together[0], atol=1e-4)
    torch.testing.assert_close(
        byol_s.get_scene_embeddings(audio[:1], default)[0],
        byol_s.get_scene_embeddings(audio, default)[0],
        rtol=1e-4,
        atol=1e-5,
    )
    # The compat scene path equals standardising by the averaged per-clip statistics by hand.
    logmel = default.frontend(audio)
    mean = logmel.mean(dim=(1, 2)).mean()
    std = logmel.std(dim=(1, 2)).mean()
    with torch.no_grad():
        manual = default.encoder(((logmel - mean) / std).unsqueeze(1))
    torch.testing.assert_close(together, manual, rtol=1e-4, atol=1e-5)
    # Timestamp quirk: statistics over all windows, divided by the number of windows.
    embeddings, _ = byol_s.get_timestamp_embeddings(audio[:1, :8000], compat)
    windows = torch.nn.functional.pad(audio[:1, :8000], (8000, 8000)).unfold(1, 16000, 800)[0]
    logmel = default.frontend(windows)
    count = windows.shape[0]
    with torch.no_grad():
        manual = default.encoder(((logmel - logmel.mean() / count) / (logmel.std() / count)).unsqueeze(1))
    torch.testing.assert_close(embeddings[0], manual, rtol=1e-4, atol=1e-4)


def test_one_hour_clip_has_bounded_memory(tmp_path):
    """A 1-hour clip is streamed: peak memory stays far below what whole-clip processing needs (> 6 GB)."""
    path = random_weights(tmp_path, "byol-a-512")
    script = f"""
import resource, torch, hear_ssl.byol_a as m
model = m.load_model({str(path)!r})
audio = torch.zeros(1, 3600 * 16000)
audio[0, ::7] = 0.1
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = m.get_scene_embeddings(audio, model)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert out.shape == (1, 512) and torch.isfinite(out).all()
print((after - before) // 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    growth_mib = int(result.stdout.strip().splitlines()[-1])
    assert growth_mib < 1500, f"peak memory grew by {growth_mib} MiB"
