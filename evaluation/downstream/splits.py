"""heareval 2021.1.3's train/valid/test splits of a task.

`trainvaltest` tasks have one split. k-fold tasks (`new_split_kfold`, `presplit_kfold`) have k: with
the folds sorted, split i tests on fold i, validates on fold i+1 (mod k) and trains on the rest, in
sorted order. heareval runs its grid search on the first split only and retrains the best setting on
every other split.
"""

KFOLD_MODES = ("new_split_kfold", "presplit_kfold")


def data_splits(metadata):
    """The splits heareval trains and tests on, in its order.

    Parameters
    ----------
    metadata : dict
        The task's `task_metadata.json`.

    Returns
    -------
    list of dict
        Each `{"train": [...], "valid": [...], "test": [...]}`, lists of split (fold) names.
    """
    mode = metadata["split_mode"]
    if mode == "trainvaltest":
        return [{"train": ["train"], "valid": ["valid"], "test": ["test"]}]
    if mode in KFOLD_MODES:
        folds = sorted(metadata["splits"])
        if len(set(folds)) != len(folds) or len(folds) < 3:
            raise ValueError(f"k-fold task needs at least 3 distinct folds, got {metadata['splits']}")
        k = len(folds)
        return [
            {
                "train": [f for f in folds if f not in (folds[i], folds[(i + 1) % k])],
                "valid": [folds[(i + 1) % k]],
                "test": [folds[i]],
            }
            for i in range(k)
        ]
    raise ValueError(f"unknown split_mode {mode!r} in task_metadata.json; heareval knows trainvaltest, {KFOLD_MODES}")


def fold_key(split):
    """heareval's key for a split's results: its test fold names joined by `|`."""
    return "|".join(split["test"])
