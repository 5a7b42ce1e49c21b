"""`evaluate()`: load, check, run COCOeval, and turn its arrays into an Evaluation, reporting progress by stage.

What to evaluate travels as one `EvaluationRequest` (ground truth, results, IoU type, `EvaluationOptions`);
`evaluate(...)` is the convenient call that builds one, `run_request(request)` does the work.

Stages, in order: "load" (read and check the files, build the indexes), "evaluate" (per-image matching, the long
one), "accumulate", "per-category", "analysis" (only with `analysis=True`: three more COCOeval runs at IoU .1)
and "done". A val2017-size evaluation takes seconds, so the page shows which stage it is in; the callback gets
the stage name and the overall fraction done (0..1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.evaluation.coco.backends import Run, get_backend, ground_truth_index, iter_runs
from explorer.evaluation.coco.breakdown import error_breakdown, relaxed_runs
from explorer.evaluation.coco.metrics import per_category, precision_curves, stat_names, summary
from explorer.evaluation.coco.results import CategoryMetrics, Evaluation, SummaryStat
from explorer.evaluation.collector import collector_paused
from explorer.evaluation.errors import EvaluationInputError, check_iou_type
from explorer.evaluation.inputs.ground_truth import GroundTruth, PreparedGroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import (
    DEFAULT_MAX_BYTES,
    JsonSource,
    parse_json,
    read_bytes,
    read_json,
    source_name,
)
from explorer.evaluation.inputs.result_checks import CheckedResults, check_result_columns, check_rle_strings
from explorer.evaluation.inputs.result_columns import typed_columns
from explorer.tasks import IouType

ProgressCallback = Callable[[str, float], None]

# Where each stage starts, as a fraction of the whole, without and with the error analysis.
_STARTS: dict[bool, dict[str, float]] = {
    False: {"load": 0.0, "evaluate": 0.1, "accumulate": 0.85, "per-category": 0.95, "done": 1.0},
    True: {"load": 0.0, "evaluate": 0.05, "accumulate": 0.4, "per-category": 0.45, "analysis": 0.5, "done": 1.0},
}


@dataclass(frozen=True)
class EvaluationOptions:
    """How to evaluate, beyond what: every option of `evaluate()`.

    `backend` "auto" is hotcoco when installed (pycocotools' numbers bit for bit, several times faster), else
    pycocotools, the reference. `analysis` adds the error breakdown (explorer.evaluation.coco.breakdown).
    `kpt_sigmas`: OKS sigmas when the keypoints are not COCO's 17. `image_ids` restricts the evaluation to those
    images (e.g. the ones a user uploaded and ran a model on). `results_name` / `ground_truth_name` name uploads
    in messages (a path names itself). `max_bytes`: the largest file read.
    """

    backend: str = "auto"
    analysis: bool = False
    kpt_sigmas: tuple[float, ...] | None = None
    image_ids: tuple[int, ...] | None = None
    results_name: str | None = None
    ground_truth_name: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class EvaluationRequest:
    """One evaluation asked for: ground truth (path, bytes, parsed JSON or a GroundTruth), results (path, bytes
    or parsed JSON), the IoU type and the options. Neither input is modified."""

    ground_truth: JsonSource | GroundTruth = field(repr=False)
    results: JsonSource = field(repr=False)
    iou_type: IouType
    options: EvaluationOptions = EvaluationOptions()


def make_request(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox",
                 **options: Any) -> EvaluationRequest:
    """An EvaluationRequest from `evaluate()`'s arguments, its IoU type checked (EvaluationInputError)."""
    unknown = set(options) - set(EvaluationOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown evaluation option(s): {', '.join(sorted(unknown))}")
    for name in ("kpt_sigmas", "image_ids"):
        if options.get(name) is not None:
            options[name] = tuple(options[name])
    return EvaluationRequest(ground_truth, results, check_iou_type(iou_type), EvaluationOptions(**options))


def evaluate(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox", *,
             progress: ProgressCallback | None = None, **options: Any) -> Evaluation:
    """Evaluate `results` against `ground_truth` the way pycocotools does, plus per-category tables.

    Both may be paths, bytes (uploads) or parsed JSON; the ground truth also a GroundTruth from
    `load_ground_truth`. Results must carry the dataset's category ids. `options` are EvaluationOptions' fields
    (backend, analysis, kpt_sigmas, image_ids, results_name, ground_truth_name, max_bytes).
    `progress(stage, fraction)` hears the stages.

    Raises EvaluationInputError for anything wrong with the input, before any evaluator runs.
    """
    return run_request(make_request(ground_truth, results, iou_type, **options), progress)


def run_request(request: EvaluationRequest, progress: ProgressCallback | None = None) -> Evaluation:
    """The evaluation `request` asks for (see `evaluate`), with the cyclic garbage collector paused
    (explorer.evaluation.collector: reading the inputs would set it off over and over)."""
    with collector_paused():
        return _run(request, progress)


def _run(request: EvaluationRequest, progress: ProgressCallback | None) -> Evaluation:
    options, kind = request.options, request.iou_type
    stages = _Stages(progress, options.analysis)
    stages.enter("load")
    engine = get_backend(options.backend)
    gt = load_ground_truth(request.ground_truth, name=options.ground_truth_name, max_bytes=options.max_bytes)
    if options.image_ids is not None:
        gt = gt.restricted_to(options.image_ids)
    truth = gt.prepare(kind, options.kpt_sigmas)
    label = options.results_name or source_name(request.results, "results")
    checked = _read_results(request.results, truth, options, label)
    if kind == "segm" and engine.name == "pycocotools":  # its C decoder would loop on a malformed string
        check_rle_strings(checked, gt.image_sizes, label)
    n_gt = truth.n_gt
    n_dt = dict(zip(*(v.tolist() for v in np.unique(checked.category_ids, return_counts=True)), strict=True))
    runs = [Run()] + (relaxed_runs(truth, checked.records()) if options.analysis else [])
    stages.enter("evaluate")
    with _malformed_rle_is_input_error(label):
        # lazily: the analysis runs after the main numbers, as its own stage
        index = ground_truth_index(engine, truth)  # built once per GroundTruth where the backend allows
        with_extras = truth.dataset if options.analysis else {}  # read only by the analysis' runs (extra objects)
        pending = iter_runs(engine, kind, with_extras, checked, truth.category_ids, runs, truth.kpt_sigmas,
                            on_accumulate=lambda: stages.enter("accumulate"), index=index)
        n_detections = len(checked)
        del checked  # the evaluator's index holds the detections from here on (see iter_runs)
        arrays = next(pending)

    stages.enter("per-category")
    stats, lines = summary(arrays, kind)
    table = per_category(arrays)
    categories = tuple(
        CategoryMetrics(category_id=c, category=gt.category_names[c], supercategory=gt.supercategories[c],
                        n_gt=n_gt[c], n_dt=n_dt.get(c, 0), **{name: float(values[k]) for name, values in table.items()})
        for k, c in enumerate(arrays.category_ids))

    breakdown = None
    if options.analysis:
        stages.enter("analysis")
        relaxed = []
        with _malformed_rle_is_input_error(label):
            for i in range(len(runs) - 1):
                stages.within(i / (len(runs) - 1))
                relaxed.append(next(pending))
        breakdown = error_breakdown(truth, arrays, relaxed)
    stages.enter("done")

    return Evaluation(
        iou_type=kind, backend=engine.name,
        ground_truth_name=_label_of(request.ground_truth, options.ground_truth_name),
        results_name=label, n_images=len(gt.images), n_ground_truth=sum(n_gt.values()), n_detections=n_detections,
        stats=stats,
        summary=tuple(SummaryStat(name=n, value=float("nan") if v == -1 else float(v), line=line)
                      for n, v, line in zip(stat_names(kind), stats, lines, strict=True)),
        categories=categories, iou_thresholds=tuple(float(t) for t in arrays.iou_thresholds),
        recall_thresholds=tuple(float(r) for r in arrays.recall_thresholds), area_labels=arrays.area_labels,
        max_dets=arrays.max_dets[-1], curves=precision_curves(arrays), breakdown=breakdown, seconds=stages.seconds)


def _read_results(source: JsonSource, truth: PreparedGroundTruth, options: EvaluationOptions,
                  label: str) -> CheckedResults:
    """The checked detections of `source`. Boxes and masks from a file or bytes are decoded straight into typed
    columns (msgspec; explorer.evaluation.inputs.result_columns) when the file is all common-case records: the
    whole file as Python dicts, masks included even for bbox, was ~1 KB a detection and most of the memory of a
    50,000-image evaluation. Anything else (or a file that fails a check) goes through json.loads and the
    checks, which give the usual messages."""
    what = options.results_name or "results"
    if truth.iou_type in ("bbox", "segm") and not isinstance(source, list | dict):
        data, named = read_bytes(source, what=what, max_bytes=options.max_bytes)
        columns = typed_columns(data, truth)
        if columns is not None:
            del data
            return CheckedResults.from_columns(truth.iou_type, columns.image_id, columns.category_id, columns.score,
                                               columns.geometry, columns.mask_size)
        parsed = parse_json(data, named)
        del data
    else:
        parsed = read_json(source, what=what, max_bytes=options.max_bytes)
    return check_result_columns(parsed, truth, what=label)


@contextmanager
def _malformed_rle_is_input_error(label: str) -> Iterator[None]:
    """The mask decoder is the one check of compressed-RLE count strings (validating them in Python would
    cost more than the evaluation); its complaints about them are the input's fault, so say so plainly."""
    try:
        yield
    except (RuntimeError, ValueError) as error:
        if "rle" not in str(error).lower():
            raise
        raise EvaluationInputError(f"{label}: a segmentation's compressed RLE counts are malformed ({error})") \
            from error


def _label_of(source: Any, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, GroundTruth):
        return source.name
    return source_name(source, "ground truth")


class _Stages:
    """Reports each stage's start (name, overall fraction) to the callback and times the stages."""

    def __init__(self, progress: ProgressCallback | None, analysis: bool) -> None:
        self.progress = progress
        self.starts = _STARTS[analysis]
        self.seconds: dict[str, float] = {}
        self.current = ""
        self.since = time.perf_counter()

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        if self.current:
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self.since
        self.current, self.since = name, now
        if self.progress:
            self.progress(name, self.starts[name])

    def within(self, fraction: float) -> None:
        """Progress inside the current stage (0..1 of it)."""
        if self.progress:
            names = list(self.starts)
            start = self.starts[self.current]
            end = self.starts[names[names.index(self.current) + 1]]
            self.progress(self.current, start + (end - start) * fraction)
