"""The COCO evaluators we drive: hotcoco (the default) and pycocotools (the reference).

hotcoco (Derek Allman, MIT, Rust) computes pycocotools' `precision`, `recall` and `scores` arrays bit for bit
(tests/test_evaluation_exactness.py) and was the fastest exact evaluator measured on this machine, about 6x plain
faster-coco-eval and 16x or more pycocotools on the 2,000-image bench set (bench/bench_eval_cores.py; the table and the
other candidates are in README.md). It runs in the caller's process: its speed comes from native code, so the
worker processes we used to split categories over (and their pickled blocks) no longer paid for themselves.

Both are reduced to the same few calls: an index over a dataset, `loadRes`, and a COCOeval whose `params`,
`evaluate()`, `accumulate()`, `eval` and `evalImgs` follow pycocotools' names. Everything we report is computed
from the accumulated arrays (`EvalArrays`), so the two can only differ if their arrays differ, and the tests check
they do not.

pycocotools prints progress with `print()` and has no way to stop it. Swapping `sys.stdout` would silence every
other thread of the server too; instead its printing methods are called as functions whose `print` is a no-op
(`_quiet`: the same code object with its module's globals plus `print`), so nothing it says reaches anyone's
terminal and nothing else changes.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import PreparedGroundTruth
from explorer.evaluation.inputs.result_checks import CheckedResults
from explorer.tasks import IouType

#: Detections as evaluate() hands them over (checked columns), or as COCO results files hold them (dicts).
Results = CheckedResults | list[dict[str, Any]]

#: Backend names, the default first ("auto" means it).
BACKENDS: tuple[str, ...] = ("hotcoco", "pycocotools")
_MODULES = {"hotcoco": "hotcoco", "pycocotools": "pycocotools"}


@dataclass(frozen=True)
class EvalArrays:
    """What COCOeval.accumulate() leaves, plus the parameters its axes are indexed by.

    precision: [T, R, K, A, M] (IoU thresholds, recall thresholds, categories, area ranges, max detections);
    recall: [T, K, A, M]; -1 where undefined (no ground truth to find); scores: [T, R, K, A, M], the score at
    which each precision is reached.
    """

    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    area_labels: tuple[str, ...]
    max_dets: tuple[int, ...]
    category_ids: tuple[int, ...]


@dataclass(frozen=True)
class Run:
    """One COCOeval evaluate + accumulate over the same detections: the ground truth plus `extra_annotations`
    (the error breakdown's ignored copies), with these parameters (None: COCO's defaults)."""

    extra_annotations: Sequence[dict[str, Any]] = ()
    iou_thresholds: Sequence[float] | None = None
    max_dets: Sequence[int] | None = None


class Backend(Protocol):
    name: str

    def coco(self, dataset: dict[str, Any]) -> Any:
        """A COCO index over a ground-truth dict (it may write into the annotations)."""

    def load_results(self, gt: Any, results: Results) -> Any:
        """loadRes: a COCO index over results, numbered 1..N in their order (a list of dicts may be written
        into: ids, areas)."""

    def evaluator(self, gt: Any, dt: Any, iou_type: IouType) -> Any:
        """A COCOeval over the two indexes, with pycocotools' attribute names."""


class HotcocoBackend:
    """hotcoco: pycocotools' algorithm in Rust, its arrays bit for bit."""

    name = "hotcoco"

    def coco(self, dataset: dict[str, Any]) -> Any:
        import hotcoco

        try:
            return hotcoco.COCO(dataset)  # converted into its own storage: the dict is not kept
        except ValueError as error:  # its schema checks, on what GroundTruth.dataset passed on
            raise EvaluationInputError(f"ground truth: {error}") from None

    def load_results(self, gt: Any, results: Results) -> Any:
        """Boxes and masks in hotcoco's array form (one row per detection, no dict each); keypoints as dicts."""
        if isinstance(results, list):
            if results and isinstance(results[0].get("segmentation"), dict):
                _mask_areas([r["segmentation"] for r in results])
            return gt.load_res(results)
        if results.iou_type == "bbox":
            return gt.load_res(results.table())
        if results.iou_type == "segm":
            # Rows without a box (zeros: mask IoU never reads a detection's box, tests/test_evaluation_exactness.py
            # checks the arrays), then each its mask's own area, as loadRes gives it (Detectron2's convention).
            areas = _mask_areas(results.values)
            dt = gt.load_res(results.table(np.zeros((len(results), 4))), segmentation=results.values)
            dt.update_anns(ids=np.arange(1, len(results) + 1), area=areas)
            return dt
        return gt.load_res(results.records())

    def evaluator(self, gt: Any, dt: Any, iou_type: IouType) -> Any:
        import hotcoco

        return hotcoco.COCOeval(gt, dt, iou_type)


def _mask_areas(masks: list[Any]) -> np.ndarray:
    """Each compressed-RLE mask's area, as pycocotools' loadRes gives it, from hotcoco's batch decoder;
    ValueError ("invalid RLE: ...") for a count string that decodes to a negative run or to more pixels than its
    image (hotcoco's loadRes would take it without complaint)."""
    from hotcoco import mask

    return np.asarray(mask.area(masks), dtype=float)


class PycocotoolsBackend:
    """The reference: Piotr Dollár and Tsung-Yi Lin's COCO API, as Detectron and Detectron2 use it (silenced)."""

    name = "pycocotools"

    def coco(self, dataset: dict[str, Any]) -> Any:
        index = _quiet_classes()[0]()
        index.dataset = dataset
        index.createIndex()
        return index

    def load_results(self, gt: Any, results: Results) -> Any:
        return gt.loadRes(results.records() if isinstance(results, CheckedResults) else results)

    def evaluator(self, gt: Any, dt: Any, iou_type: IouType) -> Any:
        return _quiet_classes()[1](gt, dt, iou_type)


def _quiet(function: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """`function` with `print` (and `names`) replaced in the globals it reads: same code, no output."""
    import sys

    scope = {**vars(sys.modules[function.__module__]), "print": _silent, **names}
    quiet = types.FunctionType(function.__code__, scope, function.__name__, function.__defaults__,
                               function.__closure__)
    quiet.__kwdefaults__ = function.__kwdefaults__
    return quiet


@cache
def _quiet_classes() -> tuple[type, type]:
    """pycocotools' COCO and COCOeval, with their printing methods made quiet (loadRes's new index too)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    class QuietCOCO(COCO):  # type: ignore[misc]
        createIndex = _quiet(COCO.createIndex)

    QuietCOCO.loadRes = _quiet(COCO.loadRes, COCO=QuietCOCO)  # type: ignore[method-assign]

    class QuietCOCOeval(COCOeval):  # type: ignore[misc]
        evaluate = _quiet(COCOeval.evaluate)
        accumulate = _quiet(COCOeval.accumulate)

    return QuietCOCO, QuietCOCOeval


def _silent(*_: Any, **__: Any) -> None:
    return None


def _set_params(params: Any, category_ids: Sequence[int], iou_thresholds: Sequence[float] | None,
                max_dets: Sequence[int] | None, kpt_sigmas: np.ndarray | None) -> None:
    # Category ids explicitly, the same for both backends: every category of the ground truth evaluated, also
    # those without objects (NaN rows in the tables), whatever an evaluator's own default would be.
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
                      scores=np.asarray(evaluator.eval["scores"]),
                      iou_thresholds=np.asarray(p.iouThrs, dtype=float),
                      recall_thresholds=np.asarray(p.recThrs, dtype=float),
                      area_labels=tuple(p.areaRngLbl), max_dets=tuple(int(m) for m in p.maxDets),
                      category_ids=tuple(int(c) for c in p.catIds))


def run(backend: Backend, gt: Any, dt: Any, iou_type: IouType, *, category_ids: Sequence[int],
        iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None,
        kpt_sigmas: np.ndarray | None = None, on_accumulate: Callable[[], None] | None = None) -> EvalArrays:
    """COCOeval evaluate() + accumulate() with these parameters (None: COCO's defaults)."""
    evaluator = backend.evaluator(gt, dt, iou_type)
    _set_params(evaluator.params, category_ids, iou_thresholds, max_dets, kpt_sigmas)
    evaluator.evaluate()
    if on_accumulate:
        on_accumulate()
    evaluator.accumulate()
    return _arrays(evaluator)


def ground_truth_index(backend: Backend, truth: PreparedGroundTruth) -> Any:
    """The backend's COCO index over the ground truth `truth` was prepared from, for its IoU type.

    hotcoco's index is native and no evaluation writes into it, so it is built once per GroundTruth and IoU type
    and shared by every later evaluation (GroundTruth.shared_index): many results files against one loaded ground
    truth build it once. A bbox evaluation also takes a segm index already built (it holds every box and area
    bbox reads; Detectron2 shares one COCO object the same way), but does not build one: checking the masks and
    indexing them costs a bbox-only evaluation more than a boxes-only index. pycocotools' COCOeval writes into the
    annotations it is given, so that backend gets a fresh index over fresh dicts every time."""
    if backend.name != "hotcoco":
        return backend.coco(truth.dataset)
    gt = truth.gt
    if truth.iou_type == "bbox" and ("hotcoco", "segm") in gt.index_cache:
        return gt.index_cache[("hotcoco", "segm")]
    return gt.shared_index(("hotcoco", truth.iou_type), lambda: backend.coco(truth.dataset))


def iter_runs(backend: Backend, iou_type: IouType, dataset: dict[str, Any], results: Results,
              category_ids: Sequence[int], runs: Sequence[Run], kpt_sigmas: np.ndarray | None, *,
              on_accumulate: Callable[[], None] | None = None, index: Any = None) -> Iterator[EvalArrays]:
    """Each run's arrays, computed as they are asked for, with one detection index for all runs and one
    ground-truth index per distinct ground truth (the main one built once, or `index`, one already built over
    `dataset`). `results` may be written into (ids, areas) as loadRes does; it is not held once the first run has
    started. `dataset` is read only without `index` or for runs with extra annotations."""
    main_index = backend.coco(dataset) if index is None else index
    dt_index = backend.load_results(main_index, results)
    # The index has its own copy: a caller that lets go of `results` too gets their memory back before the
    # evaluation's own (at 50,000 images the segm count strings and their dicts are ~3 GB).
    del results
    for i, extra in enumerate(runs):
        index = main_index if not extra.extra_annotations else backend.coco(
            dict(dataset, annotations=dataset["annotations"] + list(extra.extra_annotations)))
        yield run(backend, index, dt_index, iou_type, category_ids=category_ids,
                  iou_thresholds=extra.iou_thresholds, max_dets=extra.max_dets, kpt_sigmas=kpt_sigmas,
                  on_accumulate=on_accumulate if i == 0 else None)


def matches(backend: Backend, dataset: dict[str, Any], results: Results, iou_type: IouType, *,
            category_ids: Sequence[int], iou_threshold: float, max_dets: int,
            kpt_sigmas: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(detection id, ground-truth id) of each detection COCOeval's own evaluate() matches, at one threshold and
    area "all", to an object it does not ignore; by category, then image, then score. Detection ids are loadRes's:
    1..N in the order of `results`."""
    gt = backend.coco(dataset)
    evaluator = backend.evaluator(gt, backend.load_results(gt, results), iou_type)
    _set_params(evaluator.params, category_ids, [iou_threshold], [max_dets], kpt_sigmas)
    params = evaluator.params
    params.areaRng, params.areaRngLbl = [list(params.areaRng[0])], ["all"]
    evaluator.evaluate()
    pairs = []
    for image in filter(None, evaluator.evalImgs):
        for k, dt_id in enumerate(image["dtIds"]):
            gt_id = int(image["dtMatches"][0][k])
            if gt_id and not image["dtIgnore"][0][k]:
                pairs.append((int(dt_id), gt_id))
    return pairs


def available_backends() -> list[str]:
    """Installed backends, the default first."""
    found = []
    for name in BACKENDS:
        try:
            __import__(_MODULES[name])
        except ImportError:
            continue
        found.append(name)
    return found


def get_backend(name: str = "auto") -> Backend:
    """The backend called `name`; "auto" is hotcoco when installed, else pycocotools."""
    if name == "auto":
        installed = available_backends()
        if not installed:
            raise EvaluationInputError("no COCO evaluator installed: pip install hotcoco")
        name = installed[0]
    if name not in BACKENDS:
        raise EvaluationInputError(f"unknown backend {name!r}: use auto, {', '.join(BACKENDS)}")
    if name not in available_backends():
        raise EvaluationInputError(f"backend {name} is not installed: pip install {name}")
    return HotcocoBackend() if name == "hotcoco" else PycocotoolsBackend()
