"""Small hand-made zoo tables for testing the library's logic without the real data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from explorer.zoo.schema import ZOO_COLUMNS, empty_row
from explorer.zoo_build.zoo_data import csv_text, write_files


def zoo_row(model_id: str, zoo: str = "detectron", **values: str) -> dict[str, str]:
    row = empty_row()
    row.update(zoo=zoo, model_id=model_id, tta="false", table="t", type="Faster", task="boxes",
               name=f"model {model_id}", hardware="P100", train_gpus="8", lr_schedule="1x",
               metric_scope="coco")
    row.update(values)
    return row


def write_zoo(tmp_path: Path, rows: list[dict[str, str]], notes: str = "{}") -> Path:
    """A zoo_data/ folder holding `rows` (every zoo file present, possibly empty)."""
    by_zoo = {zoo: [r for r in rows if r["zoo"] == zoo] for zoo in ("detectron", "detectron2", "torchvision")}
    files = {f"{zoo}.csv": csv_text(zoo_rows, ZOO_COLUMNS) for zoo, zoo_rows in by_zoo.items()}
    files["notes.json"] = notes
    files["detectron_configs.csv"] = "config\n"
    write_files(files, tmp_path)
    return tmp_path


def as_frame(points: dict[str, tuple[float | None, float | None]]) -> pd.DataFrame:
    """uid -> (cost, value) as a two-column frame for Pareto tests."""
    return pd.DataFrame.from_dict(points, orient="index", columns=["cost", "value"], dtype=float)
