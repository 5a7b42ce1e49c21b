"""The operating-point figure: precision, recall and F1 against the score threshold, the F1 optimum marked.

A pure function from `OperatingPoint` to a `plotly.graph_objects.Figure` (no Streamlit), so the pages redraw it
from a cached analysis. Values are percent; a threshold where nothing is kept has no precision (a gap, not 0).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import plotly.graph_objects as go

from explorer.evaluation.analyses.operating_point import ALL, OperatingPoint

#: One colour per curve.
CURVE_COLOURS: Final[dict[str, str]] = {"precision": "#1F77B4", "recall": "#FF7F0E", "f1": "#2CA02C"}
CURVE_NAMES: Final[dict[str, str]] = {"precision": "precision", "recall": "recall", "f1": "F1"}


def _percent(values: object) -> list[float | None]:
    return [None if v != v else 100.0 * float(v) for v in np.asarray(values, dtype=float)]  # NaN -> gap


def operating_point_figure(point: OperatingPoint, iou: float, category: str = ALL) -> go.Figure:
    """P, R and F1 (percent) against the threshold for one category (or all) at one IoU, with a marker and a
    dashed line at the F1-optimal threshold."""
    curves = point.curves()
    rows = curves[np.isclose(curves["iou"], iou) & (curves["category"] == category)]
    figure = go.Figure()
    for column, colour in CURVE_COLOURS.items():
        figure.add_trace(go.Scatter(x=rows["threshold"], y=_percent(rows[column]), mode="lines",
                                    name=CURVE_NAMES[column], line={"color": colour, "shape": "hv"},
                                    hovertemplate="score ≥ %{x:.2f}: %{y:.1f}%<extra>" + CURVE_NAMES[column]
                                                  + "</extra>"))
    best = point.optimum()
    best = best[np.isclose(best["iou"], iou) & (best["category"] == category)]
    title = f"{category} · IoU {iou:.2f}"
    if not best.empty and best["threshold"].notna().iloc[0]:
        row = best.iloc[0]
        figure.add_vline(x=float(row["threshold"]), line_dash="dash", line_color="#555555")
        figure.add_trace(go.Scatter(
            x=[row["threshold"]], y=[100 * row["f1"]], mode="markers", name="F1 optimum",
            marker={"color": CURVE_COLOURS["f1"], "size": 12, "symbol": "star"},
            hovertemplate=(f"score ≥ {row['threshold']:.3f}<br>precision {100 * row['precision']:.1f}%<br>"
                           f"recall {100 * row['recall']:.1f}%<br>F1 {100 * row['f1']:.1f}%<extra></extra>")))
        title += (f" · F1-optimal threshold {row['threshold']:.3f} (P {100 * row['precision']:.1f}%, "
                  f"R {100 * row['recall']:.1f}%, F1 {100 * row['f1']:.1f}%)")
    figure.update_layout(title=title, height=420, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         template="plotly_white", xaxis_title="score threshold (detections kept: score ≥ it)",
                         yaxis_title="percent", xaxis_range=[0, 1], yaxis_range=[0, 101])
    return figure
