"""Finding a model's rows in a zoo table from what a user or a link gives: a uid, a model id, a label.

A model published with and without test-time augmentation has two rows and one model id; a `?model=` link says
the plain id where that alone finds the row, the uid otherwise. Pure pandas, so the pages' selection logic has
plain tests (tests/test_zoo_lookup.py).
"""

from __future__ import annotations

import pandas as pd

from explorer.errors import UnknownModelError
from explorer.zoo.table import find_model


def model_rows(table: pd.DataFrame, uid: str) -> pd.DataFrame:
    """Every row of the model behind `uid` (two for a model published with and without TTA), `uid` first."""
    row = table.loc[uid]
    rows = find_model(table[table["zoo"] == row["zoo"]], row["model_id"])
    return rows.loc[[uid, *[other for other in rows.index if other != uid]]]


def resolve_model(table: pd.DataFrame, text: str) -> str:
    """The uid for a `?model=` value: a uid, or a model id (its row without TTA when there are two).

    Raises UnknownModelError for anything no loaded zoo has, so the page can say so plainly.
    """
    text = text.strip()
    if text in table.index:
        return text
    rows = find_model(table, text)
    plain = rows[~rows["tta"].astype(bool)]
    return str((plain if not plain.empty else rows).index[0])


def link_id(table: pd.DataFrame, uid: str) -> str:
    """What `?model=` should say for a uid: the plain model id when that alone finds this very row."""
    model_id = str(table.at[uid, "model_id"])
    try:
        return model_id if resolve_model(table, model_id) == uid else uid
    except UnknownModelError:
        return uid


def model_label(table: pd.DataFrame, uid: str) -> str:
    """'Mask R-50-FPN 1x — detectron 35858933' (TTA rows are named so already); one format, `model_labels`'."""
    return model_labels(table.loc[[uid]])[uid]


def model_labels(table: pd.DataFrame) -> dict[str, str]:
    """`model_label` of every row, by uid, built in one pass.

    Why: a model selectbox formats each of its ~130 options on every rerun; three scalar look-ups per option
    cost ~20 ms of GIL-held pandas per selectbox, which six sessions pressing Run at once take from the run in
    progress. The whole column at once costs ~1 ms.
    """
    labels = table["name"].astype(str) + " — " + table["zoo"].astype(str) + " " + table["model_id"].astype(str)
    return {str(uid): label for uid, label in labels.items()}
