"""The COCO evaluators we drive: pycocotools (the reference) and faster-coco-eval (the same algorithm with the
per-image matching and accumulation in C++, about 3-4x faster at val2017 scale, identical numbers).

Both are reduced to one call, `Backend.run`, which returns the accumulated arrays (`eval['precision']`,
`eval['recall']`) and the parameters that index them; everything we report is computed from those arrays, so
the two backends can only differ if their arrays differ, and tests/test_evaluation_backends.py checks they do
not. pycocotools prints progress to stdout and takes no way to stop it per call (swapping `sys.stdout` would
silence every other thread of the server too), so it is called as it is and the callers run it only in worker
processes whose stdout is /dev/null (explorer.evaluation.coco.parallel), never in the server's or the command
line's process. faster-coco-eval takes a print function: it gets one that prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from explorer.evaluation.coco.kinds import IouType
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.masks import areas as mask_areas
from explorer.evaluation.masks import to_rle

#: Backend names in order of preference for "auto".
BACKENDS: tuple[str, ...] = ("faster-coco-eval", "pycocotools")


@dataclass(frozen=True)
class EvalArrays:
    """What COCOeval.accumulate() leaves, plus the parameters its axes are indexed by.

    precision: [T, R, K, A, M] (IoU thresholds, recall thresholds, categories, area ranges, max detections);
    recall: [T, K, A, M]; -1 where undefined (no ground truth to find).
    """

    precision: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    area_labels: tuple[str, ...]
    max_dets: tuple[int, ...]
    category_ids: tuple[int, ...]


class Backend(Protocol):
    name: str

    def coco(self, dataset: dict[str, Any]) -> Any:
        """A COCO index over a ground-truth dict (not copied: it may write into the annotations)."""

    def load_results(self, gt: Any, results: list[dict[str, Any]], iou_type: IouType) -> Any:
        """loadRes: a COCO index over results (written into: ids, areas)."""

    def run(self, gt: Any, dt: Any, iou_type: IouType, *, category_ids: Sequence[int],
            iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None,
            kpt_sigmas: np.ndarray | None = None, on_accumulate: Callable[[], None] | None = None) -> EvalArrays:
        """COCOeval evaluate() + accumulate() with these parameters (None: COCO's defaults)."""


def _set_params(params: Any, category_ids: Sequence[int], iou_thresholds: Sequence[float] | None,
                max_dets: Sequence[int] | None, kpt_sigmas: np.ndarray | None) -> None:
    # Category ids explicitly, the same for both backends (faster-coco-eval would take, for keypoints, only
    # categories with annotations; pycocotools all of them).
    params.catIds = sorted(category_ids)
    if iou_thresholds is not None:
        params.iouThrs = np.asarray(iou_thresholds, dtype=float)
    if max_dets is not None:
        params.maxDets = list(max_dets)
    if kpt_sigmas is not None:
        params.kpt_oks_sigmas = np.asarray(kpt_sigmas, dtype=float)


def _arrays(evaluator: Any) -> EvalArrays:
    p = evaluator.params
    return EvalArrays(precision=np.asarray(evaluator.eval["precision"]), recall=np.asarray(evaluator.eval["recall"]),
                      iou_thresholds=np.asarray(p.iouThrs), recall_thresholds=np.asarray(p.recThrs),
                      area_labels=tuple(p.areaRngLbl), max_dets=tuple(int(m) for m in p.maxDets),
                      category_ids=tuple(int(c) for c in p.catIds))


class PycocotoolsBackend:
    """The reference: Piotr Dollár and Tsung-Yi Lin's COCO API, as Detectron and Detectron2 use it."""

    name = "pycocotools"

    def coco(self, dataset: dict[str, Any]) -> Any:
        from pycocotools.coco import COCO

        index = COCO()
        index.dataset = dataset
        index.createIndex()
        return index

    def load_results(self, gt: Any, results: list[dict[str, Any]], iou_type: IouType) -> Any:
        return gt.loadRes(results)

    def run(self, gt: Any, dt: Any, iou_type: IouType, *, category_ids: Sequence[int],
            iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None,
            kpt_sigmas: np.ndarray | None = None, on_accumulate: Callable[[], None] | None = None) -> EvalArrays:
        from pycocotools.cocoeval import COCOeval

        evaluator = COCOeval(gt, dt, iou_type)
        return _evaluate(evaluator, category_ids, iou_thresholds, max_dets, kpt_sigmas, on_accumulate)

    def matches(self, gt: Any, dt: Any, iou_type: IouType, *, category_ids: Sequence[int], iou_threshold: float,
                max_dets: int, kpt_sigmas: np.ndarray | None = None) -> list[tuple[int, int]]:
        """(detection id, ground-truth id) of each detection COCOeval's own evaluate() matches, at one threshold
        and area "all", to an object it does not ignore; by category, then image, then score."""
        from pycocotools.cocoeval import COCOeval

        evaluator = COCOeval(gt, dt, iou_type)
        _set_params(evaluator.params, category_ids, [iou_threshold], [max_dets], kpt_sigmas)
        params = evaluator.params
        params.areaRng, params.areaRngLbl = [params.areaRng[0]], ["all"]
        evaluator.evaluate()
        pairs = []
        for image in filter(None, evaluator.evalImgs):
            for k, dt_id in enumerate(image["dtIds"]):
                gt_id = int(image["dtMatches"][0][k])
                if gt_id and not image["dtIgnore"][0][k]:
                    pairs.append((int(dt_id), gt_id))
        return pairs


class FasterCocoEvalBackend:
    """faster-coco-eval (MiXaiLL76): pycocotools' algorithm with evaluateImg/accumulate in C++."""

    name = "faster-coco-eval"

    def coco(self, dataset: dict[str, Any]) -> Any:
        from faster_coco_eval import COCO

        return COCO(dataset)  # a shallow copy of the dict; the annotation dicts themselves are shared

    def load_results(self, gt: Any, results: list[dict[str, Any]], iou_type: IouType) -> Any:
        """What loadRes builds, with the per-detection work done in batches: faster-coco-eval's loadRes computes
        each mask's area and box with one C++ call per mask, three times slower than pycocotools' batch calls."""
        from faster_coco_eval import COCO

        add_result_fields(results, iou_type)
        return COCO({"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": results})

    def run(self, gt: Any, dt: Any, iou_type: IouType, *, category_ids: Sequence[int],
            iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None,
            kpt_sigmas: np.ndarray | None = None, on_accumulate: Callable[[], None] | None = None) -> EvalArrays:
        if iou_type == "segm":
            attach_rles(gt)
            attach_rles(dt)
        # One IoU thread: its thread pool only adds overhead here (the per-pair work holds the GIL), measured at
        # val2017 scale; separate_eval keeps evaluate and accumulate apart, for progress reports.
        evaluator = _evaluator_class()(gt, dt, iou_type, print_function=_silent, separate_eval=True,
                                       rle_iou_max_workers=1)
        return _evaluate(evaluator, category_ids, iou_thresholds, max_dets, kpt_sigmas, on_accumulate)


def _evaluate(evaluator: Any, category_ids: Sequence[int], iou_thresholds: Sequence[float] | None,
              max_dets: Sequence[int] | None, kpt_sigmas: np.ndarray | None,
              on_accumulate: Callable[[], None] | None) -> EvalArrays:
    """Both backends' COCOeval: our parameters, evaluate, (progress), accumulate, and the arrays we keep."""
    _set_params(evaluator.params, category_ids, iou_thresholds, max_dets, kpt_sigmas)
    evaluator.evaluate()
    if on_accumulate:
        on_accumulate()
    evaluator.accumulate()
    return _arrays(evaluator)


def _evaluator_class() -> type:
    """COCOeval_faster reading the masks' RLE from the `rle` field we filled (attach_rles) instead of having
    faster-coco-eval re-encode every mask in _prepare: at val2017 scale that re-encoding of 500,000 already
    compressed masks was 45% of its mask evaluation. Nothing else changes: _prepare with compute_rle off only
    skips that step, and computeIoU reads `rle` as before."""
    from faster_coco_eval import COCOeval_faster

    class PrecomputedRleEval(COCOeval_faster):  # type: ignore[misc]
        def _prepare(self) -> None:
            compute_rle = self.params.compute_rle
            self.params.compute_rle = False
            try:
                super()._prepare()
            finally:
                self.params.compute_rle = compute_rle

    return PrecomputedRleEval


def attach_rles(index: Any) -> None:
    """Set each annotation's `rle` to its mask as compressed RLE, converted exactly as pycocotools' annToRLE
    converts it, where not set already (GroundTruth.dataset sets it for ground truth, converted once)."""
    for ann in index.anns.values():
        if "rle" not in ann:
            image = index.imgs[ann["image_id"]]
            ann["rle"] = to_rle(ann["segmentation"], image["height"], image["width"])


def add_result_fields(results: list[dict[str, Any]], iou_type: IouType) -> None:
    """Give each result the id, area, bbox and iscrowd that pycocotools' COCO.loadRes gives it, computed the same
    way (same float operations, so the same values), in batches.

    loadRes: bbox -> area w * h; segm -> area of the RLE mask; keypoints -> box spanning the keypoints (x and y
    of all of them, visible or not) and its area. ids are 1..N in order. (loadRes also gives masks their box;
    mask evaluation never reads it, so it is left out here: 10% of the time at val2017 scale.)
    """
    n = len(results)
    if iou_type == "bbox":
        boxes = np.asarray([r["bbox"] for r in results], dtype=float).reshape(n, 4)
        areas = (boxes[:, 2] * boxes[:, 3]).tolist()
        for i, (result, area) in enumerate(zip(results, areas, strict=True)):
            result["area"], result["id"], result["iscrowd"] = area, i + 1, 0
        return
    if iou_type == "segm":
        for i, (result, area) in enumerate(zip(results, mask_areas([r["segmentation"] for r in results]),
                                                strict=True)):
            result["area"], result["id"], result["iscrowd"] = area, i + 1, 0
        return
    points = np.asarray([r["keypoints"] for r in results], dtype=float).reshape(n, -1)
    x, y = points[:, 0::3], points[:, 1::3]
    x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
    areas = ((x1 - x0) * (y1 - y0)).tolist()
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist()
    for i, (result, area, box) in enumerate(zip(results, areas, boxes, strict=True)):
        result["area"], result["bbox"], result["id"] = area, box, i + 1


def _silent(*_: Any, **__: Any) -> None:
    return None


def available_backends() -> list[str]:
    """Installed backends, preferred first."""
    found = []
    for name in BACKENDS:
        module = "faster_coco_eval" if name == "faster-coco-eval" else "pycocotools"
        try:
            __import__(module)
        except ImportError:
            continue
        found.append(name)
    return found


def get_backend(name: str = "auto") -> Backend:
    """The backend called `name`; "auto" is faster-coco-eval when installed, else pycocotools."""
    if name == "auto":
        installed = available_backends()
        if not installed:
            raise EvaluationInputError("no COCO evaluator installed: pip install pycocotools")
        name = installed[0]
    if name == "pycocotools":
        return PycocotoolsBackend()
    if name == "faster-coco-eval":
        if "faster-coco-eval" not in available_backends():
            raise EvaluationInputError("backend faster-coco-eval is not installed: pip install faster-coco-eval")
        return FasterCocoEvalBackend()
    raise EvaluationInputError(f"unknown backend {name!r}: use auto, {', '.join(BACKENDS)}")
