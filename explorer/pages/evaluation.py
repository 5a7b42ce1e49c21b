"""Evaluation: COCO AP of results files (the zoo's published boxes / masks / keypoints json, or our `predict`
output) against an annotation file, without running any model.

Evaluating runs only after Evaluate is pressed, and through `eval_views.run_evaluations`: the request (files and
options) is remembered in session state, so every later rerun (a chart option, another file in the selectbox)
redraws from cached evaluations. A bad results file gets its own error message; the others are still evaluated.
"""

from __future__ import annotations

from typing import Any, Final

import streamlit as st

from explorer.evaluation import report
from explorer.evaluation.coco.frames import category_matrix, difference_frame
from explorer.evaluation.coco.kinds import IOU_TYPES
from explorer.evaluation.uploaded_images import LazyImages
from explorer.figures import evaluation as eval_plots
from explorer.tasks import IOU_LABELS
from explorer.views import confusion_view, eval_views, keypoint_views, tide_views

REQUEST_KEY: Final[str] = "evaluation:request"


def _signature(gt: Any, files: list[Any], iou_type: str, analysis: bool, *options: Any) -> tuple[Any, ...]:
    """What an Evaluate press evaluated: the uploads (by Streamlit's file ids) and the options."""
    return (gt.file_id, tuple(f.file_id for f in files), iou_type, analysis, *options)


def render() -> None:
    st.title("Evaluate COCO results")
    st.caption("COCO AP of detection results files against an annotation file, computed the way pycocotools "
               "does; nothing is run on a model. Works with the zoo's published results json and with the "
               "results the Detections page or `explorer predict` write.")
    left, right = st.columns(2)
    gt = left.file_uploader("Annotations (COCO json, e.g. instances_val2017.json)", type=["json"],
                            key="evaluation:gt")
    files = list(right.file_uploader("Results (one or more COCO results json)", type=["json"],
                                     accept_multiple_files=True, key="evaluation:results") or [])
    cols = st.columns([2, 2, 1])
    iou_type = cols[0].radio("IoU type", list(IOU_TYPES), format_func=IOU_LABELS.get,
                             horizontal=True, key="evaluation:iou_type")
    analysis = cols[1].checkbox("Error breakdown (slower)", key="evaluation:analysis",
                                help="Where the AP goes: C75, C50, localisation, similar-class and other-class "
                                     "confusion, background, missed objects. About four times the work. For "
                                     "keypoints also the keypoint error types (jitter, inversion, swap, miss) "
                                     "and the AP each costs.")
    pressed = cols[2].button("Evaluate", type="primary", disabled=gt is None or not files, key="evaluation:run")
    keypoint_options = keypoint_views.keypoint_inputs("evaluation") if iou_type == "keypoints" else (None, None)
    if gt is None or not files:
        st.info("Upload an annotation file and at least one results file, then press Evaluate.")
        return
    if keypoint_options is None:
        return
    signature = _signature(gt, files, iou_type, analysis, *map(str, keypoint_options))
    if pressed:
        st.session_state[REQUEST_KEY] = signature
    if st.session_state.get(REQUEST_KEY) != signature:
        st.caption("Press Evaluate to compute AP for the uploaded files with these options.")
        return
    sigmas, flip_pairs = keypoint_options
    named = report.unique_names([(upload.name, upload.getvalue()) for upload in files])
    outcomes = eval_views.run_evaluations((gt.name, gt.getvalue()), named, iou_type, analysis,
                                          keypoint_errors=analysis, kpt_sigmas=sigmas, flip_pairs=flip_pairs)
    for name, (_, problem) in outcomes.items():
        if problem:
            st.error(f"{name}: {problem}", icon=":material/error:")
    evaluations = {name: evaluation for name, (evaluation, _) in outcomes.items() if evaluation is not None}
    if not evaluations:
        return
    shown = _one_file(evaluations)
    sources = dict(named)
    gt_source = (gt.name, gt.getvalue())
    tide_views.render_tide(gt_source, (shown, sources[shown]), iou_type, f"evaluation:{shown}")
    images = tide_views.image_sources(gt_source, (shown, sources[shown]), iou_type, "evaluation")
    tide_views.render_ground_truth(gt_source, (shown, sources[shown]), iou_type, f"evaluation:{shown}", images)
    annotated, _ = eval_views.annotation_images(gt.getvalue(), gt.name)
    confusion_view.render_confusion(gt_source, (shown, sources[shown]), iou_type, f"evaluation:{shown}",
                                    images=LazyImages(images) if images else None,
                                    annotated_images=annotated)
    if len(evaluations) > 1:
        a, b = _comparison(evaluations)
        if a != b:
            tide_views.render_tide_difference(gt_source, (a, sources[a]), (b, sources[b]), iou_type, "evaluation")


def _one_file(evaluations: dict[str, Any]) -> str:
    """The chosen results file's evaluation; returns its name."""
    st.header("Results")
    name = st.selectbox("Results file", list(evaluations), key="evaluation:shown") if len(evaluations) > 1 else (
        next(iter(evaluations)))
    eval_views.render_evaluation(evaluations[name], f"evaluation:{name}")
    return name


def _comparison(evaluations: dict[str, Any]) -> tuple[str, str]:
    """Which model is best for which category (heatmap), and two models side by side (A - B per category)."""
    st.header("Compare results files")
    metric = st.selectbox("Metric", list(eval_plots.METRIC_TITLES), format_func=eval_plots.METRIC_TITLES.get,
                          key="evaluation:compare_metric")
    st.plotly_chart(eval_plots.category_heatmap_figure(category_matrix(evaluations, metric), metric),
                    key="evaluation:heatmap")
    st.subheader("Difference between two models")
    names = list(evaluations)
    cols = st.columns(2)
    a = cols[0].selectbox("A", names, index=0, key="evaluation:diff_a")
    b = cols[1].selectbox("B", names, index=1, key="evaluation:diff_b")
    if a == b:
        st.info("Pick two different results files.")
        return a, b
    pair = (a, b)
    frame = difference_frame(evaluations[a], evaluations[b], metric, pair)
    st.plotly_chart(eval_plots.difference_figure(frame, metric, pair), key="evaluation:diff_chart")
    st.dataframe(frame.round(1), hide_index=True, key="evaluation:diff_table")
    return a, b


if __name__ == "__main__":
    render()
