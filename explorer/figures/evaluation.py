"""Figures for COCO evaluations: pure functions from an `Evaluation` (or several) to a `plotly.graph_objects.Figure`.

The numbers they draw beyond one evaluation's own fields (the mean PR curve, per-category matrices and differences)
are computed in `explorer.evaluation.coco.frames`, which the pages use for their tables too.

Nothing here touches Streamlit, so the figures are unit-tested without an app and the evaluation page redraws them
from a cached Evaluation (changing a chart option never evaluates again). Metrics arrive as fractions with NaN
where undefined (a category without ground truth); figures show percent, and NaN stays *absent* (no bar, a blank
cell), never 0: "no objects to find" and "found none of them" are different answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explorer.evaluation.analyses.confusion import ConfusionMatrix
from explorer.evaluation.coco.breakdown import LABELS as BREAKDOWN_LABELS
from explorer.evaluation.coco.breakdown import ErrorBreakdown
from explorer.evaluation.coco.frames import check_metric, iou_index, mean_precision
from explorer.evaluation.coco.results import Evaluation
from explorer.figures.zoo import PALETTE, hover_fields

#: Axis titles for the per-category metrics (the CLI's CSV column names).
METRIC_TITLES: Final[dict[str, str]] = {
    "ap": "AP", "ap50": "AP50", "ap75": "AP75", "ap_small": "AP small", "ap_medium": "AP medium",
    "ap_large": "AP large", "ar100": "AR@100",
}

#: Fill colours of the error-breakdown curves, C75 (innermost) to FN (outermost), like the Matlab plots.
BREAKDOWN_COLOURS: Final[dict[str, str]] = {
    "C75": "#FFFFFF", "C50": "#3F7FBF", "Loc": "#7FBFFF", "Sim": "#BF7FBF", "Oth": "#FF7F7F", "BG": "#FFBF7F",
    "FN": "#FFFF9F",
}

#: customdata layout of a per-category bar.
CATEGORY_CUSTOMDATA: Final[tuple[str, ...]] = ("category_id", "n_gt", "n_dt")

AREA_ORDER: Final[tuple[str, ...]] = ("small", "medium", "large")
SIZE_STATS: Final[dict[str, str]] = {"small": "APs", "medium": "APm", "large": "APl"}


def _percent(value: float | None) -> float | None:
    """A fraction as percent, None (a gap in Plotly) where undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return 100.0 * float(value)


def _layout(figure: go.Figure, title: str, *, height: int = 420, **kwargs: object) -> go.Figure:
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         template="plotly_white", **kwargs)
    return figure


# ---- one evaluation ----------------------------------------------------------------------------------------

def category_ap_figure(evaluation: Evaluation, metric: str = "ap") -> go.Figure:
    """Horizontal bars of one metric per category, best first; categories without ground truth last, barless.

    Horizontal so that 80 COCO class names stay readable; the absent ones keep their row (labelled "no ground
    truth") so a reader sees they were not forgotten.
    """
    check_metric(metric)
    c = hover_fields(CATEGORY_CUSTOMDATA)
    frame = evaluation.to_frame()
    defined = frame[frame[metric].notna()].sort_values([metric, "category"], ascending=[False, True])
    absent = frame[frame[metric].isna()].sort_values("category")
    ordered = pd.concat([defined, absent])
    values = [_percent(v) for v in ordered[metric]]
    text = [f"{v:.1f}" if v is not None else "no ground truth" for v in values]
    figure = go.Figure(go.Bar(
        x=[0.0 if v is None else v for v in values], y=list(ordered["category"]), orientation="h",
        marker_color=[PALETTE[0] if v is not None else "rgba(0,0,0,0)" for v in values],
        text=text, textposition="outside", cliponaxis=False,
        customdata=ordered[list(CATEGORY_CUSTOMDATA)].to_numpy(),
        hovertemplate=f"%{{y}}: %{{text}}<br>objects {c['n_gt']}, detections {c['n_dt']}<extra></extra>"))
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(title=f"{METRIC_TITLES[metric]} (%)", range=[0, 110])
    return _layout(figure, f"{METRIC_TITLES[metric]} per category", height=max(300, 24 * len(ordered) + 90))


def pr_curves_figure(evaluation: Evaluation, iou: float = 0.5, category_ids: Sequence[int] | None = None,
                     area: str = "all") -> go.Figure:
    """Precision-recall curves at one IoU threshold: the all-categories mean (bold) plus one line per chosen
    category (`category_ids`; None: none, an empty list too), so the overall curve can be read against the classes
    a user cares about. Categories without ground truth draw nothing."""
    t = iou_index(evaluation, iou)
    a = evaluation.area_labels.index(area)
    recall = np.asarray(evaluation.recall_thresholds)
    figure = go.Figure()
    for n, category_id in enumerate(category_ids or []):
        k = next(i for i, row in enumerate(evaluation.categories) if row.category_id == category_id)
        precision = evaluation.curves[t, :, k, a]
        row = evaluation.categories[k]
        ap = np.nanmean(precision) if not np.isnan(precision).all() else float("nan")
        label = f"{row.category} [{100 * ap:.1f}]" if not math.isnan(ap) else f"{row.category} [no ground truth]"
        figure.add_trace(go.Scatter(x=recall, y=np.where(np.isnan(precision), None, precision), mode="lines",
                                    name=label, line={"color": PALETTE[(n + 1) % len(PALETTE)], "width": 1.5}))
    overall = mean_precision(evaluation, iou, area)
    if not np.isnan(overall).all():
        figure.add_trace(go.Scatter(x=recall, y=overall, mode="lines", line={"color": "black", "width": 3},
                                    name=f"all categories [{100 * overall.mean():.1f}]"))
    figure.update_xaxes(title="recall", range=[0, 1])
    figure.update_yaxes(title="precision", range=[0, 1.02])
    return _layout(figure, f"Precision-recall at IoU {evaluation.iou_thresholds[t]:.2f} ({area} sizes)")


def area_ap_figure(evaluation: Evaluation) -> go.Figure:
    """AP for small, medium and large objects (the summary's APs / APm / APl), with overall AP as a line.

    Keypoints have no "small" range; undefined sizes (no objects of that size) are left without a bar.
    """
    names = {stat.name for stat in evaluation.summary}
    areas = [area for area in AREA_ORDER if SIZE_STATS[area] in names]
    values = [_percent(evaluation.stat(SIZE_STATS[area])) for area in areas]
    figure = go.Figure(go.Bar(x=areas, y=values, marker_color=PALETTE[:len(areas)],
                              text=[f"{v:.1f}" if v is not None else "no objects" for v in values],
                              textposition="outside", cliponaxis=False))
    overall = _percent(evaluation.stat("AP"))
    if overall is not None:
        figure.add_hline(y=overall, line_dash="dash", annotation_text=f"AP {overall:.1f}")
    figure.update_yaxes(title="AP (%)", range=[0, 110])
    figure.update_xaxes(title="object size", type="category")
    return _layout(figure, "AP by object size", height=360)


def breakdown_figure(breakdown: ErrorBreakdown, category_id: int | None = None, area: str = "all") -> go.Figure:
    """The COCO error analysis plot: the seven PR curves (C75 .. FN) as nested filled areas, each labelled with its
    AP, so the band between two curves is the AP that kind of error costs. `category_id` None: the mean over
    categories with ground truth."""
    frame = breakdown.curves_frame(category_id, area)
    figure = go.Figure()
    for label in reversed(BREAKDOWN_LABELS):  # widest first, so each narrower area paints over it
        curve = frame[frame["label"] == label]
        if curve["precision"].isna().all():
            continue
        ap = float(curve["precision"].mean())
        figure.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines", fill="tozeroy",
                                    name=f"[{ap:.3f}] {label}", fillcolor=BREAKDOWN_COLOURS[label],
                                    line={"color": "#444444", "width": 1}))
    if category_id is None:
        title = "all categories"
    else:
        title = breakdown.category_names[breakdown.category_ids.index(category_id)]
    figure.update_xaxes(title="recall", range=[0, 1])
    figure.update_yaxes(title="precision", range=[0, 1.02])
    return _layout(figure, f"Error breakdown: {title} ({area} sizes)", legend={"traceorder": "reversed"})


def breakdown_gains_figure(breakdown: ErrorBreakdown, area: str = "all") -> go.Figure:
    """Bars of the AP each error kind costs (C50 - C75, Loc - C50, ..., FN - BG), in points: the breakdown's
    answer to "what should be fixed first", as numbers rather than areas."""
    gains = breakdown.gains(area)
    labels = list(gains)
    values = [_percent(gains[label]) for label in labels]
    figure = go.Figure(go.Bar(x=labels, y=values, marker_color=[BREAKDOWN_COLOURS[label] for label in labels],
                              marker_line={"color": "#444444", "width": 1},
                              text=[f"+{v:.1f}" if v is not None else "" for v in values], textposition="outside",
                              cliponaxis=False))
    figure.update_yaxes(title="AP gained by fixing (points)")
    return _layout(figure, "AP lost to each kind of error", height=360)


# ---- several evaluations -----------------------------------------------------------------------------------

def category_heatmap_figure(matrix: pd.DataFrame, metric: str = "ap") -> go.Figure:
    """Per-category metric across results files: which model is best for which category. Blank cells are NaN
    (no ground truth), each cell printed in percent; the best file per category is outlined by a marker.

    `matrix` is `explorer.evaluation.coco.frames.category_matrix(evaluations, metric)` (fractions)."""
    check_metric(metric)
    matrix = matrix * 100.0
    z = matrix.to_numpy(dtype=float)
    text = [[f"{v:.1f}" if not math.isnan(v) else "" for v in row] for row in z]
    figure = go.Figure(go.Heatmap(
        z=np.where(np.isnan(z), None, z).tolist(), x=list(matrix.columns), y=list(matrix.index), text=text,
        texttemplate="%{text}", colorscale="Viridis", zmin=0, zmax=100, hoverongaps=False,
        colorbar={"title": f"{METRIC_TITLES[metric]} (%)"},
        hovertemplate="%{y} · %{x}: %{z:.1f}<extra></extra>"))
    best_x, best_y = [], []
    for category, row in matrix.iterrows():
        if row.notna().any() and len(matrix.columns) > 1:
            best_x.append(row.idxmax())
            best_y.append(category)
    if best_x:
        figure.add_trace(go.Scatter(x=best_x, y=best_y, mode="markers", name="best", hoverinfo="skip",
                                    marker={"symbol": "square-open", "size": 22, "color": "white",
                                            "line": {"width": 2}}))
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category", side="top")
    return _layout(figure, f"{METRIC_TITLES[metric]} per category and results file",
                   height=max(300, 26 * len(matrix.index) + 120), showlegend=False)


def difference_figure(frame: pd.DataFrame, metric: str = "ap", names: tuple[str, str] = ("A", "B")) -> go.Figure:
    """Bars of A - B per category (points of the metric): green where A is better, red where B is. Categories
    where either is undefined keep a row but no bar.

    `frame` is `explorer.evaluation.coco.frames.difference_frame(a, b, metric, names)`."""
    check_metric(metric)
    values = [None if math.isnan(v) else float(v) for v in frame["difference"]]
    figure = go.Figure(go.Bar(
        x=[0.0 if v is None else v for v in values], y=list(frame["category"].fillna("?")), orientation="h",
        marker_color=["rgba(0,0,0,0)" if v is None else "#2CA02C" if v >= 0 else "#D62728" for v in values],
        text=[f"{v:+.1f}" if v is not None else "undefined" for v in values], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>"))
    figure.add_vline(x=0, line_color="#444444")
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(title=f"{METRIC_TITLES[metric]}: {names[0]} − {names[1]} (points)")
    return _layout(figure, f"{names[0]} − {names[1]} per category", height=max(300, 24 * len(frame) + 90))


# ---- confusion matrix ----------------------------------------------------------------------------------------

def confusion_figure(matrix: ConfusionMatrix, normalise: bool = False) -> go.Figure:
    """The confusion matrix as a heatmap: rows ground truth (top to bottom), columns predicted, background last
    on both; each cell printed (count, or the row's fraction in percent). An invisible marker on every cell
    makes it clickable (Streamlit reports clicks on markers, not on heatmap cells); its x / y are the labels."""
    labels = list(matrix.labels)
    counts = matrix.counts
    values = matrix.normalised() * 100.0 if normalise else counts.astype(float)
    text = [[(f"{v:.0f}%" if counts[i, j] else "") if normalise else (str(int(v)) if v else "")
             for j, v in enumerate(row)] for i, row in enumerate(values)]
    figure = go.Figure(go.Heatmap(
        z=values.tolist(), x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="Blues", zmin=0,
        zmax=100 if normalise else max(1.0, float(values.max())), hoverongaps=False,
        customdata=counts.tolist(), colorbar={"title": "% of row" if normalise else "count"},
        hovertemplate="ground truth %{y} · predicted %{x}: %{customdata}<extra></extra>"))
    xs, ys = np.meshgrid(np.arange(len(labels)), np.arange(len(labels)))
    figure.add_trace(go.Scatter(
        x=[labels[j] for j in xs.ravel()], y=[labels[i] for i in ys.ravel()], mode="markers", name="cells",
        hoverinfo="none", showlegend=False, marker={"symbol": "square", "size": 24, "opacity": 0.01,
                                                      "color": "black"}))
    figure.update_yaxes(autorange="reversed", type="category", title="ground truth")
    figure.update_xaxes(type="category", side="top", title="predicted")
    side = max(360, 28 * len(labels) + 160)
    return _layout(figure, f"Confusion matrix ({matrix.iou_type}, IoU ≥ {matrix.iou_threshold:g}, "
                           f"score ≥ {matrix.score_threshold:g})", height=side, clickmode="event+select")


def confusion_cell_from_selection(event: Mapping[str, object] | None) -> tuple[str, str] | None:
    """(ground truth, predicted) of the cell clicked in `confusion_figure`, from st.plotly_chart's event."""
    selection = (event or {}).get("selection") if isinstance(event, Mapping) else None
    points = selection.get("points") if isinstance(selection, Mapping) else None
    if not points or not isinstance(points[0], Mapping):
        return None
    x, y = points[0].get("x"), points[0].get("y")
    return (str(y), str(x)) if x is not None and y is not None else None
