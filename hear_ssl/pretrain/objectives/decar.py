"""DECAR (Ghosh et al. 2022): DeepCluster (Caron et al. 2018) for general-purpose audio representations.

Every `recluster_every` steps (by default once per pass over the clustered sample, DeepCluster's epoch):

1. embed a fixed seeded sample of the corpus (`sample` segments) with the current encoder, in eval mode;
2. PCA-whiten to `pca_dim` (256, DeepCluster) and L2-normalise;
3. k-means into `clusters` groups (faiss-cpu when installed, else scikit-learn; `hear_ssl.ssl.clustering`),
   then split large clusters into empty ones, so every cluster has points;
4. the assignments become pseudo-labels, the classifier (a linear layer on the embedding) is re-initialised
   (N(0, 0.01) weights, zero bias, as DeepCluster's top layer) and its optimiser state cleared;
5. training batches are drawn from the sample uniformly over clusters and the loss is the cross-entropy of
   the classifier on one augmented view.

The clustering state (sample, labels, centroids, clustering count and step, sampler position, backend) is part
of the module's state dict (`get_extra_state`), so a resumed run clusters and samples exactly as an
uninterrupted one. Under DDP every rank clusters the same sample with the same weights (identical results)
and takes its own slice of each global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...ssl.augment import normalize_batch
from ...ssl.clustering import kmeans, kmeans_backend, pca_whiten, split_empty_clusters, uniform_cluster_order
from ..config import setting
from .base import Batch, Objective, ObjectiveData
from .heads import EncoderProjector


@dataclass(frozen=True)
class Options:
    clusters: int = setting(512, "k-means clusters k (pseudo-classes)")
    sample: int = setting(20000, "segments embedded and clustered (a fixed seeded sample of the corpus)")
    pca_dim: int = setting(256, "PCA-whitened dimensions clustered")
    recluster_every: int = setting(0, "steps between clusterings (0 = one pass over the sample)")
    kmeans_iterations: int = setting(20, "Lloyd iterations of k-means")
    embed_batch: int = setting(256, "crops per encoder pass when embedding the sample")

    def __post_init__(self):
        for name in ("clusters", "sample", "pca_dim", "kmeans_iterations", "embed_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.recluster_every < 0:
            raise ValueError("recluster_every must be 0 (once per pass) or positive")


class DECAR(Objective):
    Options = Options
    log_terms = ("clusters", "cluster_epoch")

    def __init__(self, config, data: ObjectiveData | None = None):
        super().__init__(config, data)
        if data is None:
            raise ValueError("DECAR clusters the corpus: build it with the run's data (ObjectiveData)")
        o = self.options
        encoder = self.new_encoder()
        self.network = EncoderProjector(encoder, nn.Linear(encoder.embedding_size, o.clusters))
        count = len(data.crops.segments)
        rng = np.random.default_rng([config.seed, 31])
        self.sample_ids = np.sort(rng.choice(count, size=min(o.sample, count), replace=False))
        self.num_segments = count
        world = data.context.world_size if data.context is not None else 1
        self.every = o.recluster_every or max(1, len(self.sample_ids) // (config.batch_size * world))
        self.backend = kmeans_backend()
        # Clustering state (saved through get_extra_state).
        self.labels = np.zeros(0, dtype=np.int64)
        self.centroids = np.zeros((0, 0), dtype=np.float32)
        self.cluster_epoch, self.clustered_at, self.position = 0, 0, 0
        self._order_cache: tuple[int, np.ndarray] | None = None

    # -- clustering -----------------------------------------------------------------------------------
    def begin_step(self, state) -> None:
        if self.cluster_epoch == 0 or state.step - self.clustered_at >= self.every:
            self.cluster(state)

    @torch.no_grad()
    def embed_sample(self, crops, norm: dict, device: str) -> torch.Tensor:
        """Encoder embeddings (N, D) of the sample's crops, standardised as the HEAR module does, eval mode."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(self.sample_ids), self.options.embed_batch):
            ids = self.sample_ids[start : start + self.options.embed_batch]
            raw = torch.from_numpy(np.stack([np.asarray(crops.crop(int(i))) for i in ids])[:, None]).to(device)
            out.append(self.encoder((raw - norm["mean"]) / norm["std"]).float().cpu())
        self.train(was_training)
        return torch.cat(out)

    def cluster(self, state) -> None:
        o = self.options
        features = pca_whiten(self.embed_sample(state.crops, state.norm, state.device), o.pca_dim).numpy()
        seed = self.config.seed * 1000 + self.cluster_epoch
        k = min(o.clusters, len(features))
        centroids, labels = kmeans(features, k, o.kmeans_iterations, seed, self.backend)
        centroids, labels = split_empty_clusters(features, centroids, labels, np.random.default_rng(seed))
        self.centroids, self.labels = centroids, labels
        self.reset_classifier(seed, state.optimizer)
        self.cluster_epoch += 1
        self.clustered_at, self.position, self._order_cache = state.step, 0, None

    def reset_classifier(self, seed: int, optimizer) -> None:
        classifier = self.network.projector
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            weight = torch.randn(classifier.weight.shape, generator=generator) * 0.01
            classifier.weight.copy_(weight.to(classifier.weight.device))
            classifier.bias.zero_()
        for parameter in classifier.parameters():
            optimizer.state.pop(parameter, None)  # fresh Adam moments for the new pseudo-classes

    # -- sampling -------------------------------------------------------------------------------------
    def _order(self, epoch_pass: int) -> np.ndarray:
        if self._order_cache is None or self._order_cache[0] != epoch_pass:
            rng = np.random.default_rng([self.config.seed, 37, self.cluster_epoch, epoch_pass])
            self._order_cache = (epoch_pass, uniform_cluster_order(self.labels, rng))
        return self._order_cache[1]

    def next_batch(self, crops, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's slice of the next global batch, uniform over clusters; returns crops and segment ids."""
        rank, world = getattr(crops, "rank", 0), getattr(crops, "world_size", 1)
        n = len(self.labels)
        positions = self.position + rank * batch_size + np.arange(batch_size)
        picks = np.array([self._order(int(p // n))[p % n] for p in positions])
        self.position += batch_size * world
        ids = self.sample_ids[picks]
        raw = np.stack([np.asarray(crops.crop(int(i))) for i in ids])[:, None]
        return torch.from_numpy(raw), torch.from_numpy(ids.astype(np.int64))

    # -- loss -----------------------------------------------------------------------------------------
    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        if not len(self.labels):
            raise RuntimeError("DECAR has no pseudo-labels yet: begin_step(state) clusters the sample first")
        (view,) = augment.multi_crop(batch.x, [batch.x.shape[-1]])
        rows = np.searchsorted(self.sample_ids, batch.ids.numpy())
        labels = torch.from_numpy(self.labels[rows]).to(batch.x.device)
        return {"view": normalize_batch(view), "labels": labels}

    def forward(self, inputs):
        logits = self.network(inputs["view"])[1]
        loss = F.cross_entropy(logits.float(), inputs["labels"])
        terms = {
            "ssl_loss": loss.detach(),
            "clusters": torch.tensor(float(len(np.unique(self.labels)))),
            "cluster_epoch": torch.tensor(float(self.cluster_epoch)),
        }
        return loss, terms

    # -- checkpoint -----------------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        return {
            "sample_ids": torch.from_numpy(self.sample_ids.copy()), "labels": torch.from_numpy(self.labels.copy()),
            "centroids": torch.from_numpy(self.centroids.copy()), "cluster_epoch": self.cluster_epoch,
            "clustered_at": self.clustered_at, "position": self.position, "backend": self.backend,
        }  # fmt: skip

    def set_extra_state(self, state: dict) -> None:
        if not np.array_equal(state["sample_ids"].numpy(), self.sample_ids):
            raise ValueError("this DECAR checkpoint clustered another sample of the corpus; use the same --data")
        if state["cluster_epoch"] and state["backend"] != self.backend:
            raise ValueError(
                f"this DECAR run clustered with {state['backend']} k-means, but {self.backend} is what is installed "
                f"here; install {state['backend']} to resume it exactly"
            )
        self.labels, self.centroids = state["labels"].numpy().copy(), state["centroids"].numpy().copy()
        self.cluster_epoch, self.clustered_at = state["cluster_epoch"], state["clustered_at"]
        self.position, self._order_cache = state["position"], None
