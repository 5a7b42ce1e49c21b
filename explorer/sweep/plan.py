"""What a sweep runs: which models, which images (with stable ids) and how the images are cut into shards.

The plan is computed the same way on every run with the same arguments, so a rerun finds the shards the
previous run finished. Image ids come from the annotations file when given (so results evaluate against
it), else from the position in the sorted image list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from explorer.engine.predict import image_paths
from explorer.errors import ExplorerError
from explorer.models.catalog import ModelSpec, resolve_spec, runnable_mask


class SweepPlanError(ExplorerError, ValueError):
    """Arguments that select no models or no images; the message says what to change."""


@dataclass(frozen=True)
class ImageItem:
    """One input image: where it is and the COCO image id its results get."""

    path: str
    image_id: int

    @property
    def name(self) -> str:
        return Path(self.path).name


def slug(uid: str) -> str:
    """A folder name for a model uid ('torchvision:SSD...' -> 'torchvision_SSD...')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", uid)


def select_specs(table: pd.DataFrame, *, models: Sequence[str] = (), zoo: str | None = None,
                 table_name: str | None = None, min_size: int | None = None,
                 max_size: int | None = None) -> list[ModelSpec]:
    """The specs to sweep: the given model ids, or every runnable (non-TTA) row of a zoo (and table)."""
    if models:
        specs = [resolve_spec(table, model) for model in models]
    else:
        rows = table[(table["zoo"] == zoo) & ~table["tta"]] if zoo else table.iloc[0:0]
        if table_name:
            rows = rows[rows["table"] == table_name]
        rows = rows[runnable_mask(rows)] if not rows.empty else rows
        if rows.empty:
            raise SweepPlanError(f"no runnable models in zoo {zoo!r}" + (f", table {table_name!r}" if table_name
                                                                         else "") + "; `python -m explorer zoo` "
                                 "lists them")
        specs = [resolve_spec(table, uid) for uid in rows["uid"]]
    if min_size:
        specs = [spec.with_sizes(min_size, max_size or max(min_size, spec.preprocessing.max_size))
                 for spec in specs]
    unique: dict[str, ModelSpec] = {}
    for spec in specs:
        unique.setdefault(spec.uid, spec)
    return list(unique.values())


def image_items(images: Path, annotations: Path | None = None, limit: int | None = None) -> list[ImageItem]:
    """The image files of a folder in sorted order, with ids; with annotations, only the annotated ones."""
    if not images.is_dir():
        raise SweepPlanError(f"--images {images} is not a folder (on the machine that runs the sweep's driver)")
    paths = image_paths([images])
    if annotations is not None:
        ids = annotated_ids(annotations)
        items = [ImageItem(str(path), ids[path.name]) for path in paths if path.name in ids]
    else:
        items = [ImageItem(str(path), index + 1) for index, path in enumerate(paths)]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise SweepPlanError(f"no images found in {images}" + (f" that {annotations.name} annotates"
                                                               if annotations else ""))
    return items


def annotated_ids(annotations: Path) -> dict[str, int]:
    """File name -> image id of a COCO annotations file, or a SweepPlanError saying what is wrong with it."""
    try:
        data = json.loads(annotations.read_text("utf-8"))
    except OSError as error:
        raise SweepPlanError(f"cannot read --annotations {annotations}: {error.strerror or error}") from None
    except ValueError as error:
        raise SweepPlanError(f"--annotations {annotations} is not JSON: {error}") from None
    try:
        return {str(image["file_name"]).rsplit("/", 1)[-1]: int(image["id"]) for image in data["images"]}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SweepPlanError(f"--annotations {annotations} is not COCO annotations: it needs an 'images' list "
                             f"whose entries have an integer 'id' and a 'file_name' ({type(error).__name__}: "
                             f"{error})") from None


def shard_items(items: Sequence[ImageItem], shard_size: int) -> list[list[ImageItem]]:
    """Consecutive slices of `shard_size` images: the unit of work, of writing and of resuming."""
    if shard_size < 1:
        raise SweepPlanError("shard size must be at least 1")
    return [list(items[start:start + shard_size]) for start in range(0, len(items), shard_size)]
