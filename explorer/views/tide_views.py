"""Streamlit views of TIDE's error types and of the ground truth drawn on the image, shared by the Evaluation
page and the Detections page's evaluation.

Everything is computed by explorer.evaluation.report and cached here: the checked inputs (`_loaded`, a resource:
the ground truth keeps its converted masks), the dAPs (`tide_cached`) and the classification at the chosen IoU
and score threshold (`classification_cached`), so a slider move or a click on a table row only redraws. Images
are read only when shown: the page passes a loader per image id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd
import streamlit as st

from explorer.evaluation import report
from explorer.evaluation import uploaded_images as uploaded
from explorer.evaluation.analyses.per_image import image_overlay
from explorer.evaluation.analyses.tide import (
    ERROR_DESCRIPTIONS,
    ERRORS,
)
from explorer.evaluation.report import TIDE_TYPES, Source, sorted_ids
from explorer.evaluation.uploaded_images import ImageLoader
from explorer.figures import tide as tide_plots
from explorer.inputs.images import UPLOAD_TYPES

LEGEND: Final[str] = ("Green: true positive · red: wrong class (cls) · orange: badly placed (loc) · violet: both · "
                      "yellow: duplicate · grey: background · blue dashed: missed object")


@st.cache_resource(show_spinner=False, max_entries=4)
def _loaded(gt: Source, results: Source, iou_type: str, image_ids: tuple[int, ...] | None) -> Any:
    """(GroundTruth, checked results), or the input error's message. A resource, not data: it is not copied
    per rerun, and the ground truth's mask cache is filled once."""
    return report.tide_inputs(gt, results, iou_type, image_ids)


@st.cache_data(show_spinner=False, max_entries=32)
def tide_cached(gt: Source, results: Source, iou_type: str, image_ids: tuple[int, ...] | None = None) -> Any:
    """(TideErrors, None) or (None, message)."""
    return report.tide_outcome(_loaded(gt, results, iou_type, image_ids), iou_type)


@st.cache_data(show_spinner=False, max_entries=32)
def classification_cached(gt: Source, results: Source, iou_type: str, image_ids: tuple[int, ...] | None,
                          iou: float, score: float) -> Any:
    """(classification, per-image table, None) at this IoU and score threshold, or (None, None, message)."""
    return report.classification_outcome(_loaded(gt, results, iou_type, image_ids), iou_type, iou, score)


def render_tide(gt: Source, results: Source, iou_type: str, key_prefix: str,
                image_ids: Sequence[int] | None = None) -> None:
    """The TIDE section: dAP per error type (figure, per-category table, CSV as the CLI writes it)."""
    st.subheader("TIDE error types")
    if iou_type not in TIDE_TYPES:
        st.caption("TIDE's error types are defined for boxes and masks; pick bbox or segm.")
        return
    errors, problem = tide_cached(gt, results, iou_type, sorted_ids(image_ids))
    if problem:
        st.error(problem, icon=":material/error:")
        return
    st.caption(f"What each kind of mistake costs (dAP: AP after fixing every error of that type, minus TIDE's AP "
               f"{errors.ap:.1f} at IoU .5; AP points). "
               + " · ".join(f"**{e}**: {ERROR_DESCRIPTIONS[e]}" for e in ERRORS))
    names = list(errors.category_names)
    category = st.selectbox("Category", [None, *names], format_func=lambda c: "all categories" if c is None else c,
                            key=f"{key_prefix}:tide_category")
    st.plotly_chart(tide_plots.tide_figure(errors, category), key=f"{key_prefix}:tide_chart")
    counts = " · ".join(f"{e} {n}" for e, n in errors.counts.items())
    st.caption(f"Errors counted: {counts}")
    st.dataframe(errors.category_frame().round(2), hide_index=True, key=f"{key_prefix}:tide_table")
    st.download_button("TIDE CSV", errors.to_frame().to_csv(index=False, float_format="%.2f"),
                       f"tide-{report.results_stem(results[0])}.csv", "text/csv", key=f"{key_prefix}:tide_csv")


def render_tide_difference(gt: Source, a: Source, b: Source, iou_type: str, key_prefix: str) -> None:
    """dAP of A and B per error type, and A - B overall and per category."""
    if iou_type not in TIDE_TYPES:
        return
    st.subheader("TIDE: what each error type costs, A − B")
    (first, problem_a), (second, problem_b) = (tide_cached(gt, a, iou_type), tide_cached(gt, b, iou_type))
    if problem_a or problem_b:
        st.error(problem_a or problem_b, icon=":material/error:")
        return
    st.plotly_chart(tide_plots.tide_comparison_figure({a[0]: first, b[0]: second}), key=f"{key_prefix}:tide_cmp")
    error = st.selectbox("Error type", list(ERRORS), key=f"{key_prefix}:tide_diff_error")
    st.caption("Positive: A loses more AP to this error type than B. First row: all categories.")
    st.dataframe(report.tide_difference_table(first, second, (a[0], b[0]), error), hide_index=True,
                 key=f"{key_prefix}:tide_diff_table")


def render_ground_truth(gt: Source, results: Source, iou_type: str, key_prefix: str,
                        images: Mapping[int, ImageLoader], image_ids: Sequence[int] | None = None) -> None:
    """Per-image table (worst first) at a chosen IoU and score threshold; the selected image drawn with true
    positives, false positives by error type and missed objects."""
    st.subheader("Ground truth on the image")
    if iou_type not in TIDE_TYPES:
        st.caption("Drawn for boxes and masks; pick bbox or segm.")
        return
    cols = st.columns(2)
    iou = cols[0].slider("IoU for a true positive", 0.1, 0.95, 0.5, 0.05, key=f"{key_prefix}:gt_iou")
    score = cols[1].slider("Score threshold", 0.0, 1.0, 0.5, 0.05, key=f"{key_prefix}:gt_score")
    ids = sorted_ids(image_ids)
    classification, table, problem = classification_cached(gt, results, iou_type, ids, float(iou), float(score))
    if problem:
        st.error(problem, icon=":material/error:")
        return
    shown = report.per_image_rows(table, images)
    st.caption("One row per image, worst first (lowest AP, then most errors). Click a row to see the image.")
    event = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=f"{key_prefix}:per_image")
    rows = list(event.selection.rows) if event is not None and hasattr(event, "selection") else []
    row = report.shown_row(shown, rows)
    if row is None:
        st.info("No image file for these annotations: upload the images (or name their folder) to see them.")
        return
    image_id = int(shown["image_id"].iloc[row])
    if image_id not in images:
        st.info(f"No image file for image {image_id} ({shown['file_name'].iloc[row]}).")
        return
    _draw(gt, results, iou_type, ids, classification, images[image_id], image_id, shown.iloc[row], key_prefix)


def _draw(gt: Source, results: Source, iou_type: str, ids: tuple[int, ...] | None, classification: Any,
          loader: ImageLoader, image_id: int, row: pd.Series, key_prefix: str) -> None:
    from explorer.drawing.ground_truth import draw_ground_truth
    from explorer.inputs.images import ImageError

    truth, checked = _loaded(gt, results, iou_type, ids)
    try:
        rgb = loader()
    except ImageError as error:
        st.error(str(error), icon=":material/broken_image:")
        return
    mismatch = report.size_mismatch(truth.image_sizes.get(image_id), rgb.shape[0], rgb.shape[1], row["file_name"])
    if mismatch:
        st.warning(mismatch, icon=":material/warning:")
    items = image_overlay(classification, truth, checked, image_id)
    st.image(draw_ground_truth(rgb, items), caption=f"{row['file_name']} (image {image_id}) · AP {row['ap']} · "
             f"TP {row['tp']} · FP {row['fp']} · FN {row['fn']}", width="stretch")
    st.caption(LEGEND)


def image_sources(gt: Source, results: Source, iou_type: str, key_prefix: str) -> dict[int, ImageLoader]:
    """The Evaluation page's images for the ground-truth view: uploaded, or a folder on the server; matched to
    the annotations by file name. Shows what was matched and what is wrong (one line each)."""
    from explorer.inputs.image_folder import FolderError

    loaded = _loaded(gt, results, iou_type, None)
    if isinstance(loaded, str):
        return {}
    annotated = loaded[0].images
    where = st.radio("Images", ["upload", "folder"], horizontal=True, key=f"{key_prefix}:gt_source",
                     format_func={"upload": "Upload the images", "folder": "A folder on the server"}.get)
    if where == "upload":
        files = list(st.file_uploader("Images (matched to the annotations by file name)", accept_multiple_files=True,
                                      type=UPLOAD_TYPES,
                                      key=f"{key_prefix}:gt_images") or [])
        loaders = uploaded.upload_loaders(annotated, {f.name: f.getvalue for f in files})
    else:
        text = st.text_input("Folder of the images on the server (e.g. /data/coco/val2017)",
                             key=f"{key_prefix}:gt_folder")
        if not text.strip():
            return {}
        try:
            loaders = uploaded.folder_loaders(annotated, text)
        except FolderError as error:
            st.error(str(error), icon=":material/folder_off:")
            return {}
    if loaders or where == "folder":
        st.caption(f"{len(loaders)} of the {len(annotated)} annotated images have an image file.")
    return loaders
