"""`hear-ssl tasks build` and on-the-fly resampling: built tasks are valid HEAR tasks heareval can read."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from hear_ssl.evaluation.build import BuildError, build_task, clips_from_csv, clips_from_folders
from hear_ssl.evaluation.resample import audio_dir_for
from hear_ssl.evaluation.tasks import validate_task


def tone(path, freq, seconds, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)


def test_build_from_class_folders_kfold(tmp_path):
    for label, freq in (("low", 220), ("mid", 440), ("high", 880)):
        for i in range(6):
            tone(tmp_path / "src" / label / f"take {i}.wav", freq * (1 + i / 50), 0.8 + 0.1 * (i % 3))
    from hear_ssl.cli import main

    out = tmp_path / "tasks"
    assert (
        main(
            [
                "tasks",
                "build",
                "--from-folders",
                str(tmp_path / "src"),
                "--name",
                "tones",
                "--out",
                str(out),
                "--folds",
                "3",
                "--sample-rates",
                "16000",
                "48000",
            ]
        )
        == 0
    )
    task = out / "tones-v1.0.0-full"
    report = validate_task(task, sample_rate=48000)
    assert report.ok, report.problems
    meta = json.loads((task / "task_metadata.json").read_text())
    assert meta["split_mode"] == "new_split_kfold" and meta["splits"] == ["fold00", "fold01", "fold02"]
    assert meta["sample_duration"] == 1.0 and meta["evaluation"] == ["top1_acc"]
    for fold in meta["splits"]:  # stratified: every fold has every class, two clips each
        labels = [v[0] for v in json.loads((task / f"{fold}.json").read_text()).values()]
        assert sorted(labels) == ["high", "high", "low", "low", "mid", "mid"]
    info = sf.info(str(next((task / "48000" / "fold00").iterdir())))
    assert (info.samplerate, info.frames, info.subtype) == (48000, 48000, "PCM_16")
    assert main(["tasks", "build", "--from-folders", str(tmp_path / "src"), "--name", "tones", "--out", str(out)]) == 2


def test_build_event_task_from_csv(tmp_path):
    rows = [["file", "label", "start", "end", "split"]]
    for split, n in (("train", 3), ("valid", 1), ("test", 1)):
        for i in range(n):
            name = f"{split}{i}.flac"
            tone(tmp_path / "audio" / name, 330, 3.0, sr=16000)
            rows += [[f"audio/{name}", "beep", 0.5, 1.0, split], [f"audio/{name}", "buzz", 1.2, 2.0, split]]
    with open(tmp_path / "events.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    clips, column = clips_from_csv(tmp_path / "events.csv")
    assert column == "split"
    task = build_task(clips, tmp_path / "tasks", "beeps", progress=False)
    meta = json.loads((task / "task_metadata.json").read_text())
    assert meta["embedding_type"] == "event" and meta["prediction_type"] == "multilabel"
    assert meta["evaluation"] == ["event_onset_200ms_fms", "segment_1s_er"] and meta["split_mode"] == "trainvaltest"
    train = json.loads((task / "train.json").read_text())
    assert train["train0.wav"] == [
        {"label": "beep", "start": 500.0, "end": 1000.0},
        {"label": "buzz", "start": 1200.0, "end": 2000.0},
    ]
    assert validate_task(task, sample_rate=16000).ok


def test_bad_inputs_name_the_problem(tmp_path):
    with open(tmp_path / "a.csv", "w") as f:
        f.write("file,label\nmissing.wav,dog\n")
    with pytest.raises(BuildError, match=r"a.csv:2: audio file .*missing.wav not found"):
        clips_from_csv(tmp_path / "a.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildError, match="no audio files"):
        clips_from_folders(tmp_path / "empty")


def test_resampled_cache_is_reused_and_resumes(tmp_path):
    for label, freq in (("a", 300), ("b", 600), ("c", 900)):
        for i in range(5):
            tone(tmp_path / "src" / label / f"{i}.wav", freq, 1.0, sr=48000)
    task = build_task(
        clips_from_folders(tmp_path / "src"), tmp_path / "tasks", "hi", sample_rates=(48000,), progress=False
    )
    cache = tmp_path / "cache"
    audio = audio_dir_for(task, 16000, cache, progress=False)
    assert audio == cache / task.name / "16000"
    meta = json.loads((task / "task_metadata.json").read_text())
    files = {split: json.loads((task / f"{split}.json").read_text()) for split in meta["splits"]}
    for split, data in files.items():
        for name in data:
            resampled, sr = sf.read(str(audio / split / name))
            original, _ = sf.read(str(task / "48000" / split / name))
            assert sr == 16000 and len(resampled) == 16000
            # Same tone: the dominant frequency survives resampling.
            spectrum = np.abs(np.fft.rfft(resampled))
            assert abs(np.argmax(spectrum) - np.argmax(np.abs(np.fft.rfft(original)))) <= 1
    # Interrupted conversion: one split lost its sentinel and a file; only that is redone.
    (audio / ".done-train").unlink()
    victim = audio / "train" / next(iter(files["train"]))
    victim.unlink()
    kept = audio / "valid" / next(iter(files["valid"]))
    stamp = kept.stat().st_mtime_ns
    assert audio_dir_for(task, 16000, cache, progress=False) == audio
    assert victim.exists() and kept.stat().st_mtime_ns == stamp
    assert audio_dir_for(task, 48000, cache, progress=False) == task / "48000"  # native rate: no copy
