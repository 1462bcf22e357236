"""Handcrafted regression targets of the hybrid objective."""

import math

import numpy as np
import pytest
import torch

from hear_ssl.ssl.handcrafted import Standardiser, logmel_features, num_torch_features, opensmile_available


def test_torch_features_shape_and_per_clip_independence():
    x = torch.randn(5, 1, 64, 96)
    features = logmel_features(x)
    assert features.shape == (5, num_torch_features(64))
    assert torch.isfinite(features).all()
    # A clip's features never depend on the other clips of the batch.
    assert torch.allclose(logmel_features(x[2:3]), features[2:3], atol=1e-5)


def test_torch_features_known_values_for_a_flat_steady_spectrum():
    x = torch.full((1, 8, 10), 2.0)
    f = logmel_features(x)[0]
    n = 8
    assert torch.allclose(f[:n], torch.full((n,), 2.0))  # band means
    assert torch.allclose(f[n : 3 * n], torch.zeros(2 * n), atol=1e-6)  # band std, band change
    loudness_mean = f[5 * n]
    assert loudness_mean.item() == pytest.approx(2.0 + math.log(n), rel=1e-5)
    centroid_mean = f[5 * n + 2]
    assert centroid_mean.item() == pytest.approx((n - 1) / 2, rel=1e-5)
    flatness_mean = f[5 * n + 6]
    assert flatness_mean.item() == pytest.approx(0.0, abs=1e-5)  # flat spectrum: geometric = arithmetic mean


def test_torch_features_reject_bad_shapes():
    with pytest.raises(ValueError, match="frames>=2"):
        logmel_features(torch.randn(2, 64, 1))


def test_standardiser_fits_zero_mean_unit_std_and_keeps_constant_features_finite():
    data = torch.randn(100, 3) * torch.tensor([1.0, 10.0, 0.0]) + torch.tensor([0.0, 5.0, 7.0])
    s = Standardiser(3).fit(data)
    out = s(data)
    assert torch.allclose(out[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(out[:, :2].std(0), torch.ones(2), atol=1e-4)
    assert torch.allclose(out[:, 2], torch.zeros(100))


@pytest.mark.skipif(not opensmile_available(), reason="opensmile not installed")
def test_opensmile_features_of_fixed_segments(tmp_path):
    import soundfile

    from hear_ssl.ssl.handcrafted import opensmile_segment_features

    t = np.arange(32000) / 16000
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    segments = np.array([[0, 0, 201, 0, 0], [0, 0, 201, 96, 0]], dtype=np.int64)
    out = tmp_path / "f.npz"
    features = opensmile_segment_features(segments, [str(path)], 96, 160, "egemaps_v02", out, progress=False)
    assert features.shape == (2, 88) and np.isfinite(features).all()
    again = opensmile_segment_features(segments, [str(path)], 96, 160, "egemaps_v02", out, progress=False)
    assert np.array_equal(features, again)
    with pytest.raises(ValueError, match="other segments"):
        opensmile_segment_features(segments[:1], [str(path)], 96, 160, "egemaps_v02", out, progress=False)
