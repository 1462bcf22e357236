"""The offline clustering step of DeepCluster-style objectives (DECAR): whitening, k-means, empty clusters.

k-means runs on faiss (`pip install faiss-cpu`, in the `train` extra) when it is installed, as DeepCluster
does, else on scikit-learn. Both are deterministic for a fixed seed; a run must resume with the backend it
started with (the clustering state records it). Measured on a shared 2-core CPU machine, 20,000 random
L2-normalised 256-d points, k = 512, 20 iterations, 2 threads: faiss-cpu 1.15 11.9 s, scikit-learn 1.9
(Lloyd, one initialisation) 368 s; hence faiss.
"""

from __future__ import annotations

import numpy as np
import torch


def kmeans_backend() -> str:
    """`faiss` when faiss-cpu is importable, else `sklearn`; ImportError naming the fix when neither is."""
    try:
        import faiss  # noqa: F401

        return "faiss"
    except ImportError:
        pass
    try:
        import sklearn  # noqa: F401

        return "sklearn"
    except ImportError:
        raise ImportError("k-means needs faiss-cpu or scikit-learn: pip install 'hear-ssl[train]'") from None


def pca_whiten(features: torch.Tensor, dim: int, eps: float = 1e-5) -> torch.Tensor:
    """Centre, project on the top `dim` principal axes, scale each to unit variance, L2-normalise the rows.

    Parameters
    ----------
    features : Tensor (N, D)
    dim : int
        Kept axes, at most min(D, N - 1).

    Returns
    -------
    Tensor (N, min(dim, D, N - 1)) float32, unit-norm rows.
    """
    x = features.double().cpu()
    x = x - x.mean(0)
    dim = max(1, min(dim, x.shape[1], x.shape[0] - 1))
    covariance = x.T @ x / max(1, x.shape[0] - 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    top = eigenvectors[:, -dim:].flip(1)
    # Eigenvector signs are arbitrary; fix them so the whitened features are a function of the input.
    signs = top.gather(0, top.abs().argmax(0, keepdim=True)).sign()
    top = top * torch.where(signs == 0, torch.ones_like(signs), signs)
    whitened = x @ top / torch.sqrt(eigenvalues[-dim:].flip(0).clamp_min(0) + eps)
    return torch.nn.functional.normalize(whitened, dim=1).float()


def kmeans(points: np.ndarray, k: int, iterations: int, seed: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means of points (N, d) float32 into k <= N clusters: (centroids (k, d), labels (N,) int64)."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    if not 1 <= k <= len(points):
        raise ValueError(f"k-means needs 1 <= k <= number of points, got k={k} for {len(points)} points")
    if backend == "faiss":
        import faiss

        # No subsampling: every point takes part, as in DeepCluster (max 256 points per centroid by default).
        km = faiss.Kmeans(points.shape[1], k, niter=iterations, seed=seed, max_points_per_centroid=len(points))
        km.train(points)
        _, labels = km.index.search(points, 1)
        return km.centroids.copy(), labels[:, 0].astype(np.int64)
    if backend == "sklearn":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=1, max_iter=iterations, random_state=seed, algorithm="lloyd").fit(points)
        return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)
    raise ValueError(f"unknown k-means backend {backend!r}; expected faiss or sklearn")


def split_empty_clusters(
    points: np.ndarray, centroids: np.ndarray, labels: np.ndarray, rng: np.random.Generator, eps: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Give every empty cluster half of a large one (DeepCluster / faiss): while a cluster has no point,
    pick a cluster with probability proportional to its size minus one, move a copy of its centroid by
    +-eps along a random direction, and split its points between the two by the nearer centroid.

    Returns new (centroids (k, d), labels (N,)); unchanged when no cluster is empty or N < k.
    """
    centroids, labels = centroids.copy(), labels.copy()
    k = len(centroids)
    counts = np.bincount(labels, minlength=k)
    for empty in np.flatnonzero(counts == 0):
        weights = np.clip(counts - 1, 0, None).astype(np.float64)
        if weights.sum() == 0:
            break  # every cluster has one point: nothing to split
        big = int(rng.choice(k, p=weights / weights.sum()))
        direction = rng.standard_normal(centroids.shape[1]).astype(np.float32)
        direction *= eps / max(float(np.linalg.norm(direction)), 1e-12)
        centroids[empty], centroids[big] = centroids[big] + direction, centroids[big] - direction
        members = np.flatnonzero(labels == big)
        nearer_empty = np.linalg.norm(points[members] - centroids[empty], axis=1) < np.linalg.norm(
            points[members] - centroids[big], axis=1
        )
        if nearer_empty.all() or not nearer_empty.any():  # identical points: split them by halves
            nearer_empty = np.arange(len(members)) % 2 == 1
        labels[members[nearer_empty]] = empty
        counts = np.bincount(labels, minlength=k)
    return centroids, labels


def uniform_cluster_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into `labels`, as many as there are labels, with every non-empty cluster equally often
    (DeepCluster's sampler: N / n_clusters + 1 per cluster, drawn with replacement from small clusters),
    shuffled; a class-balanced epoch for the pseudo-label classifier."""
    clusters = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    per_cluster = len(labels) // len(clusters) + 1
    picks = [rng.choice(members, per_cluster, replace=len(members) < per_cluster) for members in clusters]
    order = np.concatenate(picks)
    rng.shuffle(order)
    return order[: len(labels)]
