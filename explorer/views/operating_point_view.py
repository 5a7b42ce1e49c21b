"""The operating-point section shared by the Evaluation page and the Detections page's evaluation: precision,
recall and F1 against the score threshold, and the F1-optimal threshold overall and per category.

The detections are matched once per (files, iou type, IoU) by `scored_cached` (st.cache_data), which the
calibration section reads too; the category and IoU choices only redraw. On the Detections page the caller
passes `on_use`, and two buttons hand the F1-optimal thresholds to its score slider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
import streamlit as st

from explorer.evaluation import report
from explorer.evaluation.analyses.operating_point import ALL, OperatingPoint
from explorer.evaluation.analyses.score_matching import DEFAULT_IOU, MATCHED_TYPES, ScoredDetections, score_detections
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures.operating_point import operating_point_figure

#: The second IoU the page offers besides 0.5.
IOU_CHOICES: Final[list[float]] = [round(0.5 + 0.05 * k, 2) for k in range(10)]
DEFAULT_SECOND_IOU: Final[float] = 0.75
#: (overall threshold, {category name: threshold}) -> None: what the Detections page does with a chosen optimum.
UseThresholds = Callable[[float, Mapping[str, float]], None]


@st.cache_data(show_spinner=False, max_entries=16)
def scored_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                  iou: float, image_ids: tuple[int, ...] | None = None) -> tuple[ScoredDetections | None, str | None]:
    """Every detection matched at IoU 0.5 and `iou`, or the input error's message (a cache keeps no exception)."""
    try:
        return score_detections(ground_truth, results, iou_type, (DEFAULT_IOU, iou), image_ids=image_ids,
                                results_name=results_name, ground_truth_name=ground_truth_name), None
    except EvaluationInputError as error:
        return None, str(error)


@st.cache_resource(show_spinner=False, max_entries=16)
def operating_point_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str,
                           iou_type: str, iou: float, image_ids: tuple[int, ...] | None = None
                           ) -> tuple[OperatingPoint | None, str | None]:
    """The OperatingPoint (which keeps its tables once computed), shared read-only across reruns and sessions, or
    the input error's message."""
    scored, problem = scored_cached(ground_truth, ground_truth_name, results, results_name, iou_type, iou, image_ids)
    return (OperatingPoint(scored), None) if scored is not None else (None, problem)


def second_iou(key_prefix: str, container: object = st) -> float:
    """The IoU besides 0.5 both score sections use (one widget, shared by key)."""
    return float(container.select_slider(  # type: ignore[attr-defined]
        "Second IoU threshold", IOU_CHOICES, value=DEFAULT_SECOND_IOU, key=f"{key_prefix}:score_iou",
        help="The operating point and calibration are shown at IoU 0.5 and at this IoU"))


def optimum_table(point: OperatingPoint, iou: float) -> pd.DataFrame:
    """The F1 optimum at one IoU as shown: rates in percent with one decimal, threshold to three decimals."""
    frame = point.optimum()
    frame = frame[np.isclose(frame["iou"], iou)].drop(columns=["iou"])
    for column in ("precision", "recall", "f1"):
        frame[column] = (100 * frame[column]).round(1)
    frame["threshold"] = frame["threshold"].round(3)
    return frame.reset_index(drop=True)


def render_operating_point(ground_truth: tuple[str, bytes], results: tuple[str, bytes], iou_type: str,
                           key_prefix: str, *, image_ids: Sequence[int] | None = None,
                           on_use: UseThresholds | None = None) -> None:
    """The section: IoU and category choice, P/R/F1 against the threshold, the optimum table and its CSV; with
    `on_use`, the buttons that apply the optimum to the caller's score slider."""
    st.subheader("Operating point")
    if iou_type not in MATCHED_TYPES:
        st.caption("No operating point for keypoints: it needs boxes or masks matched by IoU.")
        return
    cols = st.columns([2, 1, 2])
    iou = second_iou(key_prefix, cols[0])
    point, problem = operating_point_cached(ground_truth[1], ground_truth[0], results[1], results[0], iou_type, iou,
                                            report.sorted_ids(image_ids))
    if problem or point is None:
        st.error(f"Operating point: {problem}", icon=":material/error:")
        return
    scored = point.scored
    shown_iou = cols[1].radio("IoU", list(point.iou_thresholds), format_func=lambda t: f"{t:.2f}",
                              key=f"{key_prefix}:op_iou")
    names = [ALL, *(scored.category_names[c] for c in scored.category_ids)]
    category = cols[2].selectbox("Category", names, key=f"{key_prefix}:op_category")
    st.caption("Detections scoring at least the threshold are kept; they are matched to objects as COCOeval "
               "matches them (a detection on a crowd region counts neither way), every detection in the file "
               "counted. “all categories” pools every detection and object: one threshold for the whole model.")
    st.plotly_chart(operating_point_figure(point, float(shown_iou), category), key=f"{key_prefix}:op_chart")
    table = optimum_table(point, float(shown_iou))
    st.dataframe(table, hide_index=True, key=f"{key_prefix}:op_table")
    st.download_button("Operating point CSV", point.optimum().to_csv(index=False), "operating_point.csv", "text/csv",
                       key=f"{key_prefix}:op_csv")
    if on_use is not None:
        _use_buttons(point, float(shown_iou), key_prefix, on_use)


def _use_buttons(point: OperatingPoint, iou: float, key_prefix: str, on_use: UseThresholds) -> None:
    """Apply the optimum to the caller's slider: one threshold for all classes, or one per class."""
    thresholds = point.thresholds(iou)
    overall = thresholds.pop(ALL, None)
    if overall is None:
        st.caption("No F1-optimal threshold to use: no detection finds an object.")
        return
    left, right = st.columns(2)
    left.button(f"Use the F1-optimal threshold from this evaluation ({overall:.3f})", key=f"{key_prefix}:op_use",
                on_click=on_use, args=(overall, {}), icon=":material/tune:")
    right.button(f"Use per-class F1-optimal thresholds ({len(thresholds)} classes)", key=f"{key_prefix}:op_use_class",
                 on_click=on_use, args=(overall, thresholds), disabled=not thresholds, icon=":material/tune:",
                 help="Classes without an optimum keep the overall threshold")
