"""The 19 official HEAR 2021 tasks (20 task folders; Beehive has two): one table of facts.

Everything the harness knows about the official benchmark lives here, used by `hear-ssl tasks synth`
(official-shaped stand-ins), the download list (`hear_ssl.evaluation.download`), the leaderboard
column mapping (`hear_ssl.evaluation.leaderboard`) and the report's comparability check
(`hear_ssl.evaluation.comparability`).

Sources, read for facts only:

- task configs: `hearbenchmark/hear-preprocess` (commit 610d864b, 2022-06-07), `generic_task_config` of
  each task module (`task_name`, `version`, mode, `embedding_type`, `prediction_type`, `split_mode`,
  `nfolds`, `sample_duration`, `evaluation`, `evaluation_params`, `use_scoring_for_early_stopping`);
  label sets from the modules' `get_label`/asserts where they state them (Beehive QUEEN/NOQUEEN,
  Gunshot mic1-mic4, Mridangam 10 strokes and 6 tonics, NSynth MIDI 21-108, VoxLingua top 10);
- clip counts (whole task): the task summary table of https://hearbenchmark.com/hear-tasks.html;
- Beehive per-split counts (train 256, valid 32, test 288 in both folds) and the two Beehive archive
  md5s: a public dataset-conversion script that checks them against the extracted archives.

`None` means no source read here states the fact; the comparability check then says it could not
check it instead of guessing.
"""

from dataclasses import dataclass, field

# heareval's defaults, which the published HEAR 2021 leaderboard was computed with
# (`heareval.predictions.runner`: `--grid default`, `--grid-points 8`).
PUBLISHED_PROTOCOL = {"grid": "default", "grid_points": 8, "backend": "heareval"}
ZENODO_RECORD = "6332517"  # "HEAR 2021.3" task archives, 48 kHz (hearbenchmark.com links it)
ARCHIVE_SAMPLE_RATE = 48000


@dataclass(frozen=True)
class OfficialTask:
    """One official task folder and what hear-preprocess wrote into it.

    Attributes
    ----------
    folder : str
        The task folder name (`<task_name>-<version>-<mode>`), as in the Zenodo archive.
    column : str
        The leaderboard column its primary score is published in.
    task_name, version, mode : str
    embedding_type : {"scene", "event"}
    prediction_type : {"multiclass", "multilabel"}
    split_mode : {"trainvaltest", "new_split_kfold", "presplit_kfold"}
    n_folds : int or None
        For k-fold split modes.
    sample_duration : float or None
        Seconds every clip is padded or trimmed to; None: clips keep their own length.
    duration_range : tuple of float or None
        (min, max) seconds when `sample_duration` is None.
    evaluation : tuple of str
        heareval metrics, primary first.
    n_labels : int or None
        Size of `labelvocabulary.csv`.
    n_clips : int or None
        Clips over all splits.
    split_clips : dict or None
        Clips per split, where a source states them.
    evaluation_params : dict
        Written into `task_metadata.json` (task-specific grid, event post-processing grid).
    use_scoring_for_early_stopping : bool or None
        Written into `task_metadata.json` when not None.
    pitch_labels : tuple of int or None
        (first, last) MIDI pitch for tasks whose labels are MIDI numbers (pitch/chroma metrics).
    md5, size : str or None, int or None
        Of the 48 kHz archive, as published (None: not found published; see `download.py`).
    """

    folder: str
    column: str
    task_name: str
    version: str
    mode: str
    embedding_type: str
    prediction_type: str
    split_mode: str
    n_folds: int = None
    sample_duration: float = None
    duration_range: tuple = None
    evaluation: tuple = ("top1_acc", "mAP", "d_prime", "aucroc")
    n_labels: int = None
    n_clips: int = None
    split_clips: dict = None
    evaluation_params: dict = field(default_factory=dict)
    use_scoring_for_early_stopping: bool = None
    pitch_labels: tuple = None
    md5: str = None
    size: int = None

    @property
    def splits(self):
        """Split names in heareval's order: train/valid/test, or fold00, fold01, ..."""
        if self.split_mode == "trainvaltest":
            return ["train", "valid", "test"]
        return [f"fold{i:02d}" for i in range(self.n_folds)]

    @property
    def archive(self):
        """The archive's file name in the Zenodo record."""
        return f"hear2021-{self.folder}-{ARCHIVE_SAMPLE_RATE}.tar.gz"

    def metadata(self):
        """The `task_metadata.json` keys heareval reads, with this task's values."""
        out = {
            "task_name": self.task_name,
            "version": self.version,
            "mode": self.mode,
            "embedding_type": self.embedding_type,
            "prediction_type": self.prediction_type,
            "split_mode": self.split_mode,
            "sample_duration": self.sample_duration,
            "evaluation": list(self.evaluation),
            "splits": self.splits,
        }
        if self.n_folds:
            out["nfolds"] = self.n_folds
        if self.evaluation_params:
            out["evaluation_params"] = self.evaluation_params
        if self.use_scoring_for_early_stopping is not None:
            out["use_scoring_for_early_stopping"] = self.use_scoring_for_early_stopping
        if self.pitch_labels:
            out["pitch_range_min"], out["pitch_range_max"] = self.pitch_labels
        return out


_KFOLD = "new_split_kfold"
_BEEHIVE = dict(
    column="Beehive",
    version="v2",
    mode="full",
    embedding_type="scene",
    prediction_type="multiclass",
    split_mode="trainvaltest",
    sample_duration=600.0,
    evaluation=("aucroc", "mAP", "d_prime", "top1_acc"),
    n_labels=2,
    n_clips=576,
    split_clips={"train": 256, "valid": 32, "test": 288},
)
_MRIDANGAM = dict(
    version="v1.5", mode="full", embedding_type="scene", prediction_type="multiclass", split_mode=_KFOLD, n_folds=5
)
_NSYNTH = dict(
    column=None,
    task_name="nsynth_pitch",
    version="v2.2.3",
    embedding_type="scene",
    prediction_type="multiclass",
    split_mode="trainvaltest",
    sample_duration=4.0,
    evaluation=("pitch_acc", "chroma_acc"),
    n_labels=88,
    pitch_labels=(21, 108),
)
_SPEECH = dict(
    task_name="speech_commands",
    version="v0.0.2",
    embedding_type="scene",
    prediction_type="multiclass",
    split_mode="trainvaltest",
    sample_duration=1.0,
    evaluation=("top1_acc",),
    n_labels=12,
)

OFFICIAL = [
    OfficialTask(
        "beehive_states_fold0-v2-full",
        task_name="beehive_states_fold0",
        md5="f9e045f9b2ddf5643edc1143304c80aa",
        **_BEEHIVE,
    ),
    OfficialTask(
        "beehive_states_fold1-v2-full",
        task_name="beehive_states_fold1",
        md5="8bced7ce8336bf23fd61c61f04aee109",
        **_BEEHIVE,
    ),
    OfficialTask(
        "beijing_opera-v1.0-hear2021-full",
        "Beijing Opera",
        "beijing_opera",
        "v1.0-hear2021",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=5,
        sample_duration=4.77,
        n_labels=4,
        n_clips=236,
    ),
    OfficialTask(
        "tfds_crema_d-1.0.0-full",
        "CREMA-D",
        "tfds_crema_d",
        "1.0.0",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=5,
        sample_duration=5.0,
        n_labels=6,
        n_clips=7438,
    ),
    OfficialTask(
        "dcase2016_task2-hear2021-full",
        "DCASE 2016",
        "dcase2016_task2",
        "hear2021",
        "full",
        "event",
        "multilabel",
        "trainvaltest",
        sample_duration=120.0,
        evaluation=("event_onset_200ms_fms", "segment_1s_er"),
        n_labels=11,
        n_clips=72,
    ),
    OfficialTask(
        "esc50-v2.0.0-full",
        "ESC-50",
        "esc50",
        "v2.0.0",
        "full",
        "scene",
        "multiclass",
        "presplit_kfold",
        n_folds=5,
        sample_duration=5.0,
        n_labels=50,
        n_clips=2000,
    ),
    OfficialTask(
        "fsd50k-v1.0-full",
        "FSD50K",
        "fsd50k",
        "v1.0",
        "full",
        "scene",
        "multilabel",
        "trainvaltest",
        sample_duration=None,
        duration_range=(0.3, 30.0),
        evaluation=("mAP", "d_prime", "aucroc", "top1_acc"),
        n_labels=200,
        n_clips=51185,
    ),
    OfficialTask(
        "tfds_gtzan-1.0.0-full",
        "GTZAN Genre",
        "tfds_gtzan",
        "1.0.0",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=10,
        sample_duration=30.0,
        n_labels=10,
        n_clips=1000,
    ),
    OfficialTask(
        "tfds_gtzan_music_speech-1.0.0-full",
        "GTZAN Music/Speech",
        "tfds_gtzan_music_speech",
        "1.0.0",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=10,
        sample_duration=30.0,
        n_labels=2,
        n_clips=128,
    ),
    OfficialTask(
        "gunshot_triangulation-v1.0-full",
        "Gunshot",
        "gunshot_triangulation",
        "v1.0",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=7,
        sample_duration=1.5,
        n_labels=4,
        n_clips=88,
    ),
    OfficialTask(
        "libricount-v1.0.0-hear2021-full",
        "Libricount",
        "libricount",
        "v1.0.0-hear2021",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=5,
        sample_duration=5.0,
        n_labels=11,
        n_clips=5720,
    ),
    OfficialTask(
        "maestro-v3.0.0-5h",
        "Maestro 5h",
        "maestro",
        "v3.0.0",
        "5h",
        "event",
        "multilabel",
        _KFOLD,
        n_folds=5,
        sample_duration=120.0,
        evaluation=("event_onset_50ms_fms", "event_onset_offset_50ms_20perc_fms"),
        n_labels=None,  # MIDI pitches that occur in the 5 h subset: not stated by a source read here
        n_clips=185,
        evaluation_params={
            "event_postprocessing_grid": {"median_filter_ms": [150], "min_duration": [50]},
            "task_specific_param_grid": {"max_epochs": [50], "check_val_every_n_epoch": [1]},
        },
        use_scoring_for_early_stopping=False,
        pitch_labels=(21, 108),
    ),
    OfficialTask(
        "mridangam_stroke-v1.5-full",
        "Mridangam Stroke",
        "mridangam_stroke",
        sample_duration=0.81,
        n_labels=10,
        n_clips=6977,
        **_MRIDANGAM,
    ),
    OfficialTask(
        "mridangam_tonic-v1.5-full",
        "Mridangam Tonic",
        "mridangam_tonic",
        sample_duration=0.81,
        n_labels=6,
        n_clips=6977,
        **_MRIDANGAM,
    ),
    OfficialTask("nsynth_pitch-v2.2.3-50h", **{**_NSYNTH, "column": "NSynth Pitch 50h"}, mode="50h", n_clips=49060),
    OfficialTask("nsynth_pitch-v2.2.3-5h", **{**_NSYNTH, "column": "NSynth Pitch 5h"}, mode="5h", n_clips=5000),
    OfficialTask("speech_commands-v0.0.2-5h", "Speech commands 5h", mode="5h", n_clips=22890, **_SPEECH),
    OfficialTask("speech_commands-v0.0.2-full", "Speech commands full", mode="full", n_clips=100503, **_SPEECH),
    OfficialTask(
        "vocal_imitation-v1.1.3-full",
        "Vocal Imitation",
        "vocal_imitation",
        "v1.1.3",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=3,
        sample_duration=11.26,
        evaluation=("mAP", "d_prime", "aucroc", "top1_acc"),
        n_labels=None,  # one label per reference recording; the count is not stated by a source read here
        n_clips=5601,
    ),
    OfficialTask(
        "vox_lingua_top10-hear2021-full",
        "VoxLingua107 top 10",
        "vox_lingua_top10",
        "hear2021",
        "full",
        "scene",
        "multiclass",
        _KFOLD,
        n_folds=5,
        sample_duration=18.64,
        n_labels=10,
        n_clips=972,
    ),
]
OFFICIAL_BY_FOLDER = {task.folder: task for task in OFFICIAL}
# Leaderboard columns in the order the published CSV lists them.
COLUMNS = sorted({task.column for task in OFFICIAL}, key=str.lower)


def official_task(folder):
    """The official task a folder name refers to, or None.

    A resampled or renamed copy counts if its name starts with the official folder name followed by
    `-` (e.g. `esc50-v2.0.0-full-16000`).
    """
    if folder in OFFICIAL_BY_FOLDER:
        return OFFICIAL_BY_FOLDER[folder]
    for name, task in OFFICIAL_BY_FOLDER.items():
        if folder.startswith(name + "-"):
            return task
    return None


def folders_of_column(column):
    """The task folders whose scores make up one leaderboard column (two for Beehive)."""
    return [task.folder for task in OFFICIAL if task.column == column]
