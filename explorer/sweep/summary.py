"""The sweep summary table (one row per model and device) and the list of sweeps the dashboard shows.

No Ray import: the Sweeps page reads summaries on machines where Ray is not installed. Sweeps register
their output folder in `$EXPLORER_CACHE/sweeps.json` so the page finds them without being told where.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from explorer.sweep.shards import ShardStore, written_shards
from explorer.tasks import EVALUATED

SUMMARY_NAME = "summary.csv"
META_NAME = "sweep.json"
COLUMNS: tuple[str, ...] = (
    "model_uid", "model_name", "device_name", "workers", "batch_size", "images", "errors", "image_width",
    "image_height", "autocast", "weights", "seconds", "median_s", "images_per_s", "sweep_images_per_s",
    *(task.metric for task in EVALUATED), "per_category", "results")
#: Columns `explorer.zoo.local_speeds.measured_points` needs (the speed-vs-accuracy figure's measured points).
MEASURED_COLUMNS: tuple[str, ...] = ("model_uid", "device_name", "image_width", "image_height", "batch_size",
                                     "autocast", "weights", "median_s")


def model_rows(*, model_uid: str, model_name: str, records: Sequence[Mapping[str, Any]], workers: int,
               batch_size: int, autocast: str | None, weights: str, wall_s: float | None, images_run: int,
               metrics: Mapping[str, float], per_category: str, results: str) -> list[dict[str, Any]]:
    """Rows for one model: per device, the time per image measured inside the workers (batching included).

    `median_s` is the median over shards of (inference seconds / images), the same quantity `explorer bench`
    stores as median seconds per image; `sweep_images_per_s` is the whole pool's wall-clock throughput in
    this run (NaN when a resumed run had nothing left to do for the model).
    """
    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_device.setdefault(record["device_name"], []).append(record)
    rows = []
    for device, shards in sorted(by_device.items()):
        counted = [shard for shard in shards if shard["images"]]
        images = sum(len(shard["images"]) for shard in shards)
        seconds = sum(float(shard["seconds"]) for shard in shards)
        widths = [image["width"] for shard in shards for image in shard["images"]]
        heights = [image["height"] for shard in shards for image in shard["images"]]
        rows.append({
            "model_uid": model_uid, "model_name": model_name, "device_name": device, "workers": workers,
            "batch_size": batch_size, "images": images, "errors": sum(len(shard["errors"]) for shard in shards),
            "image_width": int(statistics.median(widths)) if widths else 0,
            "image_height": int(statistics.median(heights)) if heights else 0,
            "autocast": autocast or "fp32", "weights": weights, "seconds": seconds,
            "median_s": statistics.median(float(s["seconds"]) / len(s["images"]) for s in counted)
            if counted else float("nan"),
            "images_per_s": images / seconds if seconds else float("nan"),
            "sweep_images_per_s": images_run / wall_s if wall_s and images_run else float("nan"),
            **{task.metric: metrics.get(task.metric, float("nan")) for task in EVALUATED},
            "per_category": per_category, "results": results,
        })
    return rows


def write_summary(out: Path, rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / SUMMARY_NAME
    pd.DataFrame(list(rows), columns=list(COLUMNS)).to_csv(path, index=False)
    write_meta(out, meta)
    return path


def write_meta(out: Path, meta: Mapping[str, Any]) -> Path:
    """`sweep.json`: the plan (models, their folders, shard count) and settings; written when a sweep starts."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / META_NAME
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(dict(meta), indent=1, default=str), encoding="utf-8")
    os.replace(temporary, path)
    return path


def sweep_progress(out: Path, meta: Mapping[str, Any], summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per planned model: shard files written so far out of the plan's, and whether it is summarised.

    Read from the folder alone, so the page can follow a sweep another process is running (or one that
    stopped: rerunning the same command resumes it). Sweeps written before `model_dirs` was recorded
    give an empty table.
    """
    planned = int(meta.get("shards", 0) or 0)
    finished = set(summary["model_uid"]) if summary is not None and not summary.empty else set()
    rows = []
    for uid, folder in dict(meta.get("model_dirs", {})).items():
        written = len(written_shards(ShardStore(out / str(folder)).shard_dir, planned))
        status = "done" if uid in finished else ("running or stopped" if written else "waiting")
        rows.append({"model_uid": uid, "shards_written": written, "shards_planned": planned, "status": status})
    return pd.DataFrame(rows, columns=["model_uid", "shards_written", "shards_planned", "status"])


def read_summary(out: Path) -> pd.DataFrame:
    """A sweep's summary table (FileNotFoundError until the sweep's first model is finished)."""
    return pd.read_csv(out / SUMMARY_NAME, dtype={"model_uid": str, "per_category": str, "results": str},
                       keep_default_na=False, na_values=[""])


def read_meta(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / META_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def measured_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as measurement rows for the speed-vs-accuracy overlay (`local_speeds.measured_points`)."""
    rows = summary[summary["median_s"].notna()] if not summary.empty else summary
    return rows.loc[:, list(MEASURED_COLUMNS)].reset_index(drop=True)


def evaluated_metrics(summary: pd.DataFrame) -> list[str]:
    """The AP columns the sweep measured for at least one model (it had annotations of that kind)."""
    return [task.metric for task in EVALUATED if task.metric in summary and summary[task.metric].notna().any()]


def measured_vs_published(summary: pd.DataFrame, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (model, device) with a measured AP: measured and published seconds and AP side by side.

    `table` is the zoo table (`explorer.zoo.table.load_zoo`, indexed by uid); the summary's AP columns are named
    like the zoo's (`explorer.tasks`), so `metric` picks the measured and the published number alike.
    """
    rows = summary[summary[metric].notna() & summary["median_s"].notna()]
    published = table[["name", "infer_s", "hardware", metric]].rename(
        columns={"name": "published_name", "infer_s": "published_s", "hardware": "published_hardware",
                 metric: "published_ap"})
    joined = rows.join(published, on="model_uid", how="left")
    return joined.rename(columns={metric: "measured_ap", "median_s": "measured_s"}).reset_index(drop=True)


def registry_path() -> Path:
    from explorer.weights.sources import explorer_cache_dir

    return explorer_cache_dir() / "sweeps.json"


def registered_sweeps() -> list[Path]:
    """Output folders of sweeps (finished or under way), newest registration first, those still on disk only."""
    try:
        paths = json.loads(registry_path().read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [Path(p) for p in paths if (Path(p) / SUMMARY_NAME).is_file() or (Path(p) / META_NAME).is_file()]


def register_sweep(out: Path) -> None:
    """Add `out` to the registry (atomically: two sweeps finishing together both stay listed or one wins)."""
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    resolved = str(out.resolve())
    known = [str(p) for p in registered_sweeps() if str(p) != resolved]
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps([resolved, *known], indent=1), encoding="utf-8")
    os.replace(temporary, path)
