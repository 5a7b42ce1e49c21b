"""The same number in every output (issue 21, §2): every value the Zoo tables page shows is in
`explorer zoo --format csv|json|markdown` too, equal to what the page holds, and a figure this project computed
(the Detectron rows' GFLOPs and parameters) says so in its source column."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import pandas as pd
import pytest

from explorer.cli.main import main
from explorer.pages.zoo_tables import NUMBERS, SHOWN_COLUMNS
from explorer.views import loaders
from explorer.zoo.derived import DERIVED_COLUMNS
from explorer.zoo.table import COMPUTED, PUBLISHED, SOURCE_COLUMNS

KEY = ("zoo", "model_id", "tta")
BOOLEANS = ("tta", "runnable")


def parse(fmt: str, out: str) -> list[dict[str, str]]:
    """The export's rows as text, '' for a missing value, whatever the format."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(out)))
    if fmt == "json":
        return [{k: "" if v is None else str(v) for k, v in row.items()} for row in json.loads(out)]
    lines = out.splitlines()
    cells = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


@pytest.fixture(scope="module")
def app_table() -> pd.DataFrame:
    """What the Zoo tables page shows: the app's cached zoo table, in the page's columns."""
    return loaders.zoo_table().loc[:, list(SHOWN_COLUMNS)]


def _export(fmt: str, capsys: pytest.CaptureFixture[str]) -> dict[tuple[str, str, str], dict[str, str]]:
    assert main(["zoo", "--format", fmt]) == 0
    return {tuple(row[k] for k in KEY): row for row in parse(fmt, capsys.readouterr().out)}


def _same(column: str, shown: object, exported: str) -> bool:
    if column in BOOLEANS:
        return exported == ("true" if shown else "false")
    if column not in NUMBERS:
        return exported == str(shown)
    if pd.isna(shown):
        return exported == ""
    if column in DERIVED_COLUMNS:  # rounded to 4 significant digits: within half a unit of the last one
        return math.isclose(float(exported), float(shown), rel_tol=5e-4)
    return float(exported) == float(shown)  # as the source printed it, or as computed here: the same float


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_every_value_the_page_shows_is_in_the_export(fmt: str, app_table: pd.DataFrame,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    exported = _export(fmt, capsys)
    assert len(exported) == len(app_table)
    different = []
    for _, shown in app_table.iterrows():
        row = exported[(shown["zoo"], shown["model_id"], "true" if shown["tta"] else "false")]
        different += [f"{shown['zoo']} {shown['model_id']} {column}: page {shown[column]!r}, export {row[column]!r}"
                      for column in SHOWN_COLUMNS if not _same(column, shown[column], row[column])]
    assert different == []


def test_computed_figures_are_exported_and_say_where_they_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(_export("csv", capsys).values())
    detectron = [row for row in rows if row["zoo"] == "detectron"]
    torchvision = [row for row in rows if row["zoo"] == "torchvision"]
    assert detectron and all(row["gflops"] and row["params_m"] for row in detectron)
    for column, source in SOURCE_COLUMNS.items():
        assert {row[source] for row in detectron} == {COMPUTED}
        assert {row[source] for row in torchvision} == {PUBLISHED}
        assert all(row[source] == "" for row in rows if not row[column])
    assert all("computed here" in row["notes"] for row in detectron)
