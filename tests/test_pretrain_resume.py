"""Resume rules of the training loop: what may change between runs, and the log after a crash."""

import pytest

from hear_ssl.config import EncoderConfig
from hear_ssl.pretrain.checkpoint import CsvLog, read_log
from hear_ssl.pretrain.config import PretrainConfig
from hear_ssl.pretrain.train import lr_factor, pretrain

from .pretrain_corpus import write_corpus


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    write_corpus(root / "audio")
    return PretrainConfig(
        objective="vicreg", encoder=EncoderConfig(arch="audiontt2020", d=16), expander_dims=(16, 16),
        data=str(root / "audio"), cache_dir=str(root / "cache"), out_dir=str(root / "run"), crop_frames=32,
        batch_size=4, max_steps=2, checkpoint_every=1, log_every=1, mixup_memory=8, progress=False,
    )  # fmt: skip


def test_changed_settings_are_refused_but_more_steps_are_allowed(tiny_config):
    from dataclasses import replace

    pretrain(tiny_config)
    with pytest.raises(ValueError, match=r"different settings \(lr\)"):
        pretrain(replace(tiny_config, lr=1e-2))
    pretrain(replace(tiny_config, max_steps=3))
    assert [row["step"] for row in read_log(tiny_config.out_dir + "/log.csv")] == ["1", "2", "3"]


def test_log_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLog(path, resume_step=None)
    for step in range(1, 6):
        log.write({"step": step, "loss": f"{step / 10}"})
    CsvLog(path, resume_step=3)
    assert [row["step"] for row in read_log(path)] == ["1", "2", "3"]


def test_learning_rate_schedule():
    constant = PretrainConfig(warmup_steps=10, max_steps=100)
    assert lr_factor(0, constant) == pytest.approx(0.1)
    assert lr_factor(9, constant) == pytest.approx(1.0)
    assert lr_factor(80, constant) == 1.0
    cosine = PretrainConfig(warmup_steps=0, max_steps=100, min_lr_ratio=0.1)
    assert lr_factor(0, cosine) == pytest.approx(1.0)
    assert lr_factor(50, cosine) == pytest.approx(0.55)
    assert lr_factor(100, cosine) == pytest.approx(0.1)


def test_config_validation_names_every_problem():
    with pytest.raises(ValueError, match="objective must be one of.*batch_size must be at least 2"):
        PretrainConfig(objective="simclr", batch_size=1)
    with pytest.raises(ValueError, match="n_mels"):
        PretrainConfig(encoder=EncoderConfig(n_mels=128))
    with pytest.raises(ValueError, match=r"crop_freq_scale must be two numbers 0 < low <= high, got \(1.5, 0.6\)"):
        PretrainConfig(crop_freq_scale=(1.5, 0.6))


def test_checkpoints_without_crop_scales_resume_with_byol_a_defaults():
    """Runs saved before the crop scales became settings trained with BYOL-A's (0.6, 1.5) on both axes."""
    saved = PretrainConfig().to_dict()
    del saved["crop_freq_scale"], saved["crop_time_scale"]
    restored = PretrainConfig.from_dict(saved)
    assert restored.crop_freq_scale == restored.crop_time_scale == (0.6, 1.5)
