"""Streamlit views of COCO evaluations, shared by the Evaluation page and the Detections page.

`render_evaluation` draws one `Evaluation`: its widgets (IoU, categories, sizes) only redraw figures from the
numbers already computed. `run_evaluations` is the one place evaluations start: each runs as a task on a worker
thread (explorer.evaluation.report), kept per (uploaded bytes, options) in `st.cache_resource`, so a rerun (any
widget change) finds it, finished or still running; the page only polls it to move a progress bar it owns.
`render_annotations_panel` is the Detections page's hook: evaluate what a model found on the uploaded images
against an uploaded annotation file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import streamlit as st

from explorer.evaluation import report
from explorer.evaluation import uploaded_images as uploaded
from explorer.evaluation.analyses.keypoint_errors import KeypointErrors
from explorer.evaluation.coco.results import METRIC_COLUMNS, Evaluation, percent_table
from explorer.evaluation.inputs.matching import Match, match_images
from explorer.evaluation.report import EvaluationTask, Outcome
from explorer.figures import evaluation as eval_plots
from explorer.tasks import IOU_LABELS

#: How often a page waiting for evaluations moves its progress bar.
POLL_S: Final[float] = 0.1
#: Evaluations of different requests running at once on the server (each may use worker processes itself).
EVALUATION_THREADS: Final[int] = 4


# ---- running evaluations ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _evaluation_threads() -> ThreadPoolExecutor:
    """The server's evaluation workers, shared by every session."""
    return ThreadPoolExecutor(max_workers=EVALUATION_THREADS, thread_name_prefix="evaluation")


@st.cache_resource(show_spinner=False, max_entries=64, validate=lambda task: not task.failed())
def evaluation_task(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                    analysis: bool, image_ids: tuple[int, ...] | None = None, keypoint_errors: bool = False,
                    kpt_sigmas: tuple[float, ...] | None = None,
                    flip_pairs: tuple[tuple[str, str], ...] | None = None) -> EvaluationTask:
    """One evaluation per (files, options), started once; a task that crashed is started afresh next time."""
    request = report.upload_request((ground_truth_name, ground_truth), (results_name, results), iou_type,
                                    analysis=analysis, image_ids=image_ids, kpt_sigmas=kpt_sigmas)
    return report.start_evaluation(_evaluation_threads(), request, keypoint_errors=keypoint_errors,
                                   flip_pairs=flip_pairs)


@st.cache_data(show_spinner=False, max_entries=8)
def annotation_images(ground_truth: bytes, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """The `images` of an uploaded annotation file (for matching uploads by file name), or the input error."""
    return report.annotation_images(ground_truth, name)


def run_evaluations(ground_truth: tuple[str, bytes], results: Sequence[tuple[str, bytes]], iou_type: str,
                    analysis: bool = False, image_ids: Sequence[int] | None = None,
                    keypoint_errors: bool = False, kpt_sigmas: Sequence[float] | None = None,
                    flip_pairs: Sequence[tuple[str, str]] | None = None) -> dict[str, Outcome]:
    """Evaluate each results file (name, bytes) against one ground truth, with a progress bar while any is
    computed; a bad file gets its message and the others still run. A rerun finds the same tasks."""
    gt_name, gt_bytes = ground_truth
    tasks = {name: evaluation_task(gt_bytes, gt_name, data, name, iou_type, analysis, report.sorted_ids(image_ids),
                                   keypoint_errors=keypoint_errors,
                                   kpt_sigmas=tuple(kpt_sigmas) if kpt_sigmas else None,
                                   flip_pairs=tuple(map(tuple, flip_pairs)) if flip_pairs else None)
             for name, data in results}
    slot = st.empty()  # drawn on every run, so the elements after it keep their place (and open tabs) on reruns
    if not all(task.done() for task in tasks.values()):
        with slot.container():
            _follow(tasks, f"Evaluating {len(results)} results file(s) against {gt_name}…")
    slot.empty()
    return {name: task.outcome() for name, task in tasks.items()}


def _follow(tasks: dict[str, EvaluationTask], message: str) -> None:
    """A progress bar (the first unfinished file's stage) until every task has finished."""
    bar = st.progress(0.0, text="Evaluating")
    with st.spinner(message):
        while unfinished := [(name, task) for name, task in tasks.items() if not task.done()]:
            name, task = unfinished[0]
            stage, fraction = task.progress.latest
            bar.progress(fraction, text=f"{name}: {stage}")
            time.sleep(POLL_S)


# ---- one evaluation --------------------------------------------------------------------------------------

def render_summary(evaluation: Evaluation) -> None:
    """Key numbers as metrics, then pycocotools' own summary lines (what papers and the zoo quote)."""
    st.caption(report.summary_caption(evaluation))
    numbers = report.key_numbers(evaluation)
    for column, (name, text) in zip(st.columns(len(numbers)), numbers, strict=True):
        column.metric(name, text)
    st.code(evaluation.summary_text(), language=None)


def render_evaluation(evaluation: Evaluation, key_prefix: str,
                      keypoint_errors: KeypointErrors | None = None) -> None:
    """Everything about one evaluation: summary, per-category table (CSV as the CLI writes it) and figures.

    Every option here only redraws from `evaluation`; the caller passes a cached Evaluation so no widget change
    evaluates again. `key_prefix` keeps widget keys apart when several evaluations are on one page.
    `keypoint_errors`: its keypoint error analysis, where one was made (a tab of its own).
    """
    render_summary(evaluation)
    labels = ["Per category", "Precision-recall", "By object size"]
    if evaluation.breakdown is not None:
        labels.append("Error breakdown")
    if keypoint_errors is not None:
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
    if keypoint_errors is not None:
        from explorer.views.keypoint_views import render_keypoint_errors

        with tabs[-1]:
            render_keypoint_errors(keypoint_errors, key_prefix)


def _per_category(evaluation: Evaluation, key_prefix: str) -> None:
    table = percent_table(evaluation)
    st.dataframe(table, hide_index=True, key=f"{key_prefix}:table")
    st.download_button("Per-category CSV", table.to_csv(index=False), report.csv_name(evaluation), "text/csv",
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
    st.dataframe(report.breakdown_table(evaluation, area), hide_index=True, key=f"{key_prefix}:bd_table")


# ---- the Detections page's panel ----------------------------------------------------------------------------

def report_match(match: Match, n_annotated: int) -> None:
    """Say plainly which uploads were matched and which were not, on both sides."""
    said = uploaded.match_report(match, n_annotated)
    (st.success if said.matched_any else st.warning)(said.summary)
    if said.uploads_left_out:
        st.warning(said.uploads_left_out, icon=":material/image_not_supported:")
    if said.annotations_left_out:
        st.info(said.annotations_left_out, icon=":material/info:")


def render_annotations_panel(images: Sequence[uploaded.NamedImage], runs: Sequence[uploaded.Run],
                             key_prefix: str, use_thresholds: Any = None) -> None:
    """Evaluate the runs on the uploaded images against an uploaded COCO annotation file (matched by file name).

    Only the matched images are evaluated (`image_ids`), so annotated images the user did not upload do not
    count as missed objects. Each run is evaluated for the iou types its model supports, once (cached).
    `use_thresholds(overall, per_class)`: the page's hook for the operating point's "use this threshold" buttons.
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
    pixels = uploaded.matched_pixels(images, match)
    for run in runs:
        st.markdown(f"#### {run.name}")
        kinds = uploaded.supported_iou_types(run.detections)
        kind = st.radio("Evaluate", kinds, format_func=IOU_LABELS.get, horizontal=True,
                        key=f"{key_prefix}:{run.uid}:iou_type")
        name = f"{run.uid}.json"
        results = uploaded.run_results(images, run, match)
        outcome = run_evaluations(gt, [(name, results)], kind, image_ids=match.image_ids,
                                  keypoint_errors=True)[name]
        evaluation, problem, errors = outcome
        if problem:
            st.error(f"{run.name}: {problem}", icon=":material/error:")
        if evaluation is None:
            continue
        render_evaluation(evaluation, f"{key_prefix}:{run.uid}:{kind}", keypoint_errors=errors)
        _error_sections(gt, (name, results), kind, f"{key_prefix}:{run.uid}:{kind}", match, pixels)
        from explorer.views.score_sections import render_score_sections

        render_score_sections(gt, (name, results), kind, f"{key_prefix}:{run.uid}:{kind}", image_ids=match.image_ids,
                              on_use=use_thresholds)


def _error_sections(gt: tuple[str, bytes], results: tuple[str, bytes], kind: str, key_prefix: str, match: Match,
                    pixels: dict[int, Any]) -> None:
    """TIDE's error types, the ground truth drawn on the uploaded images and the confusion matrix, for one run."""
    from explorer.views import confusion_view, tide_views

    loaders = uploaded.loaders_of(pixels)
    tide_views.render_tide(gt, results, kind, key_prefix, image_ids=match.image_ids)
    tide_views.render_ground_truth(gt, results, kind, key_prefix, loaders, image_ids=match.image_ids)
    confusion_view.render_confusion(gt, results, kind, key_prefix, image_ids=match.image_ids, images=pixels)
