"""TIDE's matching and error tests for every image at once (explorer.evaluation.analyses.tide.classify's engine).

Why not one image at a time: at val2017 scale (5,000 images, 500,000 detections) a loop of small numpy calls per
image spends most of its time in call overhead. Here every (detection, object) pair of the same image is one
row of flat arrays, detection-major (a detection's pairs are contiguous, objects in their order), so each test
is one numpy pass and each per-detection maximum one `maximum.reduceat`. Images are taken in chunks of about
CHUNK_PAIRS pairs so memory stays bounded on larger sets.

Box IoU is computed here as pycocotools' bbIou computes it (same operations in the same order, float64), so the
numbers are bit-identical; mask IoU is pycocotools' too, computed per image by ultrafast-pycocotools
(masks.rle_iou, bit for bit and faster). After the IoU only the overlapping pairs (IoU > 0) go on. The one step
that stays sequential, the greedy assignment of objects to detections in score order, only visits the candidate
pairs (same class, IoU >= pos): a few per true positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explorer.evaluation.analyses.forked import Pending
from explorer.evaluation.masks import rle_iou

#: Detection labels (the codes of tide.DETECTION_LABELS).
TP, CLS, LOC, BOTH, DUPE, BKG = range(6)

#: About how many (detection, object) pairs one chunk of images holds.
CHUNK_PAIRS = 2_000_000

#: With EXPLORER_FORK=1 (analyses.forked), the mask IoU of a chunk's second half is computed in a forked child
#: when that half holds at least this many detections: below it the fork costs more than it could save.
FORK_MIN_DETECTIONS = 20_000


@dataclass(frozen=True)
class Gathered:
    """`values` in the order `index` gives, gathered only when sliced: the half a million detections' mask
    strings are picked per image, in whichever process computes that image's IoU."""

    values: Sequence[Any]
    index: np.ndarray

    def __getitem__(self, rows: slice) -> list[Any]:
        return [self.values[i] for i in self.index[rows].tolist()]


@dataclass(frozen=True)
class Side:
    """One side of the matching, sorted by image: the image index of each row, its category index, its geometry
    (box_corners of the boxes for bbox, a list of compressed RLEs for segm), and per image its first row and
    how many."""

    image: np.ndarray
    category: np.ndarray
    geometry: Any
    starts: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray, category: np.ndarray, geometry: Any, n_images: int) -> Side:
        counts = np.bincount(image, minlength=n_images).astype(np.int64)
        return cls(image=image, category=category, geometry=geometry, starts=np.cumsum(counts) - counts,
                   counts=counts)


@dataclass(frozen=True)
class Matching:
    """Per detection: label code, ignored (inside a crowd region of its class), target object (global object row,
    -1 if none); per object: matched."""

    label: np.ndarray
    ignored: np.ndarray
    target: np.ndarray
    matched: np.ndarray


def match_all(dets: Side, objects: Side, crowds: Side, iou_type: str, pos: float, bg: float,
              mask_sizes: Sequence[Any] | None = None) -> Matching:
    """TIDE's matching at `pos` and error tests with background `bg` (see tide's module docstring) of every
    detection; detections are sorted by image, then score descending. For segm the detections' geometry is
    their RLE count strings and `mask_sizes` gives each image's [height, width]."""
    n_det = dets.image.size
    label = np.full(n_det, TP, dtype=np.int8)
    ignored = np.zeros(n_det, dtype=bool)
    target = np.full(n_det, -1, dtype=np.int64)
    matched = np.zeros(objects.image.size, dtype=bool)
    for first, last in _image_chunks(dets.counts, objects.counts + crowds.counts):
        d0, d1 = int(dets.starts[first]), int(dets.starts[last - 1] + dets.counts[last - 1])
        if d0 == d1:
            continue
        rows = np.arange(d0, d1)
        pair_det, pair_obj = _pairs(rows, dets.image[d0:d1], objects)
        crowd_det, crowd_obj = _pairs(rows, dets.image[d0:d1], crowds)
        iou, crowd_iou = _ious(dets, objects, crowds, (pair_det, pair_obj), (crowd_det, crowd_obj), iou_type,
                               (first, last), mask_sizes)
        # Only overlapping pairs go on (about 1 in 6 at val2017 scale): every test below reads maxima of IoUs
        # >= 0 or thresholds above 0, so a pair with IoU 0 changes nothing but the all-zero rows _error_tests
        # handles on its own.
        overlap = iou > 0
        pair_det, pair_obj, iou = pair_det[overlap], pair_obj[overlap], iou[overlap]
        same = dets.category[pair_det] == objects.category[pair_obj]
        _greedy(pair_det, pair_obj, iou, same, pos, target, matched)
        crowd_hit = (crowd_iou > pos) & (dets.category[crowd_det] == crowds.category[crowd_obj])
        hit_rows = np.unique(crowd_det[crowd_hit])
        ignored[hit_rows] = target[hit_rows] < 0
        _error_tests(rows, objects.counts[dets.image[d0:d1]], objects.starts[dets.image[d0:d1]],
                     (pair_det, pair_obj), iou, same, matched, pos, bg, label, target)
    return Matching(label=label, ignored=ignored, target=target, matched=matched)


def _image_chunks(det_counts: np.ndarray, obj_counts: np.ndarray) -> list[tuple[int, int]]:
    """[first, last) image ranges holding about CHUNK_PAIRS pairs each (at least one image)."""
    pairs = np.cumsum(det_counts * np.maximum(obj_counts, 1))
    chunks, first = [], 0
    n = det_counts.size
    while first < n:
        base = pairs[first - 1] if first else 0
        last = int(np.searchsorted(pairs, base + CHUNK_PAIRS, side="right"))
        last = min(max(last, first + 1), n)
        chunks.append((first, last))
        first = last
    return chunks


def _pairs(rows: np.ndarray, row_image: np.ndarray, side: Side) -> tuple[np.ndarray, np.ndarray]:
    """(detection row, object row) of each detection in `rows` with each object of its image, detection-major."""
    per_det = side.counts[row_image]
    det = np.repeat(rows, per_det)
    first = np.cumsum(per_det) - per_det
    obj = np.arange(det.size) - np.repeat(first - side.starts[row_image], per_det)
    return det, obj


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """[5, N] rows x1, y1, x2 = w + x, y2 = h + y, area = w * h of [N, 4] boxes (x, y, w, h), computed once per
    box with pycocotools' operations, so that box_iou only gathers them per pair."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    x, y, w, h = boxes.T
    return np.stack([x, y, w + x, h + y, w * h])


def box_iou(d: np.ndarray, g: np.ndarray, crowd: bool) -> np.ndarray:
    """IoU of each pair of boxes given as box_corners columns ([5, P] each), as pycocotools' bbIou computes it:
    intersection over the union, or over the detection's area for crowd regions; 0 where they do not overlap."""
    w = np.minimum(d[2], g[2]) - np.maximum(d[0], g[0])
    h = np.minimum(d[3], g[3]) - np.maximum(d[1], g[1])
    overlap = np.flatnonzero((w > 0) & (h > 0))
    inter = w[overlap] * h[overlap]
    det_area = d[4, overlap]
    union = det_area if crowd else det_area + g[4, overlap] - inter
    iou = np.zeros(w.size)
    iou[overlap] = inter / union
    return iou


def _ious(dets: Side, objects: Side, crowds: Side, pairs: tuple[np.ndarray, np.ndarray],
          crowd_pairs: tuple[np.ndarray, np.ndarray], iou_type: str, images: tuple[int, int],
          mask_sizes: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """IoU of each (detection, object) and (detection, crowd region) pair."""
    if iou_type == "bbox":
        return (box_iou(dets.geometry[:, pairs[0]], objects.geometry[:, pairs[1]], crowd=False),
                box_iou(dets.geometry[:, crowd_pairs[0]], crowds.geometry[:, crowd_pairs[1]], crowd=True))
    first, last = images
    split = _halfway(dets.counts[first:last] * (objects.counts[first:last] + crowds.counts[first:last])) + first
    if int(dets.counts[split:last].sum()) < FORK_MIN_DETECTIONS:
        return _mask_ious(dets, objects, crowds, first, last, mask_sizes)
    with Pending(_mask_ious, dets, objects, crowds, split, last, mask_sizes) as second_half:
        plain, crowd = _mask_ious(dets, objects, crowds, first, split, mask_sizes)
        later_plain, later_crowd = second_half.result()
    return np.concatenate([plain, later_plain]), np.concatenate([crowd, later_crowd])


def _halfway(work: np.ndarray) -> int:
    """The index that splits `work` (per image) into two parts of about equal sum."""
    total = np.cumsum(work)
    return min(int(np.searchsorted(total, total[-1] / 2)) + 1, total.size) if total.size else 0


def _mask_ious(dets: Side, objects: Side, crowds: Side, first: int, last: int,
               mask_sizes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Mask IoU of each (detection, object) and (detection, crowd region) pair of images [first, last), one
    rle_iou call per image, in _pairs' order."""
    plain, crowd = [], []
    for image in range(first, last):
        n_obj, n_crowd = int(objects.counts[image]), int(crowds.counts[image])
        if not dets.counts[image] or not n_obj + n_crowd:
            continue
        size = mask_sizes[image]
        det_geoms = [{"size": size, "counts": counts} for counts in _span(dets.geometry, dets, image)]
        iou = rle_iou(det_geoms, _span(objects.geometry, objects, image) + _span(crowds.geometry, crowds, image),
                      [0] * n_obj + [1] * n_crowd)
        plain.append(iou[:, :n_obj].ravel())
        crowd.append(iou[:, n_obj:].ravel())
    return _joined(plain), _joined(crowd)


def _span(values: Sequence[Any] | Gathered, side: Side, image: int) -> list[Any]:
    start = int(side.starts[image])
    return list(values[start: start + int(side.counts[image])])


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _greedy(pair_det: np.ndarray, pair_obj: np.ndarray, iou: np.ndarray, same: np.ndarray, pos: float,
            target: np.ndarray, matched: np.ndarray) -> None:
    """TIDE's greedy matching: each detection in turn (score order) takes the unmatched object of its class with
    the highest IoU (the first such object on ties) if that IoU is >= pos. Writes target and matched."""
    candidate = np.flatnonzero(same & (iou >= pos))
    if not candidate.size:
        return
    order = np.lexsort((pair_obj[candidate], -iou[candidate], pair_det[candidate]))
    taken: set[int] = set()
    done = -1
    for det, obj in zip(pair_det[candidate[order]].tolist(), pair_obj[candidate[order]].tolist(), strict=True):
        if det == done or obj in taken:
            continue
        taken.add(obj)
        target[det] = obj
        done = det
    matched[list(taken)] = True


def _group_max(values: np.ndarray, group: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(maximum, position of its first occurrence) of `values` in each group (`group`: 0, 0, 1, 1, 1, 2, ...,
    beginning at `starts`), as a row's max() and argmax() (argmax is a position in `values`)."""
    best = np.maximum.reduceat(values, starts)
    at_best = np.flatnonzero(values == best[group])
    first = at_best[np.r_[True, group[at_best[1:]] != group[at_best[:-1]]]]
    return best, first


def _error_tests(rows: np.ndarray, n_objects: np.ndarray, first_object: np.ndarray,
                 pairs: tuple[np.ndarray, np.ndarray], iou: np.ndarray, same: np.ndarray, matched: np.ndarray,
                 pos: float, bg: float, label: np.ndarray, target: np.ndarray) -> None:
    """The error type of each unmatched detection in `rows` (see tide's module docstring), and the object a loc
    or cls error points at. `n_objects`, `first_object`: per row, its image's object count and first object row;
    `pairs`: the (detection, object) pairs of these rows with IoU > 0, detection-major (a pair not listed has
    IoU 0). Writes label and target."""
    unmatched = target[rows] < 0
    label[rows[unmatched & (n_objects == 0)]] = BKG
    # A detection that overlaps none of its image's objects has a row of zero IoUs: its best IoU with its class
    # (0) is in [bg, pos] only when bg is 0, and then it is a loc error pointing at the image's first object
    # (a row of zeros has its argmax there); otherwise its best IoU (0) is <= bg: bkg. Detections with
    # overlapping pairs are labelled again below.
    apart = unmatched & (n_objects > 0)
    if bg <= 0:
        label[rows[apart]] = LOC
        target[rows[apart]] = first_object[apart]
    else:
        label[rows[apart]] = BKG
    pair_det, pair_obj = pairs
    if not pair_det.size:
        return
    new_group = np.r_[True, pair_det[1:] != pair_det[:-1]]
    starts, group = np.flatnonzero(new_group), np.cumsum(new_group) - 1
    det = pair_det[starts]  # detections that overlap an object, in order
    image_start = first_object[pair_det - rows[0]]
    local = pair_obj - image_start  # object's position within its image, as in a per-image IoU matrix
    same_iou, other_iou = np.where(same, iou, 0.0), np.where(same, 0.0, iou)
    best_same, same_at = _group_max(same_iou, group, starts)
    best_other, other_at = _group_max(other_iou, group, starts)
    best_used = np.maximum.reduceat(np.where(matched[pair_obj], same_iou, 0.0), starts)
    best_any = np.maximum.reduceat(iou, starts)
    is_loc = (bg <= best_same) & (best_same <= pos)
    is_cls = best_other >= pos
    errors = np.select([is_loc, is_cls, best_used >= pos, best_any <= bg], [LOC, CLS, DUPE, BKG], BOTH)
    # A row of zeros has its argmax at the image's first object.
    same_local = np.where(best_same > 0, local[same_at], 0)
    other_local = np.where(best_other > 0, local[other_at], 0)
    points_at = np.select([is_loc, is_cls], [same_local, other_local], -1)
    open_ = unmatched[det - rows[0]]
    det = det[open_]
    label[det] = errors[open_]
    points = points_at[open_]
    target[det] = np.where(points >= 0, points + image_start[starts[open_]], -1)
