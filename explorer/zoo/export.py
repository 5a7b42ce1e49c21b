"""Write zoo tables as CSV, JSON or Markdown: every figure the app shows, published ones exactly as their pages
print them, the ones this project fills (GFLOPs and parameters it computed) with a column saying so."""

from __future__ import annotations

import json
import math

import pandas as pd

from explorer.zoo.derived import DERIVED_COLUMNS
from explorer.zoo.schema import NUMERIC_COLUMNS, ZOO_COLUMNS
from explorer.zoo.table import SOURCE_COLUMNS

FORMATS: tuple[str, ...] = ("csv", "json", "markdown")

#: Derived columns worth exporting (uid and the metric name are index/bookkeeping).
EXPORTED_DERIVED: tuple[str, ...] = tuple(c for c in DERIVED_COLUMNS if c not in ("uid",))
#: Columns a caller may add to the table (the app's and the command line's "runs here"), exported when present.
OPTIONAL_COLUMNS: tuple[str, ...] = ("runnable",)


def _derived_text(value: object) -> str:
    """A derived figure to 4 significant digits, and from 1000 up to one decimal (as the app shows AP per second)."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return "" if value is None else str(value)


def _filled_text(value: object) -> str:
    """A figure this project filled in, written so it reads back as the same float (shortest round trip)."""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return "" if value is None else str(value)


def _source_columns(table: pd.DataFrame, text: pd.DataFrame) -> pd.DataFrame:
    """ZOO_COLUMNS as the source printed them, and where the source left a value out that `table` holds (a figure
    computed here, a note added here), the table's value."""
    source = text.loc[table.index, list(ZOO_COLUMNS)].copy()
    for column in NUMERIC_COLUMNS:
        filled = (source[column] == "") & table[column].notna()
        source.loc[filled, column] = table.loc[filled, column].map(_filled_text)
    for column in (c for c in ZOO_COLUMNS if c not in NUMERIC_COLUMNS and c != "tta"):
        source[column] = table[column].fillna("").astype(str)
    return source


def export_frame(table: pd.DataFrame, text: pd.DataFrame) -> pd.DataFrame:
    """The rows of `table` (a `load_zoo` frame) for export: source columns as their pages print them (`text`, a
    `load_zoo_text` frame) or as this project filled them, where each filled figure comes from (SOURCE_COLUMNS),
    and derived columns rounded to 4 significant digits."""
    parts = [_source_columns(table, text)]
    parts += [table[[source for source in SOURCE_COLUMNS.values() if source in table]].fillna("")]
    parts += [table[[column]].map(lambda v: "true" if v else "false") for column in OPTIONAL_COLUMNS if column in table]
    parts += [table[list(EXPORTED_DERIVED)].map(_derived_text)]
    return pd.concat(parts, axis=1).reset_index(drop=True)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The frame in one of FORMATS; empty strings stay empty (JSON: null)."""
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        records = [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.to_dict("records")]
        return json.dumps(records, indent=1, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown_table(frame)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
