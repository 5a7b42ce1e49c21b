"""Figures for the keypoint error analysis (explorer.evaluation.analyses.keypoint_errors): pure functions from a
`KeypointErrors` to a plotly Figure, so the page redraws them from a cached analysis and tests need no app.

Colours follow coco-analyze's report (miss yellow, swap orange, inversion red, jitter brown, scoring blue), with
good keypoints green, so the two tools' figures read alike.
"""

from __future__ import annotations

from typing import Final

import plotly.graph_objects as go

from explorer.evaluation.analyses.keypoint_errors import AP_LABELS, CORRECTED_TYPES, ERROR_TYPES, KeypointErrors

ERROR_COLOURS: Final[dict[str, str]] = {"good": "#4C9A5F", "jitter": "#8C4646", "inversion": "#D96459",
                                        "swap": "#F2AE72", "miss": "#F2E394", "localisation": "#6B6B6B",
                                        "score": "#4F82BD"}


def _layout(figure: go.Figure, title: str, height: int) -> go.Figure:
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         template="plotly_white")
    return figure


def ap_gain_figure(errors: KeypointErrors) -> go.Figure:
    """Bars of the OKS AP points gained by correcting each error type, all four together, and by oracle scores:
    what to fix first."""
    names = [*CORRECTED_TYPES, "localisation", "score"]
    gains = errors.gains()
    values = [100 * gains[name] for name in names]
    figure = go.Figure(go.Bar(x=[AP_LABELS[name] for name in names], y=values,
                              marker_color=[ERROR_COLOURS[name] for name in names],
                              marker_line={"color": "#444444", "width": 1},
                              text=[f"{v:+.1f}" for v in values], textposition="outside", cliponaxis=False))
    figure.update_yaxes(title="OKS AP gained (points)")
    return _layout(figure, f"AP gained by each correction (AP as detected: {100 * errors.ap['original']:.1f})",
                   360)


def error_share_figure(errors: KeypointErrors) -> go.Figure:
    """One stacked bar: the share of each error type among the labelled keypoints of matched detections."""
    counts = errors.counts_frame()
    figure = go.Figure([go.Bar(y=["keypoints"], x=[row.percent], name=row.error, orientation="h",
                               marker_color=ERROR_COLOURS[row.error],
                               hovertemplate=f"{row.error}: %{{x:.1f}}% ({row.count})<extra></extra>")
                        for row in counts.itertuples()])
    figure.update_layout(barmode="stack", legend={"traceorder": "normal"})
    figure.update_xaxes(title="% of labelled keypoints", range=[0, 100])
    return _layout(figure, "Keypoints by error type", 220)


def keypoint_heatmap_figure(errors: KeypointErrors) -> go.Figure:
    """Keypoints (rows, the category's order) by error type (columns), percent of each keypoint's labelled
    instances: which joints fail, and how. Keypoints never labelled are blank rows."""
    table = errors.per_keypoint_frame()
    values = table[list(ERROR_TYPES)].to_numpy()
    figure = go.Figure(go.Heatmap(z=values, x=list(ERROR_TYPES), y=list(table["keypoint"]), colorscale="Reds",
                                  zmin=0, zmax=100, colorbar={"title": "%"},
                                  text=[[f"{v:.0f}" if v == v else "" for v in row] for row in values],
                                  texttemplate="%{text}",
                                  customdata=[[n] * len(ERROR_TYPES) for n in table["labelled"]],
                                  hovertemplate="%{y}, %{x}: %{z:.1f}% of %{customdata} labelled<extra></extra>"))
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, "Error types per keypoint (% of its labelled instances)", 120 + 24 * len(table))
