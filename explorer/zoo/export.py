"""Write zoo tables as CSV, JSON or Markdown, with source numbers exactly as their pages print them."""

from __future__ import annotations

import json
import math

import pandas as pd

from explorer.zoo.derived import DERIVED_COLUMNS
from explorer.zoo.schema import ZOO_COLUMNS

FORMATS: tuple[str, ...] = ("csv", "json", "markdown")

#: Derived columns worth exporting (uid and the metric name are index/bookkeeping).
EXPORTED_DERIVED: tuple[str, ...] = tuple(c for c in DERIVED_COLUMNS if c not in ("uid",))


def _derived_text(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def export_frame(table: pd.DataFrame, text: pd.DataFrame) -> pd.DataFrame:
    """Source columns as text from `text`, derived ones rounded to 4 significant digits, same rows as `table`."""
    source = text.loc[table.index, list(ZOO_COLUMNS)]
    derived = table[list(EXPORTED_DERIVED)].map(_derived_text)
    return pd.concat([source, derived], axis=1).reset_index(drop=True)


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
