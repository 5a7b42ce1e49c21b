"""What the Evaluation page and the Detections page's evaluation show, computed without Streamlit.

The pages only lay out widgets: they pass uploaded bytes and options here and draw what comes back. Input
errors come back as a message rather than an exception (`Outcome`): the pages cache these results, and a
cache does not keep exceptions, so a bad file would otherwise be parsed again on every rerun.

An evaluation can take seconds to minutes, and the page that asked for it draws a progress bar meanwhile;
so it runs as an `EvaluationTask` on a worker thread, reporting its stage to a `ProgressLog` the page reads.
Nothing here touches a page element: a progress bar is never updated from inside a cached computation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import pandas as pd

from explorer.evaluation.analyses.keypoint_errors import (
    KeypointErrors,
    keypoint_errors_of,
    parse_flip_pairs,
    parse_sigmas,
)
from explorer.evaluation.analyses.tide import classify, load_for_tide, tide_difference, tide_errors
from explorer.evaluation.coco import pipeline
from explorer.evaluation.coco.breakdown import LABELS as BREAKDOWN_LABELS
from explorer.evaluation.coco.results import Evaluation
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import load_ground_truth

#: The summary numbers shown as metrics, where the iou type has them (keypoints have no APs).
KEY_STATS: Final[tuple[str, ...]] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
#: The iou types TIDE's error types (and the ground truth drawn on the image) are defined for.
TIDE_TYPES: Final[tuple[str, ...]] = ("bbox", "segm")


class Outcome(NamedTuple):
    """What one evaluation request gave: the evaluation, or None and the message saying what is wrong with the
    input; with the keypoint error analysis where it was asked for (an analysis of the evaluation, kept beside
    it, not inside it)."""

    evaluation: Evaluation | None
    problem: str | None
    keypoint_errors: KeypointErrors | None = None

#: (name, bytes) of an uploaded (or generated) file.
Source = tuple[str, bytes]


def sorted_ids(image_ids: Sequence[int] | None) -> tuple[int, ...] | None:
    """Image ids as one canonical, hashable key (a cache's), or None for every image."""
    return tuple(sorted(int(i) for i in image_ids)) if image_ids is not None else None


# ---- evaluating -------------------------------------------------------------------------------------------------

def upload_request(ground_truth: Source, results: Source, iou_type: str, *, analysis: bool = False,
                   image_ids: Sequence[int] | None = None,
                   kpt_sigmas: Sequence[float] | None = None) -> pipeline.EvaluationRequest:
    """The one EvaluationRequest for an uploaded ground truth and results file, each (name, bytes): the names
    label the messages, `kpt_sigmas` count for keypoints only. EvaluationInputError for an unknown IoU type."""
    return pipeline.make_request(ground_truth[1], results[1], iou_type, analysis=analysis, image_ids=image_ids,
                                 results_name=results[0], ground_truth_name=ground_truth[0],
                                 kpt_sigmas=kpt_sigmas if kpt_sigmas and iou_type == "keypoints" else None)


def evaluate_uploads(request: pipeline.EvaluationRequest, *, keypoint_errors: bool = False,
                     flip_pairs: Sequence[tuple[str, str]] | None = None, progress: Any = None) -> Outcome:
    """Run `request` (see upload_request); an input error comes back as the message.

    `keypoint_errors` adds the keypoint error analysis to a keypoints evaluation, on the request's inputs and
    options; if only that analysis fails, the evaluation comes back with the message. `flip_pairs`: for keypoints
    other than COCO's. `progress(stage, fraction)` hears the evaluation's stages.
    """
    try:
        evaluation = pipeline.run_request(request, progress)
    except EvaluationInputError as error:
        return Outcome(None, str(error))
    if keypoint_errors and request.iou_type == "keypoints":
        options = request.options
        try:
            errors = keypoint_errors_of(evaluation, request.ground_truth, request.results,
                                        image_ids=options.image_ids, results_name=options.results_name,
                                        kpt_sigmas=options.kpt_sigmas, max_bytes=options.max_bytes,
                                        flip_pairs=[tuple(pair) for pair in flip_pairs] if flip_pairs else None)
        except EvaluationInputError as error:
            return Outcome(evaluation, f"keypoint errors: {error}")
        return Outcome(evaluation, None, errors)
    return Outcome(evaluation, None)


class ProgressLog:
    """The latest (stage, fraction) an evaluation reported; written by its worker thread, read by the page's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: tuple[str, float] = ("starting", 0.0)

    def __call__(self, stage: str, fraction: float) -> None:
        with self._lock:
            self._latest = (stage, min(max(float(fraction), 0.0), 1.0))

    @property
    def latest(self) -> tuple[str, float]:
        with self._lock:
            return self._latest


@dataclass(frozen=True, eq=False)
class EvaluationTask:
    """One evaluation running (or finished) on a worker thread, with the progress it has reported."""

    future: Future[Outcome]
    progress: ProgressLog

    def done(self) -> bool:
        return self.future.done()

    def failed(self) -> bool:
        """Finished by raising (a bug, not an input error): worth computing again rather than keeping."""
        return self.future.done() and not self.future.cancelled() and self.future.exception() is not None

    def outcome(self, timeout: float | None = None) -> Outcome:
        """Wait for the evaluation; raises what it raised."""
        return self.future.result(timeout)


def start_evaluation(executor: Executor, request: pipeline.EvaluationRequest, *, keypoint_errors: bool = False,
                     flip_pairs: Sequence[tuple[str, str]] | None = None) -> EvaluationTask:
    """Start `evaluate_uploads(request, ...)` on `executor` and return at once."""
    progress = ProgressLog()
    future = executor.submit(evaluate_uploads, request, keypoint_errors=keypoint_errors, flip_pairs=flip_pairs,
                             progress=progress)
    return EvaluationTask(future=future, progress=progress)


def annotation_images(ground_truth: bytes, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """The `images` of an uploaded annotation file (for matching uploads by file name), or the input error."""
    try:
        return load_ground_truth(ground_truth, name=name).images, None
    except EvaluationInputError as error:
        return [], str(error)


def unique_names(files: Sequence[Source]) -> list[Source]:
    """(name, bytes) per results file; a repeated name gets " (2)", " (3)" so every file keeps its own entry."""
    seen: dict[str, int] = {}
    named = []
    for name, data in files:
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name} ({seen[name]})", data))
    return named


# ---- one evaluation, as shown -----------------------------------------------------------------------------------

def percent_text(value: float) -> str:
    """A 0..1 value as percent points with one decimal; NaN (nothing to measure) as a dash."""
    return "—" if value != value else f"{100 * value:.1f}"  # NaN != NaN


def summary_caption(evaluation: Evaluation) -> str:
    """What was evaluated against what, how much of it, by which backend and in how long."""
    note = f" · {evaluation.convention}" if evaluation.convention else ""
    return (f"{evaluation.results_name} vs {evaluation.ground_truth_name} · {evaluation.iou_type} · "
            f"{evaluation.n_images} images, {evaluation.n_ground_truth} objects, "
            f"{evaluation.n_detections} detections · {evaluation.backend}{note}, "
            f"{sum(evaluation.seconds.values()):.2f} s")


def key_numbers(evaluation: Evaluation) -> list[tuple[str, str]]:
    """(name, percent text) of the KEY_STATS this evaluation has, in KEY_STATS' order."""
    names = {stat.name for stat in evaluation.summary}
    return [(name, percent_text(evaluation.stat(name))) for name in KEY_STATS if name in names]


def csv_name(evaluation: Evaluation) -> str:
    """per_category-<results stem>.csv, as the CLI names its per-file CSVs."""
    return f"per_category-{results_stem(evaluation.results_name)}.csv"


def results_stem(results_name: str) -> str:
    """A results file's name without folder and .json ("results" when nothing is left), for download names."""
    return results_name.rsplit("/", 1)[-1].removesuffix(".json") or "results"


def breakdown_table(evaluation: Evaluation, area: str) -> pd.DataFrame:
    """The error breakdown's per-category table at one object size, its AP columns as percent text."""
    breakdown = evaluation.breakdown
    if breakdown is None:
        raise ValueError("this evaluation was run without the error breakdown")
    frame = breakdown.to_frame(area)
    for label in BREAKDOWN_LABELS:
        frame[label] = [percent_text(v) for v in frame[label]]
    return frame


# ---- keypoint errors --------------------------------------------------------------------------------------------

def keypoint_options(sigmas_text: str, pairs_text: str) -> tuple[list[float] | None, list[tuple[str, str]] | None]:
    """OKS sigmas and flip pairs as typed (empty: COCO's); EvaluationInputError says what is wrong with the text."""
    sigmas = parse_sigmas(sigmas_text) if sigmas_text.strip() else None
    pairs = parse_flip_pairs(pairs_text) if pairs_text.strip() else None
    return sigmas, pairs


def keypoint_counts(errors: KeypointErrors) -> pd.DataFrame:
    """count and percent per error type, indexed by the type."""
    return errors.counts_frame().set_index("error")


def keypoint_ap_table(errors: KeypointErrors) -> pd.DataFrame:
    """OKS AP and the gain of each correction, as percent-point text, one row per correction."""
    ap = errors.ap_frame()
    return pd.DataFrame({"keypoints": ap["label"], "OKS AP": [f"{100 * v:.1f}" for v in ap["ap"]],
                         "gain (points)": [f"{100 * v:+.1f}" for v in ap["gain"]]})


def keypoint_table(errors: KeypointErrors, percent: bool) -> pd.DataFrame:
    """Error types per keypoint: counts, or percent of each keypoint's labelled instances (one decimal)."""
    table = errors.per_keypoint_frame(percent=percent)
    return table.round(1) if percent else table


def percent_share(value: float) -> str:
    """A percentage (0..100) with one decimal and its sign; NaN as a dash."""
    return "—" if value != value else f"{value:.1f}%"


# ---- TIDE and the ground truth on the image ---------------------------------------------------------------------

def tide_inputs(ground_truth: Source, results: Source, iou_type: str, image_ids: Sequence[int] | None) -> Any:
    """(GroundTruth restricted to `image_ids`, checked results) for TIDE, or the input error's message."""
    try:
        truth = load_ground_truth(ground_truth[1], name=ground_truth[0])
        if image_ids is not None:
            truth = truth.restricted_to(image_ids)
        return load_for_tide(truth, results[1], iou_type, results_name=results[0])
    except EvaluationInputError as error:
        return str(error)


def tide_outcome(loaded: Any, iou_type: str) -> Any:
    """(TideErrors, None) from `tide_inputs`' answer, or (None, its message)."""
    if isinstance(loaded, str):
        return None, loaded
    truth, checked = loaded
    return tide_errors(classify(truth, checked, iou_type), truth.category_names), None


def classification_outcome(loaded: Any, iou_type: str, iou: float, score: float) -> Any:
    """(classification, per-image table, None) at this IoU and score threshold, or (None, None, message)."""
    from explorer.evaluation.analyses.per_image import per_image_table

    if isinstance(loaded, str):
        return None, None, loaded
    truth, checked = loaded
    classification = classify(truth, checked, iou_type, pos_threshold=iou, bg_threshold=min(0.1, iou),
                              score_threshold=score)
    return classification, per_image_table(classification, truth), None


def tide_difference_table(first: Any, second: Any, names: tuple[str, str], error: str) -> pd.DataFrame:
    """A − B dAP for one error type, overall (first row) and per category."""
    frame = tide_difference(first, second, (f"{names[0]} dAP", f"{names[1]} dAP"))
    return frame[frame["error"] == error].drop(columns="error").round(2)


def per_image_rows(table: pd.DataFrame, available: Mapping[int, Any]) -> pd.DataFrame:
    """The per-image table as shown: AP to one decimal, and whether the image itself is at hand."""
    return table.assign(ap=table["ap"].round(1), image=[i in available for i in table["image_id"]])


def shown_row(rows: pd.DataFrame, selected: Sequence[int]) -> int | None:
    """The row to draw: the one clicked, else the first (worst) with an image at hand; None when none has one."""
    if selected:
        return int(selected[0])
    with_image = [i for i, available in enumerate(rows["image"]) if available]
    return with_image[0] if with_image else None


def size_mismatch(expected: tuple[int, int] | None, height: int, width: int, file_name: str) -> str | None:
    """A warning when an image is not the size its annotations say (their boxes would not line up)."""
    if not expected or expected == (height, width):
        return None
    return (f"{file_name} is {width}x{height} but the annotations say {expected[1]}x{expected[0]}: the boxes may "
            "not line up.")


# ---- the confusion matrix ---------------------------------------------------------------------------------------

def confusion_outcome(ground_truth: Source, results: Source, iou_type: str, iou: float, score: float,
                      image_ids: Sequence[int] | None = None) -> Any:
    """(ConfusionMatrix, None), or (None, the input error's message)."""
    from explorer.evaluation.analyses.confusion import confusion_matrix

    try:
        return confusion_matrix(ground_truth[1], results[1], iou_type, iou=iou, score=score,
                                results_name=results[0], ground_truth_name=ground_truth[0],
                                image_ids=list(image_ids) if image_ids is not None else None), None
    except EvaluationInputError as error:
        return None, str(error)


def confusion_overlaps_outcome(ground_truth: Source, results: Source, iou_type: str,
                               image_ids: Sequence[int] | None = None) -> Any:
    """(ConfusionOverlaps, None): what every threshold's confusion matrix shares, read and computed once; or
    (None, the input error's message)."""
    from explorer.evaluation.analyses.confusion import confusion_overlaps

    try:
        return confusion_overlaps(ground_truth[1], results[1], iou_type, results_name=results[0],
                                  ground_truth_name=ground_truth[0],
                                  image_ids=list(image_ids) if image_ids is not None else None), None
    except EvaluationInputError as error:
        return None, str(error)
