"""The name the trainable network had before objectives became classes (`hear_ssl.pretrain.objectives`).

`Learner(config)` builds the objective `config.objective`: its `network.encoder` is the encoder, its
state dict the checkpoint's `model`.
"""

from .objectives import build_objective as Learner

__all__ = ["Learner"]
