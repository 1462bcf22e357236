"""DECAR's clustering step: PCA whitening, k-means backends, empty clusters, the cluster-uniform sampler."""

import numpy as np
import pytest
import torch

from hear_ssl.ssl.clustering import kmeans, kmeans_backend, pca_whiten, split_empty_clusters, uniform_cluster_order

from .requires import require_module


def test_pca_whitening_gives_unit_rows_in_fewer_dimensions_and_is_deterministic():
    x = torch.randn(200, 12) @ torch.randn(12, 12)
    out = pca_whiten(x, 5)
    assert out.shape == (200, 5)
    assert torch.allclose(out.norm(dim=1), torch.ones(200), atol=1e-5)
    assert torch.equal(out, pca_whiten(x.clone(), 5))
    assert pca_whiten(x[:4], 256).shape == (4, 3)  # at most N - 1 axes


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_kmeans_separates_blobs_and_repeats_itself(backend):
    require_module(backend, "faiss-cpu is DECAR's k-means (setup.py [train]; make test installs it)")
    rng = np.random.default_rng(0)
    centres = np.array([[5, 0], [0, 5], [-5, -5]], dtype=np.float32)
    truth = rng.integers(0, 3, 300)
    points = centres[truth] + 0.1 * rng.standard_normal((300, 2)).astype(np.float32)
    centroids, labels = kmeans(points, 3, 20, seed=1, backend=backend)
    assert centroids.shape == (3, 2) and labels.shape == (300,)
    # One cluster per blob: the labels are the truth up to a permutation.
    assert len({(t, c) for t, c in zip(truth, labels)}) == 3
    again = kmeans(points, 3, 20, seed=1, backend=backend)
    assert np.array_equal(again[1], labels)
    with pytest.raises(ValueError, match="k <= number of points"):
        kmeans(points[:2], 3, 5, seed=0, backend=backend)


def test_backend_prefers_faiss_when_installed():
    try:
        import faiss  # noqa: F401

        assert kmeans_backend() == "faiss"
    except ImportError:
        assert kmeans_backend() == "sklearn"


def test_empty_clusters_take_half_of_a_large_one():
    points = np.concatenate([np.zeros((6, 2)), np.ones((2, 2))]).astype(np.float32)
    points[:3] -= 0.01
    centroids = np.array([[0, 0], [1, 1], [9, 9]], dtype=np.float32)
    labels = np.array([0] * 6 + [1] * 2)
    new_centroids, new_labels = split_empty_clusters(points, centroids, labels, np.random.default_rng(0))
    counts = np.bincount(new_labels, minlength=3)
    assert (counts > 0).all() and counts.sum() == 8
    assert not np.array_equal(new_centroids[2], centroids[2])


def test_uniform_cluster_order_balances_clusters():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    order = uniform_cluster_order(labels, np.random.default_rng(0))
    assert len(order) == 100
    counts = np.bincount(labels[order], minlength=3)
    assert counts.min() >= 30 and counts.max() <= 35
