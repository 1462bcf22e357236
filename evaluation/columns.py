"""From task folders to leaderboard columns: the Beehive rule, and our rank among the published rows.

The leaderboard has 19 columns for 20 task folders: Beehive States is published as one column while
hear-preprocess writes two folders (`beehive_states_fold0-v2-full`: train on hive 1, test on hive 3;
`fold1` the other way round). No source read for this project states how the organisers combined
the two folds into the published number, so the report does what the issue asks in that case: it
shows both folds and, labelled, their plain mean, which is what the Beehive column is compared with
and what the normalised mean counts once.
"""

from .official_tasks import folders_of_column

BEEHIVE_RULE = (
    "Beehive: the leaderboard has one Beehive column for the two fold folders; no published source states "
    "how the organisers combined them, so both folds are shown and the column holds their mean (labelled)."
)


def combined_label(column, folders):
    """Row label of a combined column, e.g. `Beehive (mean of fold0, fold1)`."""
    folds = ", ".join(f.split("_")[-1].split("-")[0] for f in folders)
    return f"{column} (mean of {folds})"


def column_value(values_by_folder, column):
    """A column's value from its folders' values: the one value, or the mean of all folds (else None).

    Parameters
    ----------
    values_by_folder : dict of str to float or None
    column : str

    Returns
    -------
    float or None
    """
    folders = folders_of_column(column)
    values = [values_by_folder.get(f) for f in folders]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def rank_among(value, published, higher_is_better=True):
    """Where `value` would rank among published scores: `(rank, n_published)`, rank 1 = best.

    Ties rank with the published row (a tie does not push us below it).
    """
    if value is None or not published:
        return None
    better = sum(1 for v in published if (v > value if higher_is_better else v < value))
    return better + 1, len(published)
