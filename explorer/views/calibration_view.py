"""The calibration section shared by the Evaluation page and the Detections page's evaluation: the reliability
diagram, ECE and MCE overall and per category, and the D-ECE over box position and size.

It reads the matched detections the operating-point section caches (operating_point_view.scored_cached) at
the same second IoU, so the two sections never match twice; bin counts only recompute the (cheap) binning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from explorer.evaluation import report
from explorer.evaluation.analyses.calibration import ALL, DEFAULT_BINS, DEFAULT_DECE_BINS, Calibration, from_scored
from explorer.evaluation.analyses.score_matching import MATCHED_TYPES
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures.calibration import reliability_figure
from explorer.views.operating_point_view import scored_cached, second_iou


@st.cache_resource(show_spinner=False, max_entries=16)
def calibration_cached(ground_truth: bytes, ground_truth_name: str, results: bytes, results_name: str, iou_type: str,
                       iou: float, image_ids: tuple[int, ...] | None, bins: int, dece_bins: int
                       ) -> tuple[Calibration | None, str | None]:
    """The Calibration (which keeps its summary once computed), shared read-only across reruns, or the input
    error's message (scores outside [0, 1] included)."""
    scored, problem = scored_cached(ground_truth, ground_truth_name, results, results_name, iou_type, iou, image_ids)
    if scored is None:
        return None, problem
    try:
        return from_scored(scored, bins, dece_bins), None
    except EvaluationInputError as error:
        return None, str(error)


def summary_table(cal: Calibration, iou: float) -> pd.DataFrame:
    """The calibration summary at one IoU as shown: shares and errors in percent with one decimal."""
    frame = cal.summary()
    frame = frame[np.isclose(frame["iou"], iou)].drop(columns=["iou"])
    for column in ("mean_score", "precision", "ece", "mce", "d_ece"):
        frame[column] = (100 * frame[column]).round(1)
    return frame.reset_index(drop=True)


def render_calibration(ground_truth: tuple[str, bytes], results: tuple[str, bytes], iou_type: str,
                       key_prefix: str, *, image_ids: Sequence[int] | None = None) -> None:
    """The section: IoU, category and bins, the reliability diagram, ECE / MCE / D-ECE and the per-category table."""
    st.subheader("Calibration")
    if iou_type not in MATCHED_TYPES:
        st.caption("No calibration for keypoints: it needs boxes or masks matched by IoU.")
        return
    cols = st.columns([2, 1, 2, 1, 1])
    iou = second_iou(f"{key_prefix}:cal", cols[0])
    bins = int(cols[3].number_input("Score bins", 2, 50, DEFAULT_BINS, key=f"{key_prefix}:cal_bins"))
    dece_bins = int(cols[4].number_input("D-ECE bins", 2, 10, DEFAULT_DECE_BINS, key=f"{key_prefix}:cal_dbins",
                                         help="Bins per dimension: score, centre x, centre y, width, height"))
    cal, problem = calibration_cached(ground_truth[1], ground_truth[0], results[1], results[0], iou_type, iou,
                                      report.sorted_ids(image_ids), bins, dece_bins)
    if problem or cal is None:
        st.error(f"Calibration: {problem}", icon=":material/error:")
        return
    scored = cal.scored
    shown_iou = float(cols[1].radio("IoU", list(cal.iou_thresholds), format_func=lambda t: f"{t:.2f}",
                                    key=f"{key_prefix}:cal_iou"))
    names = {ALL: None, **{scored.category_names[c]: c for c in scored.category_ids}}
    category = cols[2].selectbox("Category", list(names), key=f"{key_prefix}:cal_category")
    table = summary_table(cal, shown_iou)
    row = table[table["category"] == category].iloc[0]
    metrics = st.columns(3)
    metrics[0].metric("ECE", _points(row["ece"]), help="Detection-weighted mean |true-positive share − mean score| "
                                                      "over the score bins (0 = calibrated)")
    metrics[1].metric("MCE", _points(row["mce"]), help="The largest gap of one score bin")
    metrics[2].metric("D-ECE", _points(row["d_ece"]),
                      help="Küppers et al. (CVPRW 2020): the same gap over joint bins of score and the box's "
                           "relative centre and size")
    st.caption("A detection is correct when it is a true positive at the IoU (matched as COCOeval matches; crowd "
               "matches left out). Calibrated scores lie on the diagonal: of detections scoring about 0.8, about "
               "80% are correct. Errors in percent points.")
    st.plotly_chart(reliability_figure(cal.reliability(shown_iou, names[category]),
                                       f"Reliability · {category} · IoU {shown_iou:.2f}"),
                    key=f"{key_prefix}:cal_chart")
    st.dataframe(table, hide_index=True, key=f"{key_prefix}:cal_table")
    st.download_button("Calibration CSV", cal.summary().to_csv(index=False), "calibration.csv", "text/csv",
                       key=f"{key_prefix}:cal_csv")


def _points(value: float) -> str:
    return "—" if value != value else f"{value:.1f}"
