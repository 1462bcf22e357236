"""The objectives as classes: every registered objective trains through the one `train_step`, every
parameter it owns learns, its checkpoint round-trips through `TrainState`, and its flags come from the configs."""

from __future__ import annotations

import copy
import os
from dataclasses import fields

import numpy as np
import pytest
import torch

from hear_ssl import cli
from hear_ssl.commands.pretrain import config_flags
from hear_ssl.config import EncoderConfig
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.objectives import OBJECTIVES, objective_class
from hear_ssl.pretrain.objectives.base import Batch, ObjectiveData
from hear_ssl.pretrain.state import TrainState, train_step

from .benchmark_scripts import load_benchmark

# Tiny heads for every objective; each objective reads only its own settings.
TINY = dict(
    encoder=EncoderConfig(arch="audiontt2020", d=16), proj_hidden=16, proj_dim=8, expander_dims=(16, 16),
    feature_hidden=8, batch_size=4, crop_frames=32, mixup_memory=8, max_steps=4, progress=False, seed=1,
)  # fmt: skip
TINY_BEATS = dict(layers=1, dim=64, heads=4, ffn=128, predictor_layers=1, quant_n=16, quant_dim=8)
TINY_OPTIONS: dict[str, dict] = {
    "atst_clip": {"embed_dim": 16, "depth": 1, "num_heads": 2, "crop_frames": 40, "view_frames": 32},
    "atst_frame": {"embed_dim": 16, "depth": 1, "num_heads": 2, "crop_frames": 40, "mask_block": 2},
    "beats": TINY_BEATS,
    "dino": {"out_dim": 32, "hidden_dim": 16, "bottleneck_dim": 8},
    "vibcreg": {"iternorm_groups": 4},
    "decar": {"clusters": 4, "pca_dim": 8, "recluster_every": 2, "embed_batch": 8},
    "tempo": {"view_frames": 24},
    "conformer_w2v2": {
        "layers": 1,
        "dim": 16,
        "heads": 2,
        "ffn": 32,
        "extractor_dim": 16,
        "crop_frames": 40,
        "num_negatives": 4,
        "entries": 8,
        "codevector_dim": 16,
        "final_dim": 16,
    },
}


def tiny_beats_teacher() -> str:
    """A random tiny BEATs in the official layout, the teacher the tokenizer objective distils (written once)."""
    import tempfile
    from pathlib import Path

    from hear_ssl.models.beats import BEATs
    from hear_ssl.pretrain.objectives.beats import beats_encoder_config

    path = Path(tempfile.gettempdir()) / f"hear-ssl-tiny-beats-teacher-{os.getpid()}.pt"
    if not path.exists():
        config = beats_encoder_config(1, 64, 4, 128)
        torch.save({"cfg": config.to_cfg(), "model": BEATs(config).state_dict()}, path)
    return str(path)


def tiny_config(objective: str, **overrides) -> PretrainConfig:
    options = TINY_OPTIONS.get(objective, {})
    if objective == "beats_tokenizer":
        options = {**TINY_BEATS, "estimator_layers": 1, "teacher": tiny_beats_teacher()}
        options = {k: v for k, v in options.items() if k != "predictor_layers"}
    return PretrainConfig(**{**TINY, "objective": objective, "options": options, **overrides})


def tiny_state(config: PretrainConfig) -> tuple[TrainState, object]:
    kind = objective_class(config.objective)
    frames = kind.crop_frames(config)  # ATST's objectives set their own
    # Bands of the objective's own input (BEATs' fbank 128, the tempo TCN's 81).
    crops = load_benchmark("pretrain_speed").RandomCrops(24, n_mels=kind.cache_frontend(config).n_mels, frames=frames)
    torch.manual_seed(0)
    data = ObjectiveData(crops, norm_mean=-2.0, norm_std=5.0)
    state = TrainState.create(config, data)
    state.objective.prepare(data)
    state.objective.train()
    return state, crops


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_parameter_of_the_objective_gets_a_gradient(objective):
    state, crops = tiny_state(tiny_config(objective))
    state.objective.begin_step(state)
    raw, ids = state.objective.next_batch(crops, 4)
    inputs = state.objective.inputs(Batch(raw, (raw + 2) / 5, ids), state.augment)
    loss, terms = state.objective(inputs)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(terms) <= {"ssl_loss", "feature_loss", *objective_class(objective).log_terms}
    loss.backward()
    missing = [n for n, p in state.objective.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{objective}: no gradient reaches {missing}"


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_train_state_round_trip_continues_exactly(objective):
    config = tiny_config(objective)
    state, crops = tiny_state(config)
    for _ in range(2):
        train_step(state)
    saved = copy.deepcopy(state.state_dict())  # its tensors are the live weights until written out
    expected = [train_step(state)[0].item() for _ in range(2)]

    restored, _ = tiny_state(config)
    restored.load_state_dict(saved)
    got = [train_step(restored)[0].item() for _ in range(2)]
    assert got == expected
    assert restored.step == 4
    for key, value in state.objective.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, restored.objective.state_dict()[key]), key


def test_checkpoint_from_other_settings_is_refused():
    state, _ = tiny_state(tiny_config("vicreg"))
    saved = state.state_dict()
    other, _ = tiny_state(tiny_config("vicreg", lr=1e-2))
    with pytest.raises(ValueError, match=r"different settings \(lr\)"):
        other.load_state_dict(saved)


def test_every_config_field_has_a_generated_flag_with_help():
    parser = cli.build_parser(["pretrain"])
    text = parser._subparsers._group_actions[0].choices["pretrain"].format_help()
    for name, _, _, metadata in config_flags(PretrainConfig):
        assert "--" + name.replace("_", "-") in text, name
        assert metadata["help"], f"{name} has no help text"
    hidden = {f.name for f in fields(PretrainConfig)} - {name for name, *_ in config_flags(PretrainConfig)}
    assert hidden == {"encoder", "frontend", "progress", "options"}
    for objective in OBJECTIVES:
        for name, *_ in config_flags(objective_class(objective).Options):
            assert f"--{objective}-{name}".replace("_", "-") in text


def test_flags_of_tuple_and_optional_fields_parse_to_the_config(tmp_path):
    from hear_ssl.commands.pretrain import build_config

    argv = ["pretrain", "--objective", "vicreg", "--expander-dims", "8", "8", "--max-segments-per-file", "3",
            "--vicreg-weights", "1", "2", "3", "--out-dir", str(tmp_path)]  # fmt: skip
    config = build_config(cli.build_parser(argv).parse_args(argv))
    assert config.expander_dims == (8, 8) and config.vicreg_weights == (1.0, 2.0, 3.0)
    assert config.max_segments_per_file == 3 and config.objective == "vicreg"


def test_unknown_objective_options_are_named():
    with pytest.raises(ValueError, match="options of objective 'byol'"):
        PretrainConfig(objective="byol", options={"student_temp": 0.1})


def test_dino_schedules_and_frozen_last_layer():
    options = {**TINY_OPTIONS["dino"], "teacher_temp_warmup": 0.5, "freeze_last_layer": 0.5}
    state, crops = tiny_state(tiny_config("dino", options=options, max_steps=4))
    dino = state.objective
    assert [dino.teacher_temp(s) for s in range(4)] == pytest.approx([0.04, 0.055, 0.07, 0.07])
    last = dino.network.projector.last_layer.weight_v
    before = last.detach().clone()
    for _ in range(2):  # steps 0 and 1: last layer frozen
        train_step(state)
    assert torch.equal(last, before)
    train_step(state)
    assert not torch.equal(last, before)
    assert torch.allclose(dino.network.projector.last_layer(torch.eye(8)).norm(dim=0), torch.ones(32), atol=1e-5)
    assert dino.center.abs().sum() > 0  # the centre follows the teacher's logits


def test_decar_reclusters_resets_its_classifier_and_samples_uniformly_over_clusters():
    state, crops = tiny_state(tiny_config("decar"))
    decar = state.objective
    decar.begin_step(state)
    assert decar.cluster_epoch == 1 and len(decar.labels) == 24 and len(np.unique(decar.labels)) == 4
    train_step(state)  # step 0 (clustered before it); the next clustering is due at step 2
    classifier = decar.network.projector
    assert state.optimizer.state[classifier.weight]
    train_step(state)
    decar.begin_step(state)
    assert decar.cluster_epoch == 2 and not state.optimizer.state.get(classifier.weight)
    assert classifier.bias.abs().sum() == 0 and classifier.weight.std() < 0.02
    _, ids = decar.next_batch(crops, 24)
    rows = np.searchsorted(decar.sample_ids, ids.numpy())
    counts = np.bincount(decar.labels[rows], minlength=4)
    # One pass: 7 draws per cluster (24 // 4 + 1), shuffled, cut to 24, so each cluster appears 3 to 7 times.
    assert counts.min() >= 3 and counts.max() <= 7 and counts.sum() == 24


def test_hybrid_adds_features_to_the_two_view_objectives_configured_here():
    from hear_ssl.pretrain.config import hybrid_bases

    assert hybrid_bases() == ("byol", "barlow_twins", "vicreg")
    with pytest.raises(ValueError, match="hybrid_base must be one of"):
        PretrainConfig(objective="hybrid", hybrid_base="vibcreg")
