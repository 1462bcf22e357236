"""`hear-ssl tasks synth`: the official task shapes, valid HEAR folders, 48 kHz only, learnable labels."""

import json

import numpy as np
import pytest
import soundfile as sf

from hear_ssl.cli import main as cli
from hear_ssl.evaluation.official_tasks import OFFICIAL_BY_FOLDER
from hear_ssl.evaluation.synth import clips_per_split, vocabulary
from hear_ssl.evaluation.tasks import validate_task

pytestmark = pytest.mark.slow  # writes ~1 min of 48 kHz audio per task
FOLDERS = ("fsd50k-v1.0-full", "maestro-v3.0.0-5h", "esc50-v2.0.0-full", "nsynth_pitch-v2.2.3-5h")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    argv = ["tasks", "synth", "--out", str(out), "--scale", "0.05", "--tasks", ",".join(FOLDERS), "--quiet"]
    assert cli(argv + ["--max-duration", "20"]) == 0
    return out


def test_folders_carry_the_official_metadata_and_validate(tasks):
    for folder in FOLDERS:
        official = OFFICIAL_BY_FOLDER[folder]
        metadata = json.loads((tasks / folder / "task_metadata.json").read_text())
        for key in ("task_name", "version", "mode", "embedding_type", "prediction_type", "split_mode", "splits"):
            assert metadata[key] == official.metadata()[key], (folder, key)
        assert metadata["evaluation"] == list(official.evaluation) and metadata["synthetic"]["scale"] == 0.05
        assert [p.name for p in (tasks / folder).iterdir() if p.is_dir()] == ["48000"]
        report = validate_task(tasks / folder)
        assert report.ok, report.problems
    maestro = json.loads((tasks / "maestro-v3.0.0-5h" / "task_metadata.json").read_text())
    assert maestro["use_scoring_for_early_stopping"] is False
    assert maestro["evaluation_params"]["task_specific_param_grid"] == {
        "max_epochs": [50],
        "check_val_every_n_epoch": [1],
    }
    assert maestro["sample_duration"] == 20 and len(maestro["splits"]) == 5


def test_fsd50k_lengths_vary_within_the_official_range_and_scenes_are_multilabel(tasks):
    folder = tasks / "fsd50k-v1.0-full"
    lengths = [sf.info(str(p)).duration for p in folder.glob("48000/*/*.wav")]
    assert min(lengths) >= 0.3 - 1e-3 and max(lengths) <= 30 + 1e-3 and np.std(lengths) > 1
    labels = json.loads((folder / "train.json").read_text())
    assert any(len(v) > 1 for v in labels.values())


def test_events_lie_inside_their_clip_and_pitch_labels_are_midi_numbers(tasks):
    events = json.loads((tasks / "maestro-v3.0.0-5h" / "fold00.json").read_text())
    for clip in events.values():
        assert clip and all(0 <= e["start"] < e["end"] <= 20_000 and 21 <= int(e["label"]) <= 108 for e in clip)
    assert vocabulary(OFFICIAL_BY_FOLDER["nsynth_pitch-v2.2.3-5h"], 1.0) == [str(m) for m in range(21, 109)]


def test_beehive_keeps_its_ten_minute_clips_but_few_of_them():
    beehive = OFFICIAL_BY_FOLDER["beehive_states_fold0-v2-full"]
    labels = vocabulary(beehive, 0.02)
    assert labels == ["NOQUEEN", "QUEEN"] and beehive.sample_duration == 600
    assert clips_per_split(beehive, labels, 0.02) == {"train": 4, "valid": 2, "test": 2}


def test_each_label_has_its_own_spectrum(tasks):
    """Two clips of one label are closer in log-spectrum than clips of different labels (learnable)."""
    folder = tasks / "esc50-v2.0.0-full"
    data = json.loads((folder / "fold00.json").read_text())
    spectra, labels = [], []
    for name, label in data.items():
        audio, rate = sf.read(folder / "48000" / "fold00" / name)
        spectrum = np.log(np.abs(np.fft.rfft(audio))[: rate // 2].reshape(-1, 500).mean(1) + 1e-6)
        spectra.append(spectrum)
        labels.append(label[0])
    spectra, labels = np.array(spectra), np.array(labels)
    distances = np.linalg.norm(spectra[:, None] - spectra[None], axis=-1) + np.eye(len(labels)) * 1e9
    nearest = labels[distances.argmin(1)]
    assert (nearest == labels).mean() > 0.9
