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

from explorer.benchmarks.timing import BenchmarkResult
from explorer.zoo.setups import newest_per_setup, runtimes

_COLUMNS = [f.name for f in fields(BenchmarkResult)]
_NUMERIC = {"image_width", "image_height", "min_size", "batch_size", "runs", "warmup", "max_size", "detections_held"}
_REAL = {"median_s", "p10_s", "p90_s", "mean_s", "stdev_s", "peak_mem_mb", "detections_mean"}
#: Columns added after the first release: an older file gains them (NULL-able) when opened.
_ADDED = ("weights_kind", "weights_sha256", "max_size", "peak_mem_mb", "detections_held", "detections_mean",
          "runtime", "runtime_version", "execution_provider")
#: What an older row's `weights` label says it timed (the CLI stored a file's name, the page "published").
_LEGACY_KIND = ("CASE weights WHEN 'published' THEN 'published' WHEN 'random' THEN 'random' ELSE 'file' END")


def default_store_path() -> Path:
    """`$EXPLORER_CACHE/measurements.sqlite` (default ~/.cache/detectron-zoo-explorer)."""
    from explorer.weights.sources import explorer_cache_dir

    return explorer_cache_dir() / "measurements.sqlite"


def _sql_type(name: str) -> str:
    return "INTEGER" if name in _NUMERIC else "REAL" if name in _REAL else "TEXT"


class MeasurementStore:
    """Append and read benchmark results."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(f"{name} {_sql_type(name)}{'' if name in _ADDED else ' NOT NULL'}" for name in _COLUMNS)
        with self._connect() as db:
            db.execute(f"CREATE TABLE IF NOT EXISTS measurements (id INTEGER PRIMARY KEY, {columns})")
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns an older file lacks; its rows keep their values and get a weights kind from their label.

        BEGIN IMMEDIATE takes the write lock first, so two processes opening one old file add each column once.
        """
        db = self._connect()
        try:
            db.isolation_level = None
            if not self._missing(db):
                return
            db.execute("BEGIN IMMEDIATE")
            missing = self._missing(db)
            for name in missing:
                db.execute(f"ALTER TABLE measurements ADD COLUMN {name} {_sql_type(name)}")
            if "weights_kind" in missing:
                db.execute(f"UPDATE measurements SET weights_kind = {_LEGACY_KIND}, weights_sha256 = ''")
            if "detections_held" in missing:
                db.execute("UPDATE measurements SET detections_held = 0, max_size = 0")
            if "runtime" in missing:  # everything timed before the runtimes ran eager PyTorch
                db.execute("UPDATE measurements SET runtime = 'torch', runtime_version = torch_version, "
                           "execution_provider = device")
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _missing(db: sqlite3.Connection) -> list[str]:
        present = {name for (name,) in db.execute("SELECT name FROM pragma_table_info('measurements')")}
        return [name for name in _ADDED if name not in present]

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

    def latest(self, *, device_name: str | None = None, **settings: object) -> pd.DataFrame:
        """The newest measurement per model and setup, as `latest_measurements` describes."""
        return latest_measurements(self.frame(), device_name=device_name, **settings)


#: The columns `latest_measurements` returns, in the words the speed pages use.
LATEST_COLUMNS: tuple[str, ...] = ("uid", "device", "device_name", "median_s", "p90_s", "peak_mem_mb",
                                   "weights_kind", "weights_sha256", "input_size", "max_size", "image_width",
                                   "image_height", "batch", "precision", "detections_held", "torch_version",
                                   "runtime", "runtime_version", "execution_provider", "measured_at")


def latest_measurements(frame: pd.DataFrame, *, device_name: str | None = None, **settings: object) -> pd.DataFrame:
    """The newest measurement of each model per setup (`explorer.zoo.setups`), optionally of one device and setup.

    `settings` filter on the returned names, e.g. `input_size=800, batch=1, precision="fp32",
    weights_kind="published"`. One row per (uid, device, settings), newest last by measurement time.
    """
    latest = newest_per_setup(frame).rename(columns={"model_uid": "uid", "min_size": "input_size",
                                                     "batch_size": "batch", "autocast": "precision"})
    latest = latest.assign(runtime=runtimes(latest))  # a row from before the runtimes ran eager PyTorch
    for name in ("runtime_version", "execution_provider"):
        if name not in latest:
            latest[name] = ""
    if device_name is not None:
        latest = latest[latest["device_name"] == device_name]
    for name, value in settings.items():
        if name not in latest.columns:
            raise ValueError(f"unknown measurement setting {name!r}; one of {', '.join(LATEST_COLUMNS)}")
        latest = latest[latest[name] == value]
    return latest[list(LATEST_COLUMNS)].reset_index(drop=True)
