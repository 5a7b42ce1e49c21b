"""Load the zoo tables from `zoo_data/` into pandas, numbers as floats and derived metrics added.

Two views of the same rows share one index: `load_zoo_text` keeps every value exactly as the source
printed it (for export), `load_zoo` converts numbers and adds derived columns (for plots and ranking).
The folder is the package's own (`explorer.zoo.paths.ZOO_DATA`, read through importlib.resources) unless a
caller passes another; any `Traversable` works, a plain `Path` included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from typing import Any

import pandas as pd

from explorer.errors import ExplorerError
from explorer.models.catalog import UnknownModelError
from explorer.zoo.derived import add_derived_columns
from explorer.zoo.paths import ZOO_DATA
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


def _read_csv(data_dir: Traversable, name: str, **options: Any) -> pd.DataFrame:
    """One CSV of the folder, opened through the Traversable API (pandas only takes paths or open files)."""
    with (data_dir / name).open("rb") as handle:
        return pd.read_csv(handle, **options)


def load_zoo_text(zoos: Iterable[str] = ZOOS, data_dir: Traversable = ZOO_DATA) -> pd.DataFrame:
    """All rows of the chosen zoos, every value the source's text ('' when missing)."""
    frames = [
        _read_csv(data_dir, f"{zoo}.csv", dtype=str, keep_default_na=False, na_filter=False)
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


def load_notes(data_dir: Traversable = ZOO_DATA) -> dict[str, dict]:
    """Per-zoo notes: hardware, common settings, schedules and per-table notes."""
    return json.loads((data_dir / "notes.json").read_text("utf-8"))


def load_zoo(zoos: Iterable[str] = ZOOS, data_dir: Traversable = ZOO_DATA) -> pd.DataFrame:
    """The zoo table for analysis: numbers as floats plus the derived metrics of `explorer.zoo.derived`.

    Detectron rows also carry their config's facts (`with_config_facts`), which the model catalog reads.
    """
    table = with_config_facts(with_complexity(to_numbers(load_zoo_text(zoos, data_dir)), data_dir), data_dir)
    return add_derived_columns(table, load_notes(data_dir))


#: Per zoo, the config table whose rows `with_config_facts` joins into that zoo's rows.
CONFIG_TABLES: dict[str, str] = {"detectron": "detectron_configs.csv", "detectron2": "detectron2_configs.csv"}


def with_config_facts(table: pd.DataFrame, data_dir: Traversable = ZOO_DATA) -> pd.DataFrame:
    """Add `config_facts`: a Detectron or Detectron2 row's config-table row as JSON text ('' elsewhere).

    The zoo table is what callers hand the model catalog, so the Detectron and Detectron2 families get their
    architecture from the row and never read zoo_data/ themselves. A Detectron row names its config by its
    `config` column; a Detectron2 row by its model URL (`<folder>/<config>`, as `detectron2_configs.csv` keys
    it, since the stem alone is ambiguous). Text, not a dict, so the table stays hashable (Streamlit caches) and
    comparable; rows whose config the file lacks (or a data folder without it) get '' and are reported as not
    runnable.
    """
    from explorer.zoo.sources.detectron2_configs import config_of_model_url

    facts = {zoo: _facts_by_config(data_dir, name) for zoo, name in CONFIG_TABLES.items()}
    keys = {"detectron": lambda row: str(row["config"]),
            "detectron2": lambda row: _detectron2_key(row["model_url"], config_of_model_url)}
    table = table.copy()
    table["config_facts"] = [facts[zoo].get(keys[zoo](row), "") if zoo in facts else ""
                             for zoo, row in zip(table["zoo"], table.to_dict("records"), strict=True)]
    return table


def _detectron2_key(url: object, key_of: Any) -> str:
    try:
        return key_of(str(url))
    except ValueError:
        return ""


def _facts_by_config(data_dir: Traversable, name: str) -> dict[str, str]:
    """{config key: that config row as sorted-key JSON} of one config table ({} if the folder lacks it)."""
    if not (data_dir / name).is_file():
        return {}
    configs = load_configs(data_dir, name)
    return {str(config): json.dumps(row, sort_keys=True)
            for config, row in zip(configs["config"], configs.to_dict("records"), strict=True)}


def load_complexity(data_dir: Traversable = ZOO_DATA) -> pd.DataFrame:
    """GFLOPs and parameters counted with our own builds (`complexity.csv`), indexed by uid; empty if absent."""
    if not (data_dir / "complexity.csv").is_file():
        return pd.DataFrame(columns=["gflops", "params_m"], index=pd.Index([], name="uid"))
    return _read_csv(data_dir, "complexity.csv", dtype={"model_id": str, "tta": str}).set_index("uid")


def with_complexity(table: pd.DataFrame, data_dir: Traversable = ZOO_DATA) -> pd.DataFrame:
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


def load_configs(data_dir: Traversable = ZOO_DATA, name: str = "detectron_configs.csv") -> pd.DataFrame:
    """Config facts of every Detectron model (or, with name="detectron2_configs.csv", every Detectron2 config),
    indexed by config key (values as text)."""
    configs = _read_csv(data_dir, name, dtype=str, keep_default_na=False, na_filter=False)
    return configs.set_index("config", drop=False)


def find_model(table: pd.DataFrame, model_id: str) -> pd.DataFrame:
    """Every row with this model id (two for a model published with and without TTA)."""
    rows = table[table["model_id"] == str(model_id)]
    if rows.empty:
        raise UnknownModelError(f"unknown model id {model_id!r}; `python -m explorer zoo` lists them")
    return rows
