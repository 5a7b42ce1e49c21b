"""The sweep's own plot: AP measured by a sweep against the AP the zoo published, at both speeds.

No Ray import (the Sweeps page draws it). Each evaluated model is a pair of points joined by a line:
the published point (zoo seconds per image on the zoo's GPU, zoo AP) and the measured one (the sweep's
median seconds per image on its device, AP our evaluation computed on the user's images). The line
shows at a glance how far a model moves, in speed and in accuracy, from the page to the user's data.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from explorer.figures.zoo import hover_fields
from explorer.tasks import task_of_metric

#: customdata layouts of the measured and the published points.
MEASURED_CUSTOMDATA = ("model_name", "device_name", "images")
PUBLISHED_CUSTOMDATA = ("model_name", "published_hardware")


def sweep_accuracy_figure(pairs: pd.DataFrame, metric: str, log_x: bool = True) -> go.Figure:
    """Measured points (filled) and their published points (hollow), joined per model; hover says which is which.

    `pairs` is `explorer.sweep.summary.measured_vs_published(summary, zoo table, metric)`.
    """
    label = task_of_metric(metric).label
    m, p = hover_fields(MEASURED_CUSTOMDATA), hover_fields(PUBLISHED_CUSTOMDATA)
    fig = go.Figure()
    for row in pairs.itertuples(index=False):
        has_published = pd.notna(row.published_ap) and pd.notna(row.published_s)
        if has_published:
            fig.add_trace(go.Scatter(
                x=[row.published_s, row.measured_s], y=[row.published_ap, row.measured_ap], mode="lines",
                line={"color": "#bbb", "width": 1}, hoverinfo="skip", showlegend=False, meta={"role": "link"}))
    measured = go.Scatter(
        x=pairs["measured_s"].tolist(), y=pairs["measured_ap"].tolist(), mode="markers",
        name="measured by this sweep", marker={"size": 11, "color": "#EF553B", "line": {"width": 1, "color": "#222"}},
        customdata=pairs[list(MEASURED_CUSTOMDATA)].astype(str).to_numpy().tolist(),
        hovertemplate=(f"<b>{m['model_name']}</b><br>measured: %{{x:.3f}} s/image on {m['device_name']}<br>"
                       f"{label} %{{y:.1f}} on {m['images']} images<extra></extra>"),
        meta={"role": "measured"})
    known = pairs[pairs["published_ap"].notna() & pairs["published_s"].notna()]
    published = go.Scatter(
        x=known["published_s"].tolist(), y=known["published_ap"].tolist(), mode="markers",
        name="published by the zoo", marker={"size": 10, "color": "rgba(0,0,0,0)",
                                               "line": {"width": 2, "color": "#636EFA"}},
        customdata=known[list(PUBLISHED_CUSTOMDATA)].astype(str).to_numpy().tolist(),
        hovertemplate=(f"<b>{p['model_name']}</b><br>published: %{{x:.3f}} s/image on {p['published_hardware']}<br>"
                       f"{label} %{{y:.1f}} (COCO)<extra></extra>"),
        meta={"role": "published"})
    fig.add_traces([published, measured])
    fig.update_layout(xaxis_title="seconds per image", yaxis_title=label, legend={"orientation": "h", "y": -0.2},
                      margin={"t": 30})
    fig.update_xaxes(type="log" if log_x else "linear")
    return fig
