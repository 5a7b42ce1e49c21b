"""The confusion-matrix section shared by the Evaluation page and the Detections page's evaluation.

What every threshold shares (the files read as typed columns, each image's IoUs) is computed once per (files,
iou type, images) by `overlaps_cached` (st.cache_resource: held, not copied); each slider position then only
matches, once per (files, iou type, thresholds) by `confusion_cached` (st.cache_data); the normalise toggle and
the cell choice only redraw. A cell is chosen by clicking it in the heatmap or with the two
selectboxes under it (the click fills them in); its detections are listed and, where the images are at hand,
drawn on them. The Evaluation page has no images of its own, so the section takes an optional upload of them,
matched to the annotation file's `images` by file name; uploads that do not match (name or size) are reported,
first one named, and the rest are still used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import streamlit as st

from explorer.drawing.confusion import draw_cell_items
from explorer.evaluation import report
from explorer.evaluation import uploaded_images as uploaded
from explorer.evaluation.analyses.confusion import (
    BACKGROUND,
    DEFAULT_IOU,
    DEFAULT_SCORE,
    ConfusionMatrix,
    ConfusionOverlaps,
)
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures import evaluation as eval_plots

#: Columns of the cell's list, in order.
LISTED_COLUMNS: Final[list[str]] = ["ground_truth", "predicted", "file_name", "image_id", "score", "iou",
                                    "detection", "annotation"]
#: How many images of a cell are drawn (the list has all of them).
DRAWN_IMAGES: Final[int] = 6
IMAGE_TYPES: Final[list[str]] = ["jpg", "jpeg", "png", "webp", "bmp"]


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                     iou: float, score: float, image_ids: tuple[int, ...] | None = None
                     ) -> tuple[ConfusionMatrix | None, str | None]:
    """The matrix, or the input error's message (st.cache_data does not cache exceptions)."""
    overlaps, problem = overlaps_cached(ground_truth, ground_truth_name, results, results_name, iou_type, image_ids)
    if overlaps is None:
        return None, problem
    try:
        return overlaps.matrix(iou, score), None
    except EvaluationInputError as error:
        return None, str(error)


@st.cache_resource(show_spinner=False, max_entries=4)
def overlaps_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                    image_ids: tuple[int, ...] | None = None) -> tuple[ConfusionOverlaps | None, str | None]:
    """The thresholds-independent part (never written into after it is made), or the input error's message."""
    return report.confusion_overlaps_outcome((ground_truth_name, ground_truth), (results_name, results), iou_type,
                                             image_ids)


@st.cache_data(show_spinner=False, max_entries=8)
def _decoded(files: tuple[tuple[str, bytes], ...]) -> tuple[list[Any], list[str]]:
    """Uploaded bytes -> decoded RGB images and one message per file that could not be used."""
    from explorer.inputs.images import load_uploads

    return load_uploads(files)


def render_confusion(ground_truth: tuple[str, bytes], results: tuple[str, bytes], iou_type: str, key_prefix: str,
                     *, image_ids: Sequence[int] | None = None, images: Mapping[int, np.ndarray] | None = None,
                     annotated_images: Sequence[dict[str, Any]] = ()) -> None:
    """The section: thresholds, heatmap, the chosen cell's detections (and images). `images` (image id -> RGB)
    where the caller has them; otherwise, with `annotated_images` (the annotation file's `images`), an upload."""
    st.subheader("Confusion matrix")
    if iou_type == "keypoints":
        st.caption("No confusion matrix for keypoints: keypoint files have one class.")
        return
    cols = st.columns([2, 2, 1])
    iou = cols[0].slider("IoU threshold", 0.05, 0.95, DEFAULT_IOU, 0.05, key=f"{key_prefix}:cm_iou")
    score = cols[1].slider("Score threshold", 0.0, 1.0, DEFAULT_SCORE, 0.05, key=f"{key_prefix}:cm_score")
    normalise = cols[2].toggle("Row-normalised", key=f"{key_prefix}:cm_normalise",
                               help="Each row divided by its total: where each class's objects went")
    ids = report.sorted_ids(image_ids)
    matrix, problem = confusion_cached(ground_truth[1], ground_truth[0], results[1], results[0], iou_type,
                                       float(iou), float(score), ids)
    if problem or matrix is None:
        st.error(f"Confusion matrix: {problem}", icon=":material/error:")
        return
    st.caption("Rows: the objects' classes; columns: what the model said. A detection is matched one-to-one, "
               "highest score first, to the object of its own class it overlaps most (IoU ≥ threshold), else to "
               "any object (a confusion); unmatched detections are background, unmatched objects missed.")
    event = st.plotly_chart(eval_plots.confusion_figure(matrix, normalise), key=f"{key_prefix}:cm_chart",
                            on_select="rerun", selection_mode="points")
    row, column = _chosen_cell(matrix, event, key_prefix)
    st.download_button("Confusion matrix CSV", matrix.to_frame().to_csv(index=False), "confusion.csv", "text/csv",
                       key=f"{key_prefix}:cm_csv")
    if row is None or column is None:
        return
    items = matrix.cell(row, column)
    st.markdown(f"**{len(items)}** item(s) with ground truth **{row}** and prediction **{column}**")
    if items.empty:
        return
    st.dataframe(items[LISTED_COLUMNS], hide_index=True, key=f"{key_prefix}:cm_items")
    if images is None and annotated_images:
        images = _uploaded_images(annotated_images, key_prefix)
    if images:
        _draw(items, images)


def _chosen_cell(matrix: ConfusionMatrix, event: Any, key_prefix: str) -> tuple[str | None, str | None]:
    """The cell in the two selectboxes; a new click in the heatmap fills them in first."""
    labels = list(matrix.labels)
    row_key, column_key, clicked_key = (f"{key_prefix}:cm_row", f"{key_prefix}:cm_column", f"{key_prefix}:cm_click")
    clicked = eval_plots.confusion_cell_from_selection(event)
    if clicked and clicked != st.session_state.get(clicked_key) and all(c in labels for c in clicked):
        st.session_state[row_key], st.session_state[column_key] = clicked
    st.session_state[clicked_key] = clicked
    cols = st.columns(2)
    options: list[str | None] = [None, *labels]
    row = cols[0].selectbox("Ground truth", options, format_func=lambda v: "— pick a cell —" if v is None else v,
                            key=row_key)
    column = cols[1].selectbox("Predicted", options, format_func=lambda v: "— pick a cell —" if v is None else v,
                               key=column_key)
    if row == BACKGROUND and column == BACKGROUND:
        st.caption("Background detected as background is not counted.")
        return None, None
    return row, column


def _uploaded_images(annotated: Sequence[dict[str, Any]], key_prefix: str) -> dict[int, np.ndarray]:
    """Optional image uploads for drawing the cell, matched by file name; mismatches are reported."""
    files = st.file_uploader("Images to draw the cell on (optional; matched to the annotations by file name)",
                             type=IMAGE_TYPES, accept_multiple_files=True, key=f"{key_prefix}:cm_images")
    if not files:
        return {}
    loaded, errors = _decoded(tuple((f.name, f.getvalue()) for f in files))
    for error in errors:
        st.error(error, icon=":material/broken_image:")
    found, problems = uploaded.match_uploaded_images(annotated, {image.name: image.rgb for image in loaded})
    for problem in problems:
        st.warning(problem, icon=":material/image_not_supported:")
    return found


def _draw(items: Any, images: Mapping[int, np.ndarray]) -> None:
    shown = uploaded.cell_images(items, images, DRAWN_IMAGES)
    if not shown:
        st.caption("None of this cell's images are at hand to draw.")
        return
    columns = st.columns(min(3, len(shown)))
    for n, (image_id, rows, caption) in enumerate(shown):
        columns[n % len(columns)].image(draw_cell_items(images[image_id], rows), caption=caption)
