"""Scores through heareval's own score functions (`heareval.score`, which wraps sed_eval and sklearn).

Nothing here re-derives a metric: it builds heareval's `ScoreFunction` objects from the task metadata
and reproduces how heareval 2021.1.3 *uses* them:

- the first metric in `evaluation` is the primary score; a metric returning sub-scores (sed_eval) is
  represented by its first sub-score;
- the monitored validation value is the primary score (or the validation loss when the task sets
  `use_scoring_for_early_stopping: false`), compared as the float32 Lightning logs it;
- event tasks: every post-processing setting is scored on the validation set, NaN counting as 0, the
  best (score, setting) pair in descending tuple order wins, and the monitored value is that setting's
  raw primary score (NaN if no event was predicted at all);
- test results are named like heareval's Lightning logs: `test_score`, `test_<metric>` and
  `test_<metric>_<sub-score>`.

Sound-event metrics go through sed_eval exactly as heareval's `SoundEventScore` drives it (same metric
class, parameters, label list, one `evaluate` call per predicted file, overall results), but with
each file's events put in their own container instead of filtering one container of all files per
file, which made heareval's glue quadratic in the number of events and dominated validation time.
"""

import math
from collections import ChainMap

import numpy as np


def as_logged(value):
    """A score as Lightning logs it in heareval: rounded to float32, returned as a Python float."""
    return float(np.float32(value))


class Scorer:
    """heareval's score functions for one task.

    Parameters
    ----------
    metadata : dict
        `task_metadata.json`.
    labels : list of str
        The label vocabulary by index.
    """

    def __init__(self, metadata, labels):
        from heareval.score import SoundEventScore, available_scores  # sed_eval/sklearn: only when scoring

        unknown = [name for name in metadata["evaluation"] if name not in available_scores]
        if unknown:
            raise ValueError(
                f"unknown metrics {unknown} in task_metadata.json; heareval has {sorted(available_scores)}"
            )
        label_to_idx = {label: i for i, label in enumerate(labels)}
        self.functions = [available_scores[name](label_to_idx=label_to_idx) for name in metadata["evaluation"]]
        self._sound_event = SoundEventScore
        self._reference_cache = {}
        self.use_scores = metadata.get("use_scoring_for_early_stopping", True)
        # What early stopping and checkpointing monitor, and in which direction.
        self.maximize = self.functions[0].maximize if self.use_scores else False

    @property
    def mode(self):
        return "max" if self.maximize else "min"

    def primary(self, predictions, targets):
        """The primary score of predictions (scene: probabilities; event: events per file)."""
        return _first(self._call(self.functions[0], predictions, targets))

    def _call(self, fn, predictions, targets):
        if isinstance(fn, self._sound_event):
            return self._sound_event_score(fn, predictions, targets)
        return fn(predictions, targets)

    def _sound_event_score(self, fn, predictions, targets):
        """`fn(predictions, targets)` for a heareval `SoundEventScore`, with per-file containers."""
        key = id(targets)
        if key not in self._reference_cache:  # targets are fixed per split: convert them once
            self._reference_cache[key] = (targets, {})
        cached = self._reference_cache[key][1]
        metrics = fn.score_class(event_label_list=list(fn.label_to_idx.keys()), **fn.params)
        for filename, events in predictions.items():
            if filename not in cached:
                cached[filename] = fn.sed_eval_event_container({filename: targets.get(filename, [])})
            metrics.evaluate(
                reference_event_list=cached[filename],
                estimated_event_list=fn.sed_eval_event_container({filename: events}),
            )
        overall = dict(ChainMap(*metrics.results_overall_metrics().values()))
        return tuple((name, overall[name]) for name in fn.scores)

    def named(self, prefix, predictions, targets):
        """All scores, named as heareval logs them: `<prefix>_score`, `<prefix>_<metric>[_<sub>]`."""
        out = {}
        for fn in self.functions:
            ret = self._call(fn, predictions, targets)
            if isinstance(ret, tuple):
                out[f"{prefix}_{fn}"] = ret[0][1]
                for sub, value in ret:
                    out[f"{prefix}_{fn}_{sub}"] = value
            else:
                out[f"{prefix}_{fn}"] = ret
        named = {f"{prefix}_score": out[f"{prefix}_{self.functions[0]}"]}
        named.update(out)
        return {k: as_logged(v) for k, v in named.items()}

    def best_postprocessing(self, events_by_setting, targets):
        """heareval's choice among post-processing settings on the validation set.

        Parameters
        ----------
        events_by_setting : dict
            Post-processing setting (tuple of pairs) -> events per file.
        targets : dict
            The validation target events.

        Returns
        -------
        (float, tuple)
            The raw primary score of the chosen setting (may be NaN) and the setting.
        """
        ranked = []
        for setting, events in events_by_setting.items():
            value = self.primary(events, targets)
            ranked.append((0.0 if math.isnan(value) else value, setting, value))
        ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return ranked[0][2], ranked[0][1]


def _first(ret):
    return ret[0][1] if isinstance(ret, tuple) else ret
