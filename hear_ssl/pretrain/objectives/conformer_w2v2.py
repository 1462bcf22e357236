"""Conformer wav2vec 2.0 for general audio (Srivastava et al., ICASSP 2022): contrastive prediction of masked,
quantised latents of a log-mel, with a Conformer context network.

    mel      = standardised log-mel crop (B, 1, 64, T)            # the run's cache, corpus statistics
    z        = feature encoder(mel)                               # (B, S = T // 4, C) latents, 40-ms steps
    mask     = spans of `mask_length` steps, starts drawn with `mask_prob`       (B, S), on the device
    c        = Conformer(z with masked steps replaced by a learned embedding)    (B, S, D)
    q        = Gumbel-softmax product quantiser(z[mask])          # G groups x V entries, straight-through hard
    logits   = cos(proj(c[mask]), [proj_q(q_t), proj_q(q_k) for K distractors k]) / kappa
    loss     = cross-entropy(logits, the true q_t) + alpha * diversity     # diversity: (GV - perplexity) / GV

Distractors are K masked steps of the same clip other than the positive, uniformly with replacement (wav2vec
2.0); a distractor with the positive's codewords is left out of the softmax, as wav2vec 2.0 does (without the
quantiser, continuous targets are never dropped). The Gumbel temperature anneals as max(tau_max * decay^step,
tau_min), the step counted in a buffer of the objective, so a resumed run continues the schedule exactly.
Every random draw (span starts, distractors, Gumbel noise) comes from the augmenter's generator, saved per
rank in the checkpoint; dropout uses the global RNG, saved too.

Facts and their sources. The paper (and the torchaudio prototype `conformer_wav2vec2_pretrain_base/_large`
written with its authors' team): 64-band log-mel input, 4-frame feature encoder to 256 channels, 12 Conformer
blocks (base d=256, 8 heads; large d=768, 12 heads; FFN 1024), kernels 31 then 15, convolution module first,
GroupNorm, mask probability 0.3 with spans of 3 steps, K = 100 distractors, Adam with weight decay. From
wav2vec 2.0 (Baevski et al. 2020), which the paper builds on: G = 2 groups x V = 320 entries, codevectors of
256 (d/G = 128 per group), final projection 256, kappa = 0.1, alpha = 0.1, Gumbel temperature 2 -> 0.5 with
decay 0.999995 per update. torchaudio's prototype predicts a linear projection of the unquantised latents
instead (`--conformer-w2v2-no-quantize`). Left out: wav2vec 2.0's L2 penalty on the latents and its 0.1
gradient scale on the feature encoder (speech-specific regularisers the paper does not list).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...conformer_config import ConformerConfig
from ...models.conformer import ConformerEncoder
from ..config import setting
from .base import Batch, Objective, ZooExport

FRAME_MS = 10  # the cache's 160-sample hop at 16 kHz


# -- masking and distractors: batched on the device, from an explicit generator ------------------------------
def span_mask(batch: int, steps: int, prob: float, span: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """(batch, steps) bool: round(prob * steps) distinct span starts per row, each masking `span` steps.

    Starts are uniform among the steps - span + 1 positions where a whole span fits; spans may overlap, so
    a row masks between span + starts - 1 and starts * span steps (wav2vec 2.0's rule, with a fixed count).

    Raises
    ------
    ValueError
        If the probability is outside (0, 1), a span does not fit, or fewer than 2 steps would be masked
        (the contrastive task needs at least one distractor).
    """
    if not 0.0 < prob < 1.0:
        raise ValueError(f"mask probability must lie in (0, 1), got {prob}")
    positions = steps - span + 1
    if span < 1 or positions < 1:
        raise ValueError(f"mask spans of {span} steps do not fit crops of {steps} steps; raise the crop length")
    count = min(max(1, round(prob * steps)), positions)
    if span + count - 1 < 2:
        raise ValueError(
            f"crops of {steps} steps with mask probability {prob} and spans of {span} mask a single step; "
            "the contrastive loss needs two masked steps per clip: raise the crop length or the span"
        )
    scores = torch.rand(batch, positions, generator=generator, device=device)
    starts = scores.topk(count, dim=1).indices
    covered = (starts[..., None] + torch.arange(span, device=device)).reshape(batch, -1)
    mask = torch.zeros(batch, steps, dtype=torch.bool, device=device)
    return mask.scatter_(1, covered, True)


def sample_distractors(mask: torch.Tensor, num: int, generator: torch.Generator) -> torch.Tensor:
    """(N, num) indices into the N masked steps of `mask` (B, S), row-major: for each masked step, `num`
    other masked steps of the same clip, uniformly with replacement; never the step itself."""
    counts = mask.sum(dim=1)
    if int(counts.min()) < 2:
        raise ValueError("every clip needs at least two masked steps to draw distractors from")
    clip = mask.nonzero()[:, 0]  # (N,) the clip of each masked step, in row-major order
    first = (counts.cumsum(0) - counts)[clip]  # index of the clip's first masked step
    rank = torch.arange(clip.numel(), device=mask.device) - first
    others = (counts[clip] - 1)[:, None]  # candidates per step, itself excluded
    draw = torch.rand(clip.numel(), num, generator=generator, device=mask.device)
    offset = torch.minimum((draw * others).long(), others - 1)
    offset = offset + (offset >= rank[:, None]).long()  # skip the positive
    return first[:, None] + offset


def gumbel_noise(shape, generator: torch.Generator, device=None) -> torch.Tensor:
    """Standard Gumbel samples -log(-log U), U uniform in (0, 1)."""
    uniform = torch.rand(shape, generator=generator, device=device).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))


# -- the losses: short pure functions -----------------------------------------------------------------------
def contrastive_loss(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    distractors: torch.Tensor,
    temperature: float,
    codes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """wav2vec 2.0's L_m: cross-entropy of picking each step's own target among it and its distractors.

    Parameters
    ----------
    predictions, targets : (N, P) the context network's projected outputs and the projected (quantised)
        latents at the N masked steps of `mask`, in row-major order.
    mask : (B, S) bool, the masked steps.
    distractors : (N, K) indices into the N masked steps, each in the step's own clip (`sample_distractors`).
    temperature : kappa; logits are cosine similarities / kappa.
    codes : (N, G) the quantiser's codeword ids, optional: a distractor with the positive's codewords cannot
        be told apart from it, so it is left out of the softmax (wav2vec 2.0 drops such distractors).

    Returns
    -------
    (loss, accuracy) : scalars; accuracy is the share of steps whose own target scores highest.
    """
    batch, steps = mask.shape
    clip, step = mask.nonzero().unbind(1)
    # Cosines of every (prediction, target) pair of a clip, (B, S, S): far less memory than gathering the
    # K distractor vectors of every step (N x K x P), and distractors come from the same clip by construction.
    canvas = predictions.new_zeros(batch, steps, predictions.shape[1], dtype=torch.float32)
    p = canvas.index_put((clip, step), F.normalize(predictions.float(), dim=-1))
    t = canvas.index_put((clip, step), F.normalize(targets.float(), dim=-1))
    with torch.autocast(p.device.type, enabled=False):  # logits / 0.1 need float32 cosines
        cosines = torch.bmm(p, t.transpose(1, 2)).flatten()
    row = (clip * steps + step) * steps  # start of step n's row in the flattened (B, S, S)
    positive = cosines[row + step]
    negative = cosines[row[:, None] + step[distractors]]
    if codes is not None:
        negative = negative.masked_fill((codes[distractors] == codes[:, None]).all(dim=-1), float("-inf"))
    logits = torch.cat([positive[:, None], negative], dim=1) / temperature
    zeros = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    accuracy = (logits.argmax(dim=1) == 0).float().mean()
    return F.cross_entropy(logits, zeros), accuracy


def diversity_loss(mean_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """wav2vec 2.0's L_d from the codebook probabilities averaged over the batch's steps (G, V):
    (G V - sum_g exp(entropy_g)) / (G V), 0 when every entry of every group is used equally. -> (loss, perplexity)"""
    groups, entries = mean_probs.shape
    perplexity = torch.exp(-(mean_probs * torch.log(mean_probs + 1e-7)).sum(dim=-1)).sum()
    return (groups * entries - perplexity) / (groups * entries), perplexity


def gumbel_temperature(step: int, start: float, end: float, decay: float) -> float:
    """max(start * decay^step, end): wav2vec 2.0's per-update annealing."""
    return max(start * decay**step, end)


class GumbelProductQuantizer(nn.Module):
    """Product quantiser: G groups, each picking one of V learned entries through a Gumbel softmax; the chosen
    entries (dim / G each) are concatenated. Hard one-hot choices forward, soft gradients back (straight-through)
    in training; the argmax at evaluation."""

    def __init__(self, in_dim: int, groups: int, entries: int, dim: int):
        super().__init__()
        if dim % groups:
            raise ValueError(f"codevector size {dim} must be divisible by the {groups} groups")
        self.groups, self.entries = groups, entries
        self.logits = nn.Linear(in_dim, groups * entries)
        nn.init.normal_(self.logits.weight, std=1.0)  # wav2vec 2.0: wide logits, so early choices are distinct
        nn.init.zeros_(self.logits.bias)
        self.codebook = nn.Parameter(torch.rand(groups, entries, dim // groups))

    def forward(
        self, x: torch.Tensor, temperature: float, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, in_dim) -> codevectors (N, dim), the softmax probabilities (N, G, V) (for the diversity loss) and
        the chosen entries (N, G).

        `noise` (N, G, V) Gumbel samples turns on the straight-through Gumbel softmax (training); None = argmax.
        """
        logits = self.logits(x).float().view(-1, self.groups, self.entries)
        probs = logits.softmax(dim=-1)
        if noise is None:
            ids = logits.argmax(-1)
            codes = F.one_hot(ids, self.entries).float()
        else:
            soft = ((logits + noise) / temperature).softmax(dim=-1)
            ids = soft.argmax(-1)
            codes = F.one_hot(ids, self.entries).float() - soft.detach() + soft
        vectors = torch.einsum("ngv,gvd->ngd", codes, self.codebook.float())
        return vectors.flatten(1), probs, ids


@dataclass(frozen=True)
class ConformerW2V2Options:
    """Defaults: the paper's base Conformer and masking, wav2vec 2.0 base's quantiser and loss (module docstring)."""

    layers: int = setting(12, "Conformer blocks (12 in both of the paper's sizes)")
    dim: int = setting(256, "Conformer width (base 256, large 768)")
    heads: int = setting(8, "attention heads (base 8, large 12)")
    ffn: int = setting(1024, "feed-forward width")
    extractor_dim: int = setting(256, "feature-encoder channels")
    first_kernel: int = setting(31, "depthwise kernel of the first block")
    kernel: int = setting(15, "depthwise kernel of the other blocks")
    dropout: float = setting(0.1, "dropout in the Conformer blocks")
    crop_frames: int = setting(1000, "log-mel frames per training crop (1000 = 10 s, 250 steps)")
    mask_prob: float = setting(0.3, "share of steps that start a masked span")
    mask_length: int = setting(3, "steps (40 ms each) per masked span")
    num_negatives: int = setting(100, "K distractors per masked step, from the same clip")
    quantize: bool = setting(True, "Gumbel product-quantised targets (off: a linear projection of the latents)")
    groups: int = setting(2, "quantiser groups G")
    entries: int = setting(320, "entries per group V")
    codevector_dim: int = setting(256, "quantised target size (G x entry size)")
    final_dim: int = setting(256, "size both sides are projected to before the cosine")
    logit_temp: float = setting(0.1, "kappa: cosine similarities are divided by it")
    diversity_weight: float = setting(0.1, "alpha: weight of the codebook-diversity loss")
    gumbel_max: float = setting(2.0, "Gumbel softmax temperature at step 0")
    gumbel_min: float = setting(0.5, "lowest Gumbel softmax temperature")
    gumbel_decay: float = setting(0.999995, "temperature factor per optimiser step")

    def __post_init__(self):
        problems = []
        for name in ("layers", "dim", "heads", "ffn", "extractor_dim", "crop_frames", "mask_length", "num_negatives",
                     "groups", "codevector_dim", "final_dim"):  # fmt: skip
            if getattr(self, name) < 1:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.mask_prob < 1.0:
            problems.append(f"mask_prob must lie in (0, 1), got {self.mask_prob}")
        if self.entries < 2:
            problems.append(f"entries must be at least 2 (a one-entry codebook cannot tell steps apart), got "
                            f"{self.entries}")  # fmt: skip
        if self.groups >= 1 and self.codevector_dim % self.groups:
            problems.append(f"codevector_dim {self.codevector_dim} must be divisible by groups {self.groups}")
        if self.logit_temp <= 0:
            problems.append(f"logit_temp must be positive, got {self.logit_temp}")
        if self.diversity_weight < 0:
            problems.append(f"diversity_weight must be >= 0, got {self.diversity_weight}")
        if not 0 < self.gumbel_min <= self.gumbel_max:
            problems.append(f"need 0 < gumbel_min <= gumbel_max, got {self.gumbel_min} and {self.gumbel_max}")
        if not 0 < self.gumbel_decay <= 1:
            problems.append(f"gumbel_decay must lie in (0, 1], got {self.gumbel_decay}")
        if problems:
            raise ValueError("; ".join(problems))


class ConformerW2V2(Objective):
    """wav2vec 2.0's contrastive task on a Conformer over log-mel latents; `network.encoder` is exported."""

    Options = ConformerW2V2Options
    log_terms = ("diversity_loss", "code_perplexity", "accuracy", "gumbel_temp")

    def __init__(self, config, data=None):
        super().__init__(config, data)
        options = self.options
        encoder_config = self.encoder_config(config)
        steps = options.crop_frames // encoder_config.stride
        span_mask(1, steps, options.mask_prob, options.mask_length, torch.Generator())  # fails early on a bad fit
        self.network = nn.ModuleDict({"encoder": ConformerEncoder(encoder_config)})
        self.mask_embedding = nn.Parameter(torch.rand(options.extractor_dim))
        if options.quantize:
            self.quantizer = GumbelProductQuantizer(
                options.extractor_dim, options.groups, options.entries, options.codevector_dim
            )
            target_dim = options.codevector_dim
        else:
            self.quantizer = None
            target_dim = options.extractor_dim
        self.project_q = nn.Linear(target_dim, options.final_dim)
        self.final_proj = nn.Linear(options.dim, options.final_dim)
        # Optimiser steps done, so the Gumbel temperature follows the schedule across a resume.
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    # -- settings ---------------------------------------------------------------------------------------
    @classmethod
    def encoder_config(cls, config) -> ConformerConfig:
        o = config.objective_options
        return ConformerConfig(
            n_mels=config.frontend.n_mels, extractor_dim=o.extractor_dim, dim=o.dim, layers=o.layers, heads=o.heads,
            ffn=o.ffn, first_kernel=o.first_kernel, kernel=o.kernel, dropout=o.dropout,
        )  # fmt: skip

    @classmethod
    def crop_frames(cls, config) -> int:
        return config.objective_options.crop_frames

    @classmethod
    def zoo_export(cls, config) -> ZooExport:
        encoder_config = cls.encoder_config(config)
        name = f"hear-ssl-conformer-w2v2-{encoder_config.layers}x{encoder_config.dim}"
        model_config = {"name": name, "family": "conformer", "encoder": asdict(encoder_config),
                        "frontend": config.frontend.to_dict()}  # fmt: skip
        return ZooExport(
            ConformerEncoder(encoder_config),
            model_config,
            "hear_ssl.conformer",
            name,
            encoder_config.describe(),
            corpus_norm=True,
        )

    def temperature(self) -> float:
        o = self.options
        return gumbel_temperature(int(self.updates), o.gumbel_max, o.gumbel_min, o.gumbel_decay)

    # -- the training step ------------------------------------------------------------------------------
    @torch.no_grad()
    def inputs(self, batch: Batch, augment) -> dict[str, torch.Tensor]:
        o, x = self.options, batch.x
        generator = augment.generator_on(x.device)
        steps = x.shape[-1] // self.encoder.config.stride
        mask = span_mask(x.shape[0], steps, o.mask_prob, o.mask_length, generator, x.device)
        out = {"mel": x, "mask": mask, "distractors": sample_distractors(mask, o.num_negatives, generator)}
        if self.quantizer is not None:
            out["gumbel"] = gumbel_noise((int(mask.sum()), o.groups, o.entries), generator, x.device)
        return out

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mask = inputs["mask"]
        latents = self.encoder.features(inputs["mel"])  # (B, S, C)
        masked = torch.where(mask[..., None], self.mask_embedding.to(latents.dtype), latents)
        context = self.encoder.context(masked)[-1]
        predictions = self.final_proj(context[mask])  # (N, P), row-major like the distractor indices
        targets, codes, terms = latents[mask], None, {}
        if self.quantizer is not None:
            targets, probs, codes = self.quantizer(targets, self.temperature(), inputs["gumbel"])
            diversity, perplexity = diversity_loss(probs.mean(dim=0))
            terms = {"diversity_loss": diversity.detach(), "code_perplexity": perplexity.detach()}
        contrastive, accuracy = contrastive_loss(
            predictions, self.project_q(targets), mask, inputs["distractors"], self.options.logit_temp, codes
        )
        loss = contrastive + self.options.diversity_weight * diversity if self.quantizer is not None else contrastive
        return loss, {"ssl_loss": contrastive.detach(), **terms, "accuracy": accuracy.detach()}

    def after_step(self, step: int) -> dict[str, float]:
        temperature = self.temperature()  # the one this step used
        self.updates += 1
        return {"gumbel_temp": temperature}
