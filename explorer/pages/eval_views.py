"""Streamlit views of COCO evaluations, shared by the Evaluation page and the Detections page.

`render_evaluation` draws one cached `Evaluation`: its widgets (IoU, categories, sizes) only redraw figures from
the numbers already computed. `evaluate_cached` is the one place evaluations run: an `st.cache_data` function
keyed by the uploaded bytes and the options, so a rerun (any widget change) finds the result in the cache.
`render_annotations_panel` is the Detections page's hook: evaluate what a model found on the uploaded images
against an uploaded annotation file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, Protocol

import numpy as np
import streamlit as st

from explorer.evaluation.analyses.keypoint_errors import with_keypoint_errors
from explorer.evaluation.coco import pipeline
from explorer.evaluation.coco.results import METRIC_COLUMNS, Evaluation, percent_table
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.matching import Match, match_images
from explorer.figures import evaluation as eval_plots
from explorer.tasks import IOU_LABELS

#: The summary numbers shown as metrics, where the iou type has them (keypoints have no APs).
KEY_STATS: Final[tuple[str, ...]] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
#: How many names or ids a "not matched" message lists before it says "and N more".
LISTED: Final[int] = 10

#: (evaluation, None) or (None, the message saying what is wrong with the input).
Outcome = tuple[Evaluation | None, str | None]


# ---- running evaluations ---------------------------------------------------------------------------------

@contextlib.contextmanager
def _outside_cache_capture() -> Iterator[None]:
    """Let a progress bar created *outside* a cached function be updated from inside it.

    st.cache_data records every element call made while its function runs, to replay them on a cache hit; a call
    on a bar the function did not create cannot be replayed (CacheReplayClosureError). The progress updates are
    meant only for the run that computes, so they are made with the recording switched off.
    """
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function
    except ImportError:  # a Streamlit without this switch: still safe, the caller then skips the updates
        yield
        return
    token = in_cached_function.set(False)
    try:
        yield
    finally:
        in_cached_function.reset(token)


def _can_update_from_cache() -> bool:
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function  # noqa: F401
    except ImportError:
        return False
    return True


def progress_callback(bar: Any, label: str) -> Callable[[str, float], None] | None:
    """A `pipeline.evaluate` progress callback moving `bar` (an st.progress) with the stage name in its text."""
    if not _can_update_from_cache():
        return None

    def report(stage: str, fraction: float) -> None:
        with _outside_cache_capture():
            bar.progress(min(max(fraction, 0.0), 1.0), text=f"{label}: {stage}")

    return report


@st.cache_data(show_spinner=False, max_entries=64)
def evaluate_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                    analysis: bool, image_ids: tuple[int, ...] | None = None, keypoint_errors: bool = False,
                    kpt_sigmas: tuple[float, ...] | None = None, flip_pairs: tuple[tuple[str, str], ...] | None = None,
                    _progress: Callable[[str, float], None] | None = None) -> Outcome:
    """Evaluate uploaded bytes, once per (files, options): every later rerun is a cache hit.

    Input errors come back as a message instead of an exception because st.cache_data does not cache
    exceptions: a bad file would otherwise be parsed again on every rerun. `_progress` is not part of the key.
    `keypoint_errors` adds the keypoint error analysis to a keypoints evaluation; if only that analysis fails,
    the evaluation comes back with the message. `kpt_sigmas` / `flip_pairs`: for keypoints other than COCO's.
    """
    ids = list(image_ids) if image_ids is not None else None
    try:
        evaluation = pipeline.evaluate(ground_truth, results, iou_type, analysis=analysis, progress=_progress,
                                       results_name=results_name, ground_truth_name=ground_truth_name,
                                       image_ids=ids, kpt_sigmas=kpt_sigmas if iou_type == "keypoints" else None)
    except EvaluationInputError as error:
        return None, str(error)
    if keypoint_errors and iou_type == "keypoints":
        try:
            evaluation = with_keypoint_errors(evaluation, ground_truth, results, image_ids=ids,
                                              results_name=results_name, kpt_sigmas=kpt_sigmas,
                                              flip_pairs=flip_pairs)
        except EvaluationInputError as error:
            return evaluation, f"keypoint errors: {error}"
    return evaluation, None


@st.cache_data(show_spinner=False, max_entries=8)
def annotation_images(ground_truth: bytes, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """The `images` of an uploaded annotation file (for matching uploads by file name), or the input error."""
    try:
        return pipeline.load_ground_truth(ground_truth, name=name).images, None
    except EvaluationInputError as error:
        return [], str(error)


def run_evaluations(ground_truth: tuple[str, bytes], results: Sequence[tuple[str, bytes]], iou_type: str,
                    analysis: bool = False, image_ids: Sequence[int] | None = None,
                    keypoint_errors: bool = False, kpt_sigmas: Sequence[float] | None = None,
                    flip_pairs: Sequence[tuple[str, str]] | None = None) -> dict[str, Outcome]:
    """Evaluate each results file (name, bytes) against one ground truth, with a progress bar while any is
    computed; a bad file gets its message and the others still run. Cached: a rerun costs almost nothing."""
    gt_name, gt_bytes = ground_truth
    ids = tuple(sorted(int(i) for i in image_ids)) if image_ids is not None else None
    outcomes: dict[str, Outcome] = {}
    slot = st.empty()
    with slot.container():
        bar = st.progress(0.0, text="Evaluating")
        with st.spinner(f"Evaluating {len(results)} results file(s) against {gt_name}…"):
            for name, data in results:
                outcomes[name] = evaluate_cached(gt_bytes, gt_name, data, name, iou_type, analysis, ids,
                                                 keypoint_errors=keypoint_errors,
                                                 kpt_sigmas=tuple(kpt_sigmas) if kpt_sigmas else None,
                                                 flip_pairs=tuple(map(tuple, flip_pairs)) if flip_pairs else None,
                                                 _progress=progress_callback(bar, name))
    slot.empty()
    return outcomes


# ---- one evaluation --------------------------------------------------------------------------------------

def _percent_text(value: float) -> str:
    return "—" if value != value else f"{100 * value:.1f}"  # NaN != NaN


def render_summary(evaluation: Evaluation) -> None:
    """Key numbers as metrics, then pycocotools' own summary lines (what papers and the zoo quote)."""
    st.caption(f"{evaluation.results_name} vs {evaluation.ground_truth_name} · {evaluation.iou_type} · "
               f"{evaluation.n_images} images, {evaluation.n_ground_truth} objects, "
               f"{evaluation.n_detections} detections · {evaluation.backend}, "
               f"{sum(evaluation.seconds.values()):.2f} s")
    names = {stat.name for stat in evaluation.summary}
    shown = [name for name in KEY_STATS if name in names]
    for column, name in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(name, _percent_text(evaluation.stat(name)))
    st.code(evaluation.summary_text(), language=None)


def render_evaluation(evaluation: Evaluation, key_prefix: str) -> None:
    """Everything about one evaluation: summary, per-category table (CSV as the CLI writes it) and figures.

    Every option here only redraws from `evaluation`; the caller passes a cached Evaluation so no widget change
    evaluates again. `key_prefix` keeps widget keys apart when several evaluations are on one page.
    """
    render_summary(evaluation)
    labels = ["Per category", "Precision-recall", "By object size"]
    if evaluation.breakdown is not None:
        labels.append("Error breakdown")
    if evaluation.keypoint_errors is not None:
        labels.append("Keypoint errors")
    tabs = st.tabs(labels)
    with tabs[0]:
        _per_category(evaluation, key_prefix)
    with tabs[1]:
        _pr_curves(evaluation, key_prefix)
    with tabs[2]:
        st.plotly_chart(eval_plots.area_ap_figure(evaluation), key=f"{key_prefix}:area_chart")
    if evaluation.breakdown is not None:
        with tabs[3]:
            _breakdown(evaluation, key_prefix)
    if evaluation.keypoint_errors is not None:
        from explorer.pages.keypoint_views import render_keypoint_errors

        with tabs[-1]:
            render_keypoint_errors(evaluation.keypoint_errors, key_prefix)


def csv_name(evaluation: Evaluation) -> str:
    """per_category-<results stem>.csv, as the CLI names its per-file CSVs."""
    stem = evaluation.results_name.rsplit("/", 1)[-1].removesuffix(".json") or "results"
    return f"per_category-{stem}.csv"


def _per_category(evaluation: Evaluation, key_prefix: str) -> None:
    table = percent_table(evaluation)
    st.dataframe(table, hide_index=True, key=f"{key_prefix}:table")
    st.download_button("Per-category CSV", table.to_csv(index=False), csv_name(evaluation), "text/csv",
                       key=f"{key_prefix}:csv")
    metric = st.selectbox("Metric", list(METRIC_COLUMNS), format_func=eval_plots.METRIC_TITLES.get,
                          key=f"{key_prefix}:metric")
    st.plotly_chart(eval_plots.category_ap_figure(evaluation, metric), key=f"{key_prefix}:category_chart")


def _pr_curves(evaluation: Evaluation, key_prefix: str) -> None:
    cols = st.columns([1, 1, 3])
    iou = cols[0].selectbox("IoU threshold", list(evaluation.iou_thresholds), format_func=lambda t: f"{t:.2f}",
                            key=f"{key_prefix}:pr_iou")
    area = cols[1].selectbox("Object size", list(evaluation.area_labels), key=f"{key_prefix}:pr_area")
    names = {row.category_id: row.category for row in evaluation.categories}
    chosen = cols[2].multiselect("Categories (besides the mean over all)", list(names), format_func=names.get,
                                 key=f"{key_prefix}:pr_categories")
    st.plotly_chart(eval_plots.pr_curves_figure(evaluation, iou, chosen, area), key=f"{key_prefix}:pr_chart")


def _breakdown(evaluation: Evaluation, key_prefix: str) -> None:
    breakdown = evaluation.breakdown
    assert breakdown is not None
    names = dict(zip(breakdown.category_ids, breakdown.category_names, strict=True))
    cols = st.columns(2)
    category = cols[0].selectbox("Category", [None, *names], format_func=lambda c: (
        "all categories (mean)" if c is None else names[c]), key=f"{key_prefix}:bd_category")
    area = cols[1].selectbox("Object size", list(breakdown.area_labels), key=f"{key_prefix}:bd_area")
    st.caption("Each band is the AP lost to one kind of error: C75/C50 are PR at IoU .75/.50, Loc forgives "
               "localisation (IoU .1), Sim confusion within a supercategory, Oth any class confusion, BG all "
               "background false positives, FN the objects never detected.")
    left, right = st.columns(2)
    left.plotly_chart(eval_plots.breakdown_figure(breakdown, category, area), key=f"{key_prefix}:bd_chart")
    right.plotly_chart(eval_plots.breakdown_gains_figure(breakdown, area), key=f"{key_prefix}:bd_gains")
    frame = breakdown.to_frame(area)
    for label in eval_plots.BREAKDOWN_LABELS:
        frame[label] = [_percent_text(v) for v in frame[label]]
    st.dataframe(frame, hide_index=True, key=f"{key_prefix}:bd_table")


# ---- the Detections page's panel ----------------------------------------------------------------------------

class NamedImage(Protocol):
    name: str


class Run(Protocol):
    name: str
    uid: str
    detections: list[Any]


def _few(values: Sequence[Any]) -> str:
    listed = ", ".join(str(v) for v in values[:LISTED])
    return listed + (f" and {len(values) - LISTED} more" if len(values) > LISTED else "")


def report_match(match: Match, n_annotated: int) -> None:
    """Say plainly which uploads were matched and which were not, on both sides."""
    (st.success if match.pairs else st.warning)(match.summary() + ".")
    if match.uploads_without_annotations:
        st.warning(f"Uploaded images without annotations (not evaluated): {_few(match.uploads_without_annotations)}"
                   + (f" — ambiguous names: {_few(match.ambiguous_uploads)}" if match.ambiguous_uploads else ""),
                   icon=":material/image_not_supported:")
    if match.annotations_without_uploads:
        st.info(f"{len(match.annotations_without_uploads)} of the {n_annotated} annotated images were not uploaded "
                f"and are left out of the evaluation (image ids {_few(match.annotations_without_uploads)}).",
                icon=":material/info:")


def supported_iou_types(detections: Sequence[Any]) -> list[str]:
    """bbox always; segm when the model produced masks; keypoints when it produced keypoints."""
    kinds = ["bbox"]
    if any(d.masks is not None for d in detections):
        kinds.append("segm")
    if any(d.keypoints is not None for d in detections):
        kinds.append("keypoints")
    return kinds


def run_results(images: Sequence[NamedImage], run: Run, match: Match) -> bytes:
    """One run's detections on the matched images as a COCO results json, with the annotation file's image ids."""
    index = {}
    for i, image in enumerate(images):
        index.setdefault(image.name, i)
    results = [entry for name, image_id in match.pairs for entry in run.detections[index[name]].to_coco_results(
        image_id)]
    return json.dumps(results).encode()


def render_annotations_panel(images: Sequence[NamedImage], runs: Sequence[Run], key_prefix: str) -> None:
    """Evaluate the runs on the uploaded images against an uploaded COCO annotation file (matched by file name).

    Only the matched images are evaluated (`image_ids`), so annotated images the user did not upload do not
    count as missed objects. Each run is evaluated for the iou types its model supports, once (cached).
    """
    st.subheader("Evaluate against annotations")
    upload = st.file_uploader("COCO annotations json for these images (e.g. instances_val2017.json)", type=["json"],
                              key=f"{key_prefix}:annotations")
    if upload is None:
        st.caption("Upload the annotation file the images come from to get COCO AP for each model. Images are "
                   "matched to the file's `images` by file name.")
        return
    gt = (upload.name, upload.getvalue())
    annotated, error = annotation_images(gt[1], gt[0])
    if error:
        st.error(error, icon=":material/error:")
        return
    match = match_images(annotated, [image.name for image in images])
    report_match(match, len(annotated))
    if not match.pairs:
        return
    pixels = _matched_pixels(images, match)
    for run in runs:
        st.markdown(f"#### {run.name}")
        kinds = supported_iou_types(run.detections)
        kind = st.radio("Evaluate", kinds, format_func=IOU_LABELS.get, horizontal=True,
                        key=f"{key_prefix}:{run.uid}:iou_type")
        name = f"{run.uid}.json"
        results = run_results(images, run, match)
        outcome = run_evaluations(gt, [(name, results)], kind, image_ids=match.image_ids,
                                  keypoint_errors=True)[name]
        evaluation, problem = outcome
        if problem:
            st.error(f"{run.name}: {problem}", icon=":material/error:")
        if evaluation is None:
            continue
        render_evaluation(evaluation, f"{key_prefix}:{run.uid}:{kind}")
        _error_sections(gt, (name, results), kind, f"{key_prefix}:{run.uid}:{kind}", match, pixels)


def _matched_pixels(images: Sequence[Any], match: Match) -> dict[int, np.ndarray]:
    """image id -> RGB of the uploads matched to the annotations (the first upload of a name, as matched)."""
    by_name: dict[str, Any] = {}
    for image in images:
        by_name.setdefault(image.name, image)
    pixels = {image_id: getattr(by_name[name], "rgb", None) for name, image_id in match.pairs}
    return {image_id: rgb for image_id, rgb in pixels.items() if rgb is not None}


def _error_sections(gt: tuple[str, bytes], results: tuple[str, bytes], kind: str, key_prefix: str, match: Match,
                    pixels: dict[int, np.ndarray]) -> None:
    """TIDE's error types, the ground truth drawn on the uploaded images and the confusion matrix, for one run."""
    from explorer.pages import confusion_view, tide_views

    loaders = {image_id: (lambda rgb=rgb: rgb) for image_id, rgb in pixels.items()}
    tide_views.render_tide(gt, results, kind, key_prefix, image_ids=match.image_ids)
    tide_views.render_ground_truth(gt, results, kind, key_prefix, loaders, image_ids=match.image_ids)
    confusion_view.render_confusion(gt, results, kind, key_prefix, image_ids=match.image_ids, images=pixels)
