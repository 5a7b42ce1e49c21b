"""The "Keypoint errors" section of an evaluation (Evaluation page, Detections page): what share of the matched
people's keypoints are good, jitter, inversion, swap or miss, the AP each correction gains, and which joints fail.

Draws a cached `KeypointErrors` only (explorer.evaluation.analyses.keypoint_errors computes it, and
explorer.evaluation.report its tables); nothing here evaluates.
"""

from __future__ import annotations

import streamlit as st

from explorer.evaluation import report
from explorer.evaluation.analyses.keypoint_errors import ERROR_TYPES, KeypointErrors
from explorer.evaluation.errors import EvaluationInputError
from explorer.figures import keypoints as keypoint_plots

CSV_NAME = "keypoint_errors.csv"


def render_keypoint_errors(errors: KeypointErrors, key_prefix: str) -> None:
    """Per-type summary, AP gain bars, per-keypoint heatmap and table, and the CLI's CSV."""
    counts = report.keypoint_counts(errors)
    st.caption(f"{errors.n_matched} of {errors.n_detections} detections matched to a person at OKS .1; "
               f"{int(counts['count'].sum())} labelled keypoints classed by their similarity (ks) to the ground "
               "truth: good ≥ .85 > jitter ≥ .5; inversion: nearer the person's other-side keypoint; swap: "
               "nearer another person's; miss: near none (Ronchi & Perona, ICCV 2017).")
    for column, error in zip(st.columns(len(ERROR_TYPES)), ERROR_TYPES, strict=True):
        column.metric(error, report.percent_share(counts.loc[error, "percent"]),
                      help=f"{counts.loc[error, 'count']} keypoints")
    st.plotly_chart(keypoint_plots.error_share_figure(errors), key=f"{key_prefix}:kpt_share")
    st.plotly_chart(keypoint_plots.ap_gain_figure(errors), key=f"{key_prefix}:kpt_gains")
    st.dataframe(report.keypoint_ap_table(errors), hide_index=True, key=f"{key_prefix}:kpt_ap_table")
    st.caption("Each correction moves only that type's keypoints towards their ground truth (jitter to ks .85, "
               "a miss to .5, an inversion or swap to the ks it had with the wrong keypoint) and evaluates again; "
               "oracle scores rescore every detection by its best OKS with a person, duplicates soft-suppressed.")
    st.plotly_chart(keypoint_plots.keypoint_heatmap_figure(errors), key=f"{key_prefix}:kpt_heatmap")
    percent = st.toggle("Percent of each keypoint's labelled instances", value=True, key=f"{key_prefix}:kpt_pct")
    st.dataframe(report.keypoint_table(errors, percent), hide_index=True, key=f"{key_prefix}:kpt_table")
    st.download_button("Keypoint errors CSV", errors.to_frame().to_csv(index=False), CSV_NAME, "text/csv",
                       key=f"{key_prefix}:kpt_csv",
                       help="One row per labelled keypoint of each matched detection, as `explorer eval "
                            "--keypoint-errors` writes it")


def keypoint_inputs(key_prefix: str) -> tuple[list[float] | None, list[tuple[str, str]] | None] | None:
    """OKS sigmas and flip pairs typed on the page, for keypoints other than COCO's 17 person keypoints:
    (sigmas or None, pairs or None), or None after showing what is wrong with the text."""
    with st.expander("Keypoints other than COCO's person keypoints"):
        sigmas_text = st.text_input("OKS sigmas, one per keypoint (comma-separated; empty: COCO's 17)",
                                    key=f"{key_prefix}:kpt_sigmas")
        pairs_text = st.text_input("Left/right flip pairs (A:B,...; empty: read from the keypoint names)",
                                   key=f"{key_prefix}:flip_pairs")
    try:
        return report.keypoint_options(sigmas_text, pairs_text)
    except EvaluationInputError as error:
        st.error(str(error), icon=":material/error:")
        return None
