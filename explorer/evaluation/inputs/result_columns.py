"""Checked bbox or segm detections as columns (numpy arrays), read straight from a results file's bytes.

Why: a val2017-size results file (500,000 detections with masks, ~160 MB) takes ~5 s through json.loads, most
of it building (and garbage-collecting) half a million dicts that are only read once, and check_results then
walks them again. msgspec decodes the same bytes into typed records that the garbage collector does not track,
skipping the fields the IoU type does not read, about 5x faster; the checks are then numpy passes over columns.

The checks are check_results' (result_checks), and so are the messages: whenever the fast path is not sure (a
field of another type than the common case, an unknown image or category, a bad box, a mask of another size or
given as polygons), the bytes go through json.loads and check_results, which either raise the usual message or
accept the file as they always did. Both paths give the same columns (tests/test_result_columns.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from explorer.evaluation.inputs.ground_truth import PreparedGroundTruth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, parse_json, read_bytes
from explorer.evaluation.inputs.result_checks import check_results
from explorer.tasks import task_of_iou_type


@dataclass(frozen=True, eq=False)
class ResultColumns(Sequence[dict[str, Any]]):
    """Detections in file order: image_id, category_id (int64), score (float64) and geometry: an [N, 4] float
    array of boxes (x, y, w, h) for bbox; for segm the compressed-RLE count strings, each of its image's size
    (mask_size: image id -> [height, width]; check_results made sure of it). Strings rather than RLE dicts:
    half a million long-lived dicts cost seconds of garbage collection; the dicts are made per image when used.

    Indexing gives one detection as check_results would ({"image_id", "category_id", "score", field}), for the
    code that reads a few of them (drawing an image's detections)."""

    field: str
    image_id: np.ndarray
    category_id: np.ndarray
    score: np.ndarray
    geometry: Any
    mask_size: dict[int, list[int]] | None = None

    def rle(self, index: int) -> dict[str, Any]:
        """Detection `index`'s mask as a compressed-RLE dict (segm)."""
        assert self.mask_size is not None
        return {"size": self.mask_size[int(self.image_id[index])], "counts": self.geometry[index]}

    def __len__(self) -> int:
        return int(self.image_id.size)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        geometry = self.geometry[index].tolist() if self.field == "bbox" else self.rle(index)
        return {"image_id": int(self.image_id[index]), "category_id": int(self.category_id[index]),
                "score": float(self.score[index]), self.field: geometry}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    @classmethod
    def from_records(cls, results: Sequence[dict[str, Any]], field: str) -> ResultColumns:
        """Columns of checked results (check_results' output, or columns already)."""
        if isinstance(results, ResultColumns):
            return results
        n = len(results)
        sizes = None
        if field == "bbox":
            geometry: Any = np.asarray([r[field] for r in results], dtype=float).reshape(n, 4)
        else:
            geometry = [r[field]["counts"] for r in results]
            sizes = {r["image_id"]: list(r[field]["size"]) for r in results}
        return cls(field=field, image_id=np.fromiter((r["image_id"] for r in results), np.int64, n),
                   category_id=np.fromiter((r["category_id"] for r in results), np.int64, n),
                   score=np.fromiter((r["score"] for r in results), float, n), geometry=geometry, mask_size=sizes)


class _Rle(msgspec.Struct, gc=False):
    size: tuple[int, int]
    counts: str


class _Box(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    score: float
    bbox: tuple[float, float, float, float]


class _Mask(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    score: float
    segmentation: _Rle


_DECODERS = {"bbox": msgspec.json.Decoder(list[_Box]), "segm": msgspec.json.Decoder(list[_Mask])}


def read_result_columns(source: Any, truth: PreparedGroundTruth, *, what: str = "results",
                        max_bytes: int = DEFAULT_MAX_BYTES) -> ResultColumns:
    """Checked bbox or segm detections of `source` (a path, uploaded bytes, or parsed JSON) as columns, for the
    ground truth and IoU type `truth` was prepared for; EvaluationInputError as check_results raises it."""
    field = task_of_iou_type(truth.iou_type).result_field
    if isinstance(source, list | dict):
        return ResultColumns.from_records(check_results(source, truth, what=what), field)
    data, label = read_bytes(source, what=what, max_bytes=max_bytes)
    columns = typed_columns(data, truth)
    if columns is None:
        columns = ResultColumns.from_records(check_results(parse_json(data, label), truth, what=what), field)
    return columns


def typed_columns(data: bytes, truth: PreparedGroundTruth) -> ResultColumns | None:
    """The columns of a bbox or segm results file's bytes if it is all common-case records that pass every
    check, else None (then json.loads and check_results give the file's message or accept it)."""
    try:
        return _typed_columns(data, truth)
    except OverflowError:  # an integer past int64 somewhere: the slow path names the entry
        return None


def _typed_columns(data: bytes, truth: PreparedGroundTruth) -> ResultColumns | None:
    field = task_of_iou_type(truth.iou_type).result_field
    try:
        records = _DECODERS[truth.iou_type].decode(data)
    except (msgspec.DecodeError, KeyError):
        return None
    n = len(records)
    if not n:
        return None
    image_id = np.fromiter(map(attrgetter("image_id"), records), np.int64, n)
    category_id = np.fromiter(map(attrgetter("category_id"), records), np.int64, n)
    score = np.fromiter(map(attrgetter("score"), records), float, n)
    gt = truth.gt
    known_images = np.fromiter(gt.image_ids, np.int64, len(gt.image_ids))
    if not (np.isin(image_id, known_images).all() and np.isin(category_id, truth.category_ids).all()
            and np.isfinite(score).all()):
        return None
    sizes = None
    if field == "bbox":
        geometry: Any = np.fromiter(chain.from_iterable(map(attrgetter("bbox"), records)), float, 4 * n).reshape(n, 4)
        if not (np.isfinite(geometry).all() and (geometry[:, 2:] >= 0).all()):
            return None
    else:
        sizes = _mask_sizes(records, image_id, truth)
        if sizes is None:
            return None
        geometry = list(map(attrgetter("segmentation.counts"), records))
    return ResultColumns(field=field, image_id=image_id, category_id=category_id, score=score, geometry=geometry,
                         mask_size=sizes)


def _mask_sizes(records: list[_Mask], image_id: np.ndarray, truth: PreparedGroundTruth) -> dict[int, list[int]] | None:
    """Image id -> [height, width] if every mask has its image's size, else None (or if an image has none)."""
    sizes = truth.gt.image_sizes
    ids = np.unique(image_id)
    if not all(int(i) in sizes for i in ids):
        return None
    expected = np.array([sizes[int(i)] for i in ids], dtype=np.int64).reshape(-1, 2)[np.searchsorted(ids, image_id)]
    given = np.fromiter(chain.from_iterable(map(attrgetter("segmentation.size"), records)), np.int64,
                        2 * len(records))
    given = given.reshape(-1, 2)
    if not (given == expected).all():
        return None
    return {int(i): list(sizes[int(i)]) for i in ids}
