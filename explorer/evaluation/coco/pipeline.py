"""`evaluate()`: load, check, run COCOeval, and turn its arrays into an Evaluation, reporting progress by stage.

Stages, in order: "load" (read and check the files, build the indexes), "evaluate" (per-image matching, the long
one), "accumulate", "per-category", "analysis" (only with `analysis=True`: three more COCOeval runs at IoU .1)
and "done". A val2017-size evaluation takes tens of seconds even on the fast backend, so the page shows which
stage it is in; the callback gets the stage name and the overall fraction done (0..1). With worker processes
(explorer.evaluation.coco.parallel) the main and the analysis runs all happen during "evaluate", reported as each
worker finishes; "accumulate" and "analysis" then only assemble.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from explorer.evaluation.coco.backends import get_backend
from explorer.evaluation.coco.breakdown import error_breakdown, relaxed_runs
from explorer.evaluation.coco.kinds import IouType, check_iou_type, stat_names
from explorer.evaluation.coco.metrics import per_category, precision_curves, summary
from explorer.evaluation.coco.parallel import Run, WorkerPool, default_workers, iter_runs, make_blocks, split_categories
from explorer.evaluation.coco.results import CategoryMetrics, Evaluation, SummaryStat
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource, read_json, source_name
from explorer.evaluation.inputs.result_checks import check_results, check_rle_strings

ProgressCallback = Callable[[str, float], None]

# Where each stage starts, as a fraction of the whole, without and with the error analysis.
_STARTS: dict[bool, dict[str, float]] = {
    False: {"load": 0.0, "evaluate": 0.1, "accumulate": 0.85, "per-category": 0.95, "done": 1.0},
    True: {"load": 0.0, "evaluate": 0.05, "accumulate": 0.4, "per-category": 0.45, "analysis": 0.5, "done": 1.0},
}


def evaluate(ground_truth: JsonSource | GroundTruth, results: JsonSource, iou_type: IouType | str = "bbox", *,
             backend: str = "auto", analysis: bool = False, progress: ProgressCallback | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, kpt_sigmas: Sequence[float] | None = None,
             results_name: str | None = None, ground_truth_name: str | None = None,
             image_ids: Sequence[int] | None = None, workers: int | None = None) -> Evaluation:
    """Evaluate `results` against `ground_truth` the way pycocotools does, plus per-category tables.

    Both may be paths, bytes (uploads) or parsed JSON; the ground truth also a GroundTruth from
    `load_ground_truth`. Results must carry the dataset's category ids. `image_ids` restricts the evaluation
    to those images (e.g. `match_images(...).image_ids`: the ones a user uploaded and ran a model on).
    `backend` "auto" uses faster-coco-eval when installed (same numbers, several times faster), else
    pycocotools. `analysis` adds the error breakdown (see explorer.evaluation.coco.breakdown). `kpt_sigmas`: OKS
    sigmas when the keypoints are not COCO's 17. `results_name` / `ground_truth_name` name uploads in messages
    (a path names itself). `workers`: processes to split the categories over (explorer.evaluation.coco.parallel;
    the same numbers exactly); None: one per CPU for large evaluations, in-process for small ones.

    Raises EvaluationInputError for anything wrong with the input, before any evaluator runs.
    """
    stages = _Stages(progress, analysis)
    stages.enter("load")
    kind = check_iou_type(iou_type)
    engine = get_backend(backend)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise EvaluationInputError(f"workers must be a positive integer, got {workers!r}")
    gt = load_ground_truth(ground_truth, name=ground_truth_name, max_bytes=max_bytes)
    if image_ids is not None:
        gt = gt.restricted_to(image_ids)
    truth = gt.prepare(kind, kpt_sigmas)
    label = results_name or source_name(results, "results")
    data = read_json(results, what=results_name or "results", max_bytes=max_bytes)
    n_workers = workers or default_workers(len(data) if isinstance(data, list) else 0)
    # pycocotools only prints to stdout: it always runs in a worker process, where that cannot reach the server's
    # or the command line's stdout.
    in_process = n_workers == 1 and engine.name != "pycocotools"
    with contextlib.ExitStack() as stack:
        pool = None if in_process else stack.enter_context(WorkerPool(n_workers))  # starts while we check
        checked = check_results(data, truth, what=label)
        if kind == "segm" and engine.name == "pycocotools":  # its C decoder would loop on a malformed string
            check_rle_strings(checked, gt.image_sizes, label)
        n_gt = truth.n_gt
        n_dt = Counter(det["category_id"] for det in checked)
        runs = [Run()] + (relaxed_runs(truth, checked) if analysis else [])
        stages.enter("evaluate")
        with _malformed_rle_is_input_error(label):
            if pool is None:  # lazily: the analysis runs after the main numbers, as its own stage
                pending = iter_runs(engine, kind, truth.dataset, checked, truth.category_ids, runs, truth.kpt_sigmas,
                                    on_accumulate=lambda: stages.enter("accumulate"))
                arrays = next(pending)
            else:
                weights = {c: n_dt[c] + n_gt[c] for c in truth.category_ids}
                blocks = make_blocks(engine.name, truth, checked,
                                     split_categories(weights, n_workers, set(n_dt)), runs)
                arrays, *rest = pool.evaluate(blocks, on_block=stages.within)
                pending = iter(rest)
                stages.enter("accumulate")

    stages.enter("per-category")
    stats, lines = summary(arrays, kind)
    table = per_category(arrays)
    categories = tuple(
        CategoryMetrics(category_id=c, category=gt.category_names[c], supercategory=gt.supercategories[c],
                        n_gt=n_gt[c], n_dt=n_dt[c], **{name: float(values[k]) for name, values in table.items()})
        for k, c in enumerate(arrays.category_ids))

    breakdown = None
    if analysis:
        stages.enter("analysis")
        relaxed = []
        with _malformed_rle_is_input_error(label):
            for i in range(len(runs) - 1):
                stages.within(i / (len(runs) - 1))
                relaxed.append(next(pending))
        breakdown = error_breakdown(truth, arrays, relaxed)
    stages.enter("done")

    return Evaluation(
        iou_type=kind, backend=engine.name, ground_truth_name=_label_of(ground_truth, ground_truth_name),
        results_name=label, n_images=len(gt.images), n_ground_truth=sum(n_gt.values()), n_detections=len(checked),
        stats=stats,
        summary=tuple(SummaryStat(name=n, value=float("nan") if v == -1 else float(v), line=line)
                      for n, v, line in zip(stat_names(kind), stats, lines, strict=True)),
        categories=categories, iou_thresholds=tuple(float(t) for t in arrays.iou_thresholds),
        recall_thresholds=tuple(float(r) for r in arrays.recall_thresholds), area_labels=arrays.area_labels,
        max_dets=arrays.max_dets[-1], curves=precision_curves(arrays), breakdown=breakdown, seconds=stages.seconds)


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
