"""The sweep's own plot: AP measured by a sweep against the AP the zoo published, at both speeds.

No Ray import (the Sweeps page draws it). Each evaluated model is a pair of points joined by a line:
the published point (zoo seconds per image on the zoo's GPU, zoo AP) and the measured one (the sweep's
median seconds per image on its device, AP our evaluation computed on the user's images). The line
shows at a glance how far a model moves, in speed and in accuracy, from the page to the user's data.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import plotly.graph_objects as go

#: Summary column -> (zoo table column, axis label).
SWEEP_METRICS: Final[dict[str, tuple[str, str]]] = {
    "box_ap": ("box_ap", "box AP"), "mask_ap": ("mask_ap", "mask AP"), "kp_ap": ("kp_ap", "keypoint AP"),
}


def evaluated_metrics(summary: pd.DataFrame) -> list[str]:
    """The AP columns the sweep measured for at least one model (it had annotations of that kind)."""
    return [metric for metric in SWEEP_METRICS if metric in summary and summary[metric].notna().any()]


def measured_vs_published(summary: pd.DataFrame, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (model, device) with a measured AP: measured and published seconds and AP side by side."""
    published_column, _ = SWEEP_METRICS[metric]
    rows = summary[summary[metric].notna() & summary["median_s"].notna()]
    published = table[["name", "infer_s", "hardware", published_column]].rename(
        columns={"name": "published_name", "infer_s": "published_s", "hardware": "published_hardware",
                 published_column: "published_ap"})
    joined = rows.join(published, on="model_uid", how="left")
    return joined.rename(columns={metric: "measured_ap", "median_s": "measured_s"}).reset_index(drop=True)


def sweep_accuracy_figure(pairs: pd.DataFrame, metric: str, log_x: bool = True) -> go.Figure:
    """Measured points (filled) and their published points (hollow), joined per model; hover says which is which."""
    _, label = SWEEP_METRICS[metric]
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
        customdata=pairs[["model_name", "device_name", "images"]].astype(str).to_numpy().tolist(),
        hovertemplate=("<b>%{customdata[0]}</b><br>measured: %{x:.3f} s/image on %{customdata[1]}<br>"
                       f"{label} %{{y:.1f}} on %{{customdata[2]}} images<extra></extra>"),
        meta={"role": "measured"})
    known = pairs[pairs["published_ap"].notna() & pairs["published_s"].notna()]
    published = go.Scatter(
        x=known["published_s"].tolist(), y=known["published_ap"].tolist(), mode="markers",
        name="published by the zoo", marker={"size": 10, "color": "rgba(0,0,0,0)",
                                               "line": {"width": 2, "color": "#636EFA"}},
        customdata=known[["model_name", "published_hardware"]].astype(str).to_numpy().tolist(),
        hovertemplate=("<b>%{customdata[0]}</b><br>published: %{x:.3f} s/image on %{customdata[1]}<br>"
                       f"{label} %{{y:.1f}} (COCO)<extra></extra>"),
        meta={"role": "published"})
    fig.add_traces([published, measured])
    fig.update_layout(xaxis_title="seconds per image", yaxis_title=label, legend={"orientation": "h", "y": -0.2},
                      margin={"t": 30})
    fig.update_xaxes(type="log" if log_x else "linear")
    return fig
