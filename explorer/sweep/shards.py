"""Shard files: one JSON per (model, shard) written atomically, so an interrupted sweep resumes from them.

A shard counts as done only when its file exists and lists exactly the images the plan puts in that shard
(a rerun with other images or another shard size redoes it rather than mixing runs). Merging the shards
gives the model's `results.json` (COCO results) and `images.json`, as `explorer predict` writes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: the Sweeps page imports this module, and the plan pulls in more
    from explorer.sweep.plan import ImageItem

ShardRecord = dict[str, Any]  # shard, images, errors, results, device_name, seconds, workers
SHARD_PREFIX = "shard-"


def shard_index(path: Path) -> int | None:
    """The shard number of a `shard-NNNNN.json` file; None for anything else (temporary files included)."""
    if path.suffix != ".json" or not path.stem.startswith(SHARD_PREFIX):
        return None
    number = path.stem.removeprefix(SHARD_PREFIX)
    return int(number) if number.isdigit() else None


def written_shards(shard_dir: Path, count: int) -> list[int]:
    """Numbers of the shard files in `shard_dir` that a plan of `count` shards has a place for."""
    found = (shard_index(path) for path in shard_dir.glob(f"{SHARD_PREFIX}*.json"))
    return sorted(index for index in found if index is not None and index < count)


class ShardStore:
    """The shard files of one model under `<out>/<model slug>/shards/`."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.shard_dir = model_dir / "shards"

    def path(self, index: int) -> Path:
        return self.shard_dir / f"{SHARD_PREFIX}{index:05d}.json"

    def read(self, index: int) -> ShardRecord | None:
        try:
            return json.loads(self.path(index).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def is_done(self, index: int, items: Sequence[ImageItem]) -> bool:
        record = self.read(index)
        return record is not None and record.get("planned") == [item.name for item in items]

    def write(self, index: int, items: Sequence[ImageItem], record: ShardRecord) -> Path:
        """Write via a temporary file and rename: a crash never leaves a half-written shard that looks done."""
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        target = self.path(index)
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(json.dumps({**record, "shard": index, "planned": [item.name for item in items]}),
                             encoding="utf-8")
        os.replace(temporary, target)
        return target

    def remove_stale(self, count: int) -> list[Path]:
        """Delete shard files a plan of `count` shards has no place for, and temporary files of a crash.

        They come from an earlier run over more images (or a smaller shard size); left there, they would
        only confuse a reader of the folder, since merging reads shards 0..count-1.
        """
        stale = [path for path in self.shard_dir.glob(f"{SHARD_PREFIX}*.json*")
                 if (index := shard_index(path)) is None or index >= count]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def records(self, count: int) -> list[ShardRecord]:
        return [record for index in range(count) if (record := self.read(index)) is not None]

    def merge(self, count: int) -> tuple[Path, Path, list[ShardRecord]]:
        """`results.json` and `images.json` from every shard, in image order."""
        records = self.records(count)
        results = [entry for record in records for entry in record["results"]]
        images = [image for record in records for image in record["images"]]
        results_path, images_path = self.model_dir / "results.json", self.model_dir / "images.json"
        results_path.write_text(json.dumps(results), encoding="utf-8")
        images_path.write_text(json.dumps(images, indent=1), encoding="utf-8")
        return results_path, images_path, records
