"""The reliability diagram: for each score bin, the share of its detections that are true positives, against
the diagonal a calibrated detector would follow.

A pure function from a reliability table (`Calibration.reliability()`) to a `plotly.graph_objects.Figure`.
Bars are drawn at each bin's range; the points sit at the bin's mean score, where a calibrated detector's
precision would lie on the diagonal. Empty bins have no bar (not a 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def reliability_figure(bins: pd.DataFrame, title: str) -> go.Figure:
    """Bars: precision (percent) per score bin; line: the diagonal; points: (mean score, precision)."""
    filled = bins[bins["detections"] > 0]
    figure = go.Figure()
    figure.add_trace(go.Bar(
        x=(filled["lower"] + filled["upper"]) / 2, y=100 * filled["precision"], width=filled["upper"] - filled["lower"],
        name="true positives (share of the bin)", marker={"color": "#1F77B4", "line": {"color": "white", "width": 1}},
        customdata=np.stack([filled["lower"], filled["upper"], filled["detections"], filled["mean_score"]], axis=-1)
        if len(filled) else None,
        hovertemplate=("scores %{customdata[0]:.2f}–%{customdata[1]:.2f}: %{customdata[2]} detections, mean "
                       "score %{customdata[3]:.3f}, %{y:.1f}% true positives<extra></extra>")))
    figure.add_trace(go.Scatter(x=filled["mean_score"], y=100 * filled["precision"], mode="markers",
                                name="at the bin's mean score", marker={"color": "#D62728", "size": 8},
                                hovertemplate="mean score %{x:.3f}: %{y:.1f}%<extra></extra>"))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 100], mode="lines", name="calibrated",
                                line={"color": "#555555", "dash": "dash"}, hoverinfo="skip"))
    figure.update_layout(title=title, height=420, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         template="plotly_white", xaxis_title="score", yaxis_title="true positives (%)",
                         xaxis_range=[0, 1], yaxis_range=[0, 101], bargap=0)
    return figure
