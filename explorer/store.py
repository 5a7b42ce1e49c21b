"""A local SQLite history of measured speeds, kept in the cache directory.

The speed-vs-accuracy plot overlays these measurements beside the published numbers, labelled with
the device they were taken on. SQLite is in the standard library and safe for several sessions of
one server writing at once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from pathlib import Path

import pandas as pd

from explorer.benchmark import BenchmarkResult

_COLUMNS = [f.name for f in fields(BenchmarkResult)]
_NUMERIC = {"image_width", "image_height", "min_size", "batch_size", "runs", "warmup"}
_REAL = {"median_s", "p10_s", "p90_s", "mean_s", "stdev_s"}


def default_store_path() -> Path:
    """`$EXPLORER_CACHE/measurements.sqlite` (default ~/.cache/detectron-zoo-explorer)."""
    from explorer.weights import explorer_cache_dir

    return explorer_cache_dir() / "measurements.sqlite"


def _sql_type(name: str) -> str:
    return "INTEGER" if name in _NUMERIC else "REAL" if name in _REAL else "TEXT"


class MeasurementStore:
    """Append and read benchmark results."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(f"{name} {_sql_type(name)} NOT NULL" for name in _COLUMNS)
        with self._connect() as db:
            db.execute(f"CREATE TABLE IF NOT EXISTS measurements (id INTEGER PRIMARY KEY, {columns})")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def add(self, result: BenchmarkResult) -> None:
        values = result.as_dict()
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._connect() as db:
            db.execute(f"INSERT INTO measurements ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                       [values[name] for name in _COLUMNS])

    def frame(self, model_uid: str | None = None) -> pd.DataFrame:
        """All measurements (newest last), optionally of one model."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM measurements"
        params: tuple[str, ...] = ()
        if model_uid is not None:
            query += " WHERE model_uid = ?"
            params = (model_uid,)
        with self._connect() as db:
            return pd.read_sql_query(query + " ORDER BY id", db, params=params)
