"""Load the zoo tables from `zoo_data/` into pandas, numbers as floats and derived metrics added.

Two views of the same rows share one index: `load_zoo_text` keeps every value exactly as the source
printed it (for export), `load_zoo` converts numbers and adds derived columns (for plots and ranking).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from explorer.errors import ExplorerError
from explorer.zoo.derived import add_derived_columns
from explorer.zoo.paths import ZOO_DATA_DIR
from explorer.zoo.schema import NUMERIC_COLUMNS, ZOO_COLUMNS, ZOOS


class UnknownZooError(ExplorerError, ValueError):
    """A zoo name that is not one of ZOOS."""


def check_zoos(zoos: Iterable[str]) -> list[str]:
    """The zoo names, validated; 'all' means every zoo."""
    names = list(zoos)
    if "all" in names:
        return list(ZOOS)
    unknown = [name for name in names if name not in ZOOS]
    if unknown:
        raise UnknownZooError(f"unknown zoo {unknown[0]!r}; choose from {', '.join(ZOOS)} or all")
    return names


def load_zoo_text(zoos: Iterable[str] = ZOOS, data_dir: Path = ZOO_DATA_DIR) -> pd.DataFrame:
    """All rows of the chosen zoos, every value the source's text ('' when missing)."""
    frames = [
        pd.read_csv(data_dir / f"{zoo}.csv", dtype=str, keep_default_na=False, na_filter=False)
        for zoo in check_zoos(zoos)
    ]
    table = pd.concat(frames, ignore_index=True)
    if list(table.columns) != list(ZOO_COLUMNS):
        raise ValueError(f"{data_dir}: columns differ from explorer.zoo.schema.ZOO_COLUMNS; rebuild zoo_data")
    table.index = pd.Index(table["zoo"] + ":" + table["model_id"] + table["tta"].map({"true": ":tta", "false": ""}),
                           name="uid")
    return table


def to_numbers(text: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as floats (NaN where empty), `tta` as bool; other columns unchanged."""
    table = text.copy()
    for column in NUMERIC_COLUMNS:
        table[column] = pd.to_numeric(table[column].replace("", None), errors="raise").astype(float)
    table["tta"] = table["tta"].map({"true": True, "false": False}).astype(bool)
    return table


def load_notes(data_dir: Path = ZOO_DATA_DIR) -> dict[str, dict]:
    """Per-zoo notes: hardware, common settings, schedules and per-table notes."""
    return json.loads((data_dir / "notes.json").read_text("utf-8"))


def load_zoo(zoos: Iterable[str] = ZOOS, data_dir: Path = ZOO_DATA_DIR) -> pd.DataFrame:
    """The zoo table for analysis: numbers as floats plus the derived metrics of `explorer.zoo.derived`."""
    return add_derived_columns(with_complexity(to_numbers(load_zoo_text(zoos, data_dir)), data_dir),
                               load_notes(data_dir))


def load_complexity(data_dir: Path = ZOO_DATA_DIR) -> pd.DataFrame:
    """GFLOPs and parameters counted with our own builds (`complexity.csv`), indexed by uid; empty if absent."""
    path = data_dir / "complexity.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["gflops", "params_m"], index=pd.Index([], name="uid"))
    return pd.read_csv(path, dtype={"model_id": str, "tta": str}).set_index("uid")


def with_complexity(table: pd.DataFrame, data_dir: Path = ZOO_DATA_DIR) -> pd.DataFrame:
    """Fill the GFLOPs and parameters a zoo does not publish from `complexity.csv`, saying so in the row's notes.

    A published figure is never replaced; only empty ones are filled.
    """
    counted = load_complexity(data_dir)
    rows = table.index.intersection(counted.index)
    rows = rows[table.loc[rows, "gflops"].isna()]
    if rows.empty:
        return table
    table = table.copy()
    found = counted.loc[rows]
    table.loc[rows, "gflops"] = found["gflops"].astype(float)
    table.loc[rows, "params_m"] = table.loc[rows, "params_m"].fillna(found["params_m"].astype(float))
    heads = [("" if pd.isna(v) else f"; the mask/keypoint heads add {v:.1f} GFLOPs at {d:.0f} detections")
             for v, d in zip(found["detection_heads_gflops"], found["detections"], strict=True)]
    sentence = ("GFLOPs and parameters are not published: computed here with this project's build of the config "
                "for a " + found["input"] + ", as " + found["convention"] + heads + ".")
    table.loc[rows, "notes"] = (table.loc[rows, "notes"].where(table.loc[rows, "notes"] == "",
                                                                table.loc[rows, "notes"] + " ") + sentence)
    return table


def load_configs(data_dir: Path = ZOO_DATA_DIR) -> pd.DataFrame:
    """Config facts of every Detectron model, indexed by config name (values as text)."""
    configs = pd.read_csv(data_dir / "detectron_configs.csv", dtype=str, keep_default_na=False, na_filter=False)
    return configs.set_index("config", drop=False)


class UnknownModelError(ExplorerError, KeyError):
    """A model id that no loaded zoo has."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def find_model(table: pd.DataFrame, model_id: str) -> pd.DataFrame:
    """Every row with this model id (two for a model published with and without TTA)."""
    rows = table[table["model_id"] == str(model_id)]
    if rows.empty:
        raise UnknownModelError(f"unknown model id {model_id!r}; `python -m explorer zoo` lists them")
    return rows
