"""Check a results file against the ground truth before pycocotools sees it; return normalised copies.

pycocotools reports bad results as a bare `assert` ("Results do not correspond to current coco set") or a
traceback from inside its C code, and picks loadRes's branch from the *first* entry's keys. Every check here
raises EvaluationInputError naming the problem and the first offending entry, e.g. ``results[17]: ...``.

Each returned result keeps only what its iou type evaluates: bbox results lose masks and keypoints; segm
results lose their box, as Detectron2's evaluator does (otherwise loadRes takes the box's area for the mask);
keypoint results lose box and mask, so loadRes takes the area from the keypoints as for Detectron's keypoint
files. Polygon and uncompressed-RLE masks become compressed RLE (loadRes accepts only that). The copies are
what the evaluators may write into (ids, areas), so the caller's list is never modified.

`check_result_columns` does the same checks and returns the detections as columns (`CheckedResults`) instead of
one new dict per detection: at 200,000 detections making those dicts (and the garbage collector's passes over
them) cost more than evaluating them, and an evaluator that reads columns (hotcoco's array form) needs none.
`check_results` is its dict form (`CheckedResults.records()`).

`check_rle_strings` is the one check the pycocotools backend needs on top: its C decoder trusts compressed-RLE
count strings, and a malformed one makes its IoU loop run for minutes. hotcoco's decoder rejects them itself (in
native code, explorer.evaluation.coco.backends), so only the reference backend pays for this pure-Python decoding.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.checks import (
    few,
    int_types,
    is_int,
    is_number,
    number_types,
    numbers_ok,
    segmentation_problem,
    short,
)
from explorer.evaluation.inputs.ground_truth import GroundTruth, PreparedGroundTruth
from explorer.evaluation.masks import to_rle
from explorer.tasks import IouType, task_of_iou_type


@dataclass(frozen=True, eq=False)
class CheckedResults:
    """Checked detections as columns, index for index: image and category ids, scores, and each detection's
    prediction for the IoU type (a box [x, y, w, h], a compressed-RLE mask, or keypoints). The lists hold the
    input's own values (a mask dict may be the caller's): read them, never write into them."""

    iou_type: IouType
    image_ids: list[int] | np.ndarray
    category_ids: list[int] | np.ndarray
    scores: list[float] | np.ndarray
    values: list[Any] | None
    boxes: np.ndarray | None = None  # bbox: the values as [N, 4] float64, made once by the check

    @classmethod
    def from_columns(cls, iou_type: IouType, image_ids: np.ndarray, category_ids: np.ndarray, scores: np.ndarray,
                     geometry: Any, mask_size: dict[int, list[int]] | None) -> CheckedResults:
        """Detections already checked and read as columns (explorer.evaluation.inputs.result_columns), kept as
        arrays: 24 bytes a detection instead of three Python objects. bbox keeps only the [N, 4] array (values
        are made from it when asked for); segm makes each mask's RLE dict here, sharing its image's size list."""
        values = None
        if iou_type == "segm":
            assert mask_size is not None
            values = [{"size": mask_size[i], "counts": c} for i, c in zip(image_ids.tolist(), geometry, strict=True)]
        return cls(iou_type, image_ids, category_ids, scores, values,
                   np.asarray(geometry, dtype=float) if iou_type == "bbox" else None)

    def __len__(self) -> int:
        return len(self.scores)

    def records(self) -> list[dict[str, Any]]:
        """One fresh dict per detection, as COCO results files hold them (what loadRes may write into)."""
        field = task_of_iou_type(self.iou_type).result_field
        return [{"image_id": i, "category_id": c, "score": s, field: v}
                for i, c, s, v in zip(_plain(self.image_ids), _plain(self.category_ids), _plain(self.scores),
                                      self.value_list(), strict=True)]

    def value_list(self) -> list[Any]:
        """Each detection's prediction (a box as a list of 4 floats for bbox)."""
        if self.values is None:
            assert self.boxes is not None
            return self.boxes.tolist()
        return self.values

    def table(self, boxes: np.ndarray | None = None) -> np.ndarray:
        """[N, 7] float64: image_id, x, y, w, h, score, category_id (pycocotools' loadNumpyAnnotations layout);
        the detections' own boxes (bbox) or `boxes`."""
        n = len(self)
        boxes = self.boxes if boxes is None else boxes
        table = np.empty((n, 7))
        table[:, 0] = self.image_ids
        table[:, 1:5] = boxes
        table[:, 5] = self.scores
        table[:, 6] = self.category_ids
        return table


def _plain(column: list[Any] | np.ndarray) -> list[Any]:
    """A column as Python numbers (ints stay ints), as a file's dicts would hold them."""
    return column.tolist() if isinstance(column, np.ndarray) else column


def check_results(data: Any, truth: PreparedGroundTruth, what: str = "results") -> list[dict[str, Any]]:
    """Checked, normalised copies of the detections in `data`, for the ground truth and IoU type `truth` was
    prepared for (see the module docstring)."""
    return check_result_columns(data, truth, what).records()


def check_result_columns(data: Any, truth: PreparedGroundTruth, what: str = "results") -> CheckedResults:
    """The detections in `data`, checked for the ground truth and IoU type `truth` was prepared for, as columns.

    Written for 500,000 detections: each check is one pass in C (set of types, numpy), and only when it fails
    does a Python loop look for the first offending entry to name.
    """
    if isinstance(data, dict):
        hint = (" (it has 'annotations': is this the ground-truth file?)" if "annotations" in data else "")
        raise EvaluationInputError(f"{what} must be a JSON list of detections, got an object{hint}")
    if not isinstance(data, list):
        raise EvaluationInputError(f"{what} must be a JSON list of detections, got {type(data).__name__}")
    if not data:
        raise EvaluationInputError(f"{what} has no detections (an empty list): nothing to evaluate")
    if set(map(type, data)) != {dict}:
        i = next(i for i, entry in enumerate(data) if not isinstance(entry, dict))
        raise EvaluationInputError(f"{what}[{i}] is not an object: {short(data[i])}")
    gt, iou_type = truth.gt, truth.iou_type
    image_ids = _int_field(data, "image_id", what)
    _check_same_dataset(data, image_ids, gt, what)
    category_ids = _int_field(data, "category_id", what)
    _check_categories_known(category_ids, truth, what)
    scores = _field(data, "score", what)
    if not number_types(set(map(type, scores))) or not np.isfinite(np.fromiter(scores, float, len(scores))).all():
        i = next(i for i, s in enumerate(scores) if not (is_number(s) and math.isfinite(s)))
        raise EvaluationInputError(f"{what}[{i}]: score must be a number, got {short(scores[i])}")
    boxes = None
    if iou_type == "bbox":
        values, boxes = _boxes(data, what)
    elif iou_type == "segm":
        values = _masks(data, image_ids, gt, what)
    else:
        values = _keypoints(data, category_ids, gt, what)
    return CheckedResults(iou_type, image_ids, category_ids, scores, values, boxes)


def _field(data: list[dict[str, Any]], key: str, what: str) -> list[Any]:
    try:
        return [entry[key] for entry in data]
    except KeyError:
        i = next(i for i, entry in enumerate(data) if key not in entry)
        raise EvaluationInputError(f"{what}[{i}] has no '{key}'") from None


def _int_field(data: list[dict[str, Any]], key: str, what: str) -> list[Any]:
    values = _field(data, key, what)
    if not int_types(set(map(type, values))):
        i = next(i for i, v in enumerate(values) if not is_int(v))
        raise EvaluationInputError(f"{what}[{i}]: {key} must be an integer, got {short(values[i])}")
    return values


def _check_same_dataset(data: list[dict[str, Any]], image_ids: list[Any], gt: GroundTruth, what: str) -> None:
    distinct = set(image_ids)
    unknown = distinct - gt.image_ids
    if unknown == distinct:
        raise EvaluationInputError(
            f"{what} are for another dataset: none of their {len(distinct)} image ids ({few(distinct)}) is in the "
            f"ground truth's {len(gt.image_ids)} images (ids like {few(gt.image_ids)})")
    if unknown:
        i = next(i for i, image_id in enumerate(image_ids) if image_id in unknown)
        n = sum(1 for image_id in image_ids if image_id in unknown)
        raise EvaluationInputError(
            f"{what}[{i}]: image_id {image_ids[i]} is not in the ground truth ({n} detections on "
            f"{len(unknown)} unknown image id(s): {few(unknown)})")


def _check_categories_known(category_ids: list[Any], truth: PreparedGroundTruth, what: str) -> None:
    gt, allowed = truth.gt, set(truth.category_ids)
    unknown = set(category_ids) - allowed
    if not unknown:
        return
    i = next(i for i, c in enumerate(category_ids) if c in unknown)
    c = category_ids[i]
    if c in gt.category_names:
        raise EvaluationInputError(
            f"{what}[{i}]: category_id {c} ({gt.category_names[c]}) has no keypoints in the ground truth")
    raise EvaluationInputError(
        f"{what}[{i}]: category_id {c} is not a category of the ground truth (its ids: {few(allowed, 8)}); "
        f"results must carry the dataset's category ids")


def _boxes(data: list[dict[str, Any]], what: str) -> tuple[list[Any], np.ndarray]:
    boxes = [entry.get("bbox") for entry in data]

    def first_bad() -> EvaluationInputError:
        i = next(i for i, b in enumerate(boxes) if not (numbers_ok(b, 4) and b[2] >= 0 and b[3] >= 0))
        if boxes[i] is None:
            return EvaluationInputError(f"{what}[{i}] has no 'bbox' (needed for bbox evaluation)")
        return EvaluationInputError(
            f"{what}[{i}]: bbox must be 4 numbers [x, y, width >= 0, height >= 0], got {short(boxes[i])}")

    if not set(map(type, boxes)) <= {list, tuple} or set(map(len, boxes)) != {4}:
        raise first_bad()
    if not number_types(set(map(type, itertools.chain.from_iterable(boxes)))):
        raise first_bad()
    array = np.fromiter(itertools.chain.from_iterable(boxes), dtype=float, count=4 * len(boxes)).reshape(-1, 4)
    if not (np.isfinite(array).all() and (array[:, 2:] >= 0).all()):
        raise first_bad()
    return boxes, array


def _masks(data: list[dict[str, Any]], image_ids: list[Any], gt: GroundTruth, what: str) -> list[Any]:
    sizes = {image_id: list(size) for image_id, size in gt.image_sizes.items()}
    # The common case (compressed RLE of the right size everywhere) in a few passes in C; else entry by entry.
    segmentations = [entry.get("segmentation") for entry in data]
    expected = [sizes.get(i) for i in image_ids]
    if (set(map(type, segmentations)) == {dict} and None not in expected
            and [s.get("size") for s in segmentations] == expected
            and set(map(type, (s.get("counts") for s in segmentations))) <= {str, bytes}):
        return segmentations
    masks = []
    for i, (entry, image_id) in enumerate(zip(data, image_ids, strict=True)):
        segmentation = entry.get("segmentation")
        size = sizes.get(image_id)
        if size is None:
            raise EvaluationInputError(
                f"{what}[{i}]: image {image_id} has no 'height' and 'width' in the ground truth (needed for masks)")
        # The common case (compressed RLE of the right size) in as few operations as possible.
        if (type(segmentation) is dict and segmentation.get("size") == size
                and type(segmentation.get("counts")) in (str, bytes)):
            masks.append(segmentation)
            continue
        if segmentation is None:
            raise EvaluationInputError(f"{what}[{i}] has no 'segmentation' (needed for segm evaluation)")
        problem = segmentation_problem(segmentation, (size[0], size[1]))
        if problem:
            raise EvaluationInputError(f"{what}[{i}] (image {image_id}): {problem}")
        masks.append({"size": size, "counts": to_rle(segmentation, size[0], size[1])["counts"]})
    return masks


def _keypoints(data: list[dict[str, Any]], category_ids: list[Any], gt: GroundTruth, what: str) -> list[Any]:
    keypoints = [entry.get("keypoints") for entry in data]
    expected = [3 * gt.keypoint_counts[c] for c in category_ids]

    def first_bad() -> EvaluationInputError:
        i = next(i for i, (k, n) in enumerate(zip(keypoints, expected, strict=True)) if not numbers_ok(k, n))
        if keypoints[i] is None:
            return EvaluationInputError(f"{what}[{i}] has no 'keypoints' (needed for keypoint evaluation)")
        got = len(keypoints[i]) if isinstance(keypoints[i], list | tuple) else None
        return EvaluationInputError(
            f"{what}[{i}]: keypoints must be {expected[i]} numbers (x, y, v for each of the "
            f"{expected[i] // 3} keypoints of category {category_ids[i]}), got "
            f"{f'{got} values' if got is not None else short(keypoints[i])}")

    if not set(map(type, keypoints)) <= {list, tuple}:
        raise first_bad()
    if [len(k) for k in keypoints] != expected:
        raise first_bad()
    if not number_types(set(map(type, itertools.chain.from_iterable(keypoints)))):
        raise first_bad()
    if not np.isfinite(np.fromiter(itertools.chain.from_iterable(keypoints), dtype=float)).all():
        raise first_bad()
    return keypoints


_RLE_LOW, _RLE_HIGH = 48, 48 + 63  # the count string's alphabet: 6-bit groups offset by '0'


def rle_counts(text: str) -> list[int] | None:
    """The run lengths encoded in `text` (COCO's LEB128-like format with deltas), or None if malformed."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                return None  # the last run stops mid-number
            code = ord(text[position]) - _RLE_LOW
            if not 0 <= code <= _RLE_HIGH - _RLE_LOW:
                return None
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def check_rle_strings(results: CheckedResults, sizes: dict[int, tuple[int, int]], what: str) -> None:
    """Every compressed-RLE segmentation decodes to non-negative runs covering its image exactly."""
    for index, (segmentation, image_id) in enumerate(zip(results.value_list(), _plain(results.image_ids),
                                                          strict=True)):
        if not isinstance(segmentation, dict) or not isinstance(segmentation.get("counts"), str):
            continue
        height, width = sizes[image_id]
        counts = rle_counts(segmentation["counts"])
        if counts is None or min(counts, default=0) < 0 or sum(counts) != height * width:
            raise EvaluationInputError(
                f"{what}: entry {index} (image {image_id}) has malformed compressed RLE counts: they do "
                f"not decode to runs covering its {height}x{width} image")
