"""Frame-level label probabilities to sound events, with heareval 2021.1.3's post-processing.

Per file (heareval `create_events_from_prediction`): frames sorted by timestamp; optionally a median
filter over time of width `round(median_filter_ms / mean frame spacing)` frames
(`scipy.ndimage.median_filter`, per label); a frame is active when its probability exceeds 0.5; each
run of consecutive active frames of a label is one event from the first to the last frame's timestamp,
kept if `end - start >= min_duration` (ms); a file's events are sorted by start. Files are keyed by
`Path(filename).name` and appear in the order of their first frame.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

THRESHOLD = 0.5


@dataclass
class FrameLayout:
    """Which rows of a prediction matrix belong to which file, in time order.

    Built once per set of rows, reused for every validation check and post-processing setting.

    Attributes
    ----------
    files : list of str
        File names in order of first appearance.
    rows : list of numpy.ndarray
        Per file, the prediction rows sorted by timestamp (a repeated timestamp keeps its last row).
    timestamps : list of numpy.ndarray
        Per file, the sorted timestamps (ms).
    """

    files: list
    rows: list
    timestamps: list

    @classmethod
    def build(cls, filenames, timestamps):
        """From the per-row file names and timestamps of the rows, in prediction order."""
        per_file = {}
        for i, (name, t) in enumerate(zip(filenames, timestamps)):
            per_file.setdefault(name, {})[float(t)] = i  # later rows overwrite, as heareval's dict does
        files, rows, stamps = [], [], []
        for name, by_time in per_file.items():
            ts = np.array(sorted(by_time))
            files.append(name)
            rows.append(np.array([by_time[t] for t in ts]))
            stamps.append(ts)
        return cls(files, rows, stamps)

    def events(self, probabilities, labels, postprocessing):
        """Events of every file for one post-processing setting.

        Parameters
        ----------
        probabilities : numpy.ndarray
            `(N, C)` frame probabilities, rows as given to `build`.
        labels : list of str
            Label names by index.
        postprocessing : tuple of (str, value)
            heareval's post-processing setting, e.g. `(("median_filter_ms", 250), ("min_duration", 125))`.

        Returns
        -------
        dict of str to list of dict
            File name -> `[{"label", "start", "end"}, ...]` in ms.
        """
        options = dict(postprocessing)
        unknown = set(options) - {"median_filter_ms", "min_duration", "threshold"}
        if unknown:
            raise ValueError(f"unknown event post-processing options {sorted(unknown)}")
        return {
            name: file_events(probabilities[rows], ts, labels, **options)
            for name, rows, ts in zip(self.files, self.rows, self.timestamps)
        }


def file_events(probabilities, timestamps, labels, median_filter_ms=150, min_duration=60.0, threshold=THRESHOLD):
    """One file's events from its time-sorted frame probabilities (heareval's rule, see module doc).

    Parameters
    ----------
    probabilities : numpy.ndarray
        `(T, C)`.
    timestamps : numpy.ndarray
        `(T,)` sorted, in ms.
    labels : list of str
    median_filter_ms, min_duration, threshold : float
        heareval's defaults when a setting leaves one out.

    Returns
    -------
    list of dict
    """
    if median_filter_ms:
        width = int(round(median_filter_ms / np.mean(np.diff(timestamps))))
        if width:
            probabilities = median_filter(probabilities, size=(width, 1))
    active = probabilities > threshold
    events = []
    for label in range(active.shape[1]):
        # Runs of consecutive active frames: starts where a frame turns on, ends where it turns off.
        edges = np.diff(np.concatenate([[0], active[:, label].astype(np.int8), [0]]))
        for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1):
            start, end = timestamps[first], timestamps[last]
            if end - start >= min_duration:
                events.append({"label": labels[label], "start": start, "end": end})
    events.sort(key=lambda e: e["start"])
    return events
