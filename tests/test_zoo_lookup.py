"""Model look-ups and table filters the pages use, without Streamlit (explorer.zoo.lookup, explorer.zoo.filters)."""

from __future__ import annotations

import pandas as pd
import pytest

from explorer.models.catalog import UnknownModelError
from explorer.zoo.filters import NO_SCHEDULE, filter_options, filter_rows
from explorer.zoo.lookup import link_id, model_label, model_labels, model_rows, resolve_model
from explorer.zoo.table import load_zoo

PLAIN = "detectron:37129812"
TTA = "detectron:37129812:tta"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_zoo()


def test_a_model_id_resolves_to_its_plain_row_and_a_uid_to_itself(table) -> None:
    assert resolve_model(table, "37129812") == PLAIN
    assert resolve_model(table, f"  {TTA} ") == TTA
    with pytest.raises(UnknownModelError):
        resolve_model(table, "no-such-model")


def test_the_link_says_the_model_id_only_where_it_finds_the_same_row(table) -> None:
    assert link_id(table, PLAIN) == "37129812"
    assert link_id(table, TTA) == TTA
    assert resolve_model(table, link_id(table, TTA)) == TTA


def test_model_rows_puts_the_asked_row_first_and_keeps_its_twin(table) -> None:
    assert list(model_rows(table, TTA).index) == [TTA, PLAIN]
    assert list(model_rows(table, PLAIN).index) == [PLAIN, TTA]


def test_model_label_names_zoo_and_id(table) -> None:
    assert model_label(table, PLAIN) == f"{table.at[PLAIN, 'name']} — detectron 37129812"


def test_model_labels_gives_every_rows_label_at_once(table) -> None:
    labels = model_labels(table)
    assert list(labels) == [str(uid) for uid in table.index]
    assert all(labels[uid] == model_label(table, uid) for uid in table.index)


def test_rows_without_a_schedule_are_offered_and_filtered_as_none(table) -> None:
    assert NO_SCHEDULE in filter_options(table, "lr_schedule")
    kept = filter_rows(table, {"lr_schedule": [NO_SCHEDULE]})
    assert not kept.empty and (kept["lr_schedule"] == "").all()
    assert set(kept["zoo"]) == {"torchvision"}


def test_every_filter_must_hold_and_an_empty_one_keeps_all(table) -> None:
    assert len(filter_rows(table, {"zoo": [], "task": []})) == len(table)
    kept = filter_rows(table, {"zoo": ["detectron"], "task": ["keypoints"]})
    assert not kept.empty and set(kept["zoo"]) == {"detectron"} and set(kept["task"]) == {"keypoints"}
