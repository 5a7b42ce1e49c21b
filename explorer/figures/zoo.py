"""Figures for the dashboard: pure functions from a zoo DataFrame to a `plotly.graph_objects.Figure`.

Nothing here touches Streamlit, so every figure can be unit-tested and cached by the pages. Only
`plotly.graph_objects` is imported (never plotly.express): it loads lazily and keeps a cold page run fast.
The frames these functions take are the ones `explorer.zoo.table.load_zoo` returns (indexed by `uid`); what they
draw from other data (speeds measured here, each zoo's hardware, frontier groups) is joined in `explorer.zoo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go

from explorer.tasks import METRIC_LABELS
from explorer.zoo.pareto import frontiers
from explorer.zoo.ranking import SPEED_COLUMNS
from explorer.zoo.schema import ZOO_LABELS
from explorer.zoo.speeds import COLUMN_SPEEDS, LOCAL_COLUMNS, SPEEDS, hardware_caption, speed_sources

#: Accuracy columns a user can put on the y axis.
Y_AXES: Final[dict[str, str]] = dict(METRIC_LABELS)

#: Cost columns a user can put on the x axis (lower is better for all of them).
X_AXES: Final[dict[str, str]] = {
    **SPEED_COLUMNS,
    "train_hours": "training hours",
    "train_gpu_hours": "training GPU-hours",
    "train_mem_gb": "training memory per GPU (GB)",
    "gflops": "GFLOPs per image (torchvision: published; Detectron: computed here)",
}

COLOUR_BY: Final[dict[str, str]] = {"type": "model type", "zoo": "zoo"}


#: Plotly's default qualitative palette, copied so that no colour module is imported.
PALETTE: Final[tuple[str, ...]] = (
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A",
    "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
)
SYMBOLS: Final[tuple[str, ...]] = (
    "circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon", "pentagon",
    "triangle-down", "star-diamond", "hourglass", "bowtie", "triangle-left", "triangle-right",
    "diamond-wide", "square-x", "circle-x",
)
FRONTIER_DASH: Final[tuple[str, ...]] = ("solid", "dash", "dot", "dashdot")

#: Marker size where training memory is unknown, and the size range memory is mapped onto.
CONSTANT_SIZE: Final[float] = 9.0
MIN_SIZE, MAX_SIZE = 6.0, 24.0
SIZE_PER_GB: Final[float] = 1.3

#: customdata layout of every point: uid first, so that a selection maps back to its row.
CUSTOMDATA_COLUMNS: Final[tuple[str, ...]] = ("uid", "name", "zoo", "model_id", "hardware", "lr_schedule",
                                               "runnable")


@dataclass(frozen=True)
class MissingCounts:
    """How many rows a scatter leaves out, and why (a row can lack both numbers)."""

    total: int
    shown: int
    no_x: int
    no_y: int

    @property
    def hidden(self) -> int:
        return self.total - self.shown

    def sentence(self, x_label: str, y_label: str) -> str:
        """Plain words for the caption: the plot must say what it does not show."""
        if self.hidden == 0:
            return f"All {self.total} models are shown."
        return (f"{self.hidden} of {self.total} models not shown: {self.no_x} have no {x_label}, "
                f"{self.no_y} have no {y_label}.")


def plottable_mask(table: pd.DataFrame, x: str, y: str, log_x: bool = False) -> pd.Series:
    """Rows that have both numbers (and a positive x when the axis is logarithmic)."""
    has_x = table[x].notna() & (table[x] > 0 if log_x else True)
    return has_x & table[y].notna()


def missing_counts(table: pd.DataFrame, x: str, y: str, log_x: bool = False) -> MissingCounts:
    """Count the rows a scatter of y against x cannot show."""
    has_x = table[x].notna() & (table[x] > 0 if log_x else True)
    has_y = table[y].notna()
    return MissingCounts(total=len(table), shown=int((has_x & has_y).sum()), no_x=int((~has_x).sum()),
                         no_y=int((~has_y).sum()))


def _cycle(values: Sequence[str], palette: Sequence[str]) -> dict[str, str]:
    return {value: palette[i % len(palette)] for i, value in enumerate(values)}


def marker_sizes(memory_gb: pd.Series) -> list[float]:
    """Marker size grows with training memory; rows without a figure get one constant size."""
    sizes = (memory_gb * SIZE_PER_GB + 2.0).clip(MIN_SIZE, MAX_SIZE)
    return sizes.where(memory_gb.notna(), CONSTANT_SIZE).round(2).tolist()


def hover_fields(columns: Sequence[str]) -> dict[str, str]:
    """Column -> its Plotly hover placeholder ('%{customdata[1]}'), for customdata laid out as `columns`, so that
    a hover template names its fields and never counts positions."""
    return {column: f"%{{customdata[{i}]}}" for i, column in enumerate(columns)}


def _customdata(rows: pd.DataFrame) -> list[list[str]]:
    data = rows.reindex(columns=list(CUSTOMDATA_COLUMNS))
    data["runnable"] = data["runnable"].map({True: "yes", False: "not yet"}).fillna("—")
    return data.fillna("—").replace("", "—").astype(str).to_numpy().tolist()


def _hovertemplate(x_label: str, y_label: str) -> str:
    c = hover_fields(CUSTOMDATA_COLUMNS)
    return (f"<b>{c['name']}</b><br>zoo: {c['zoo']} · model id {c['model_id']}<br>"
            f"{y_label}: %{{y}}<br>{x_label}: %{{x}}<br>"
            f"hardware: {c['hardware']} · schedule: {c['lr_schedule']}<br>"
            f"runs on the Detections page: {c['runnable']}<extra></extra>")


#: Scope choices of the scatter: one scope, or both as separate series with their own frontiers.
PLOT_SCOPES: Final[dict[str, str]] = {"coco": "COCO, all categories", "person": "person only",
                                      "both": "both (separate series)"}
#: How person-only points and frontiers differ from COCO ones, so that the two never read as one series.
PERSON_OUTLINE: Final[dict[str, Any]] = {"width": 2.0, "color": "#D62728"}
PERSON_FRONTIER_COLOUR: Final[str] = "#D62728"
#: x axes whose times are for this machine (measured, or projected from a fit on measured models).
LOCAL_X: Final[frozenset[str]] = LOCAL_COLUMNS


def point_kinds(table: pd.DataFrame, x: str) -> pd.Series:
    """'published', 'measured' or 'projected' per row: how the x value was obtained (costs other than speeds
    are all published)."""
    if x in COLUMN_SPEEDS:
        return speed_sources(table, x)
    return pd.Series("published", index=table.index)


def _scoped(table: pd.DataFrame, scope: str) -> pd.DataFrame:
    if scope not in PLOT_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose from {', '.join(PLOT_SCOPES)}")
    return table if scope == "both" else table[table["metric_scope"] == scope]


def speed_accuracy_figure(table: pd.DataFrame, x: str = "infer_s_e2e", y: str = "box_ap", *, log_x: bool = False,
                          colour_by: str = "type", notes: Mapping[str, Any] | None = None,
                          selected: str | None = None, measured: pd.DataFrame | None = None,
                          scope: str = "coco", machine: str = "") -> go.Figure:
    """Accuracy (y) against a cost (x): colour by type or zoo, symbol by backbone, size by training memory.

    Only one metric scope is shown unless `scope="both"`, which draws person-only figures as their own
    series (red outline, "person only" in the legend) with their own frontiers. One Pareto frontier per
    zoo is drawn as a step line: the zoos timed their models on different GPUs, so one frontier across
    zoos would compare P100 seconds with V100 seconds; times for this machine (x = measured_s or
    projected_s, `machine` naming it) share one frontier across zoos. On those axes measured points are
    solid and projected ones hollow with their 80 % interval as error bars. Every point's customdata
    starts with its uid, which is how a click is mapped back to the row. `measured` is
    `explorer.zoo.local_speeds.measured_points(measurements, table, y)`: speeds timed here, drawn as stars at the
    published accuracy on latency axes, for the rows shown; `notes` (notes.json) name each zoo's hardware.
    """
    if x not in X_AXES or y not in Y_AXES or colour_by not in COLOUR_BY:
        raise ValueError(f"unknown axis or colour: x={x!r}, y={y!r}, colour_by={colour_by!r}")
    x_label, y_label = X_AXES[x], Y_AXES[y]
    table = _scoped(table, scope)
    if x not in table:
        table = table.assign(**{x: float("nan")})
    shown = table[plottable_mask(table, x, y, log_x)]
    template = _hovertemplate(x_label, y_label)
    colours = _cycle(sorted(pd.unique(shown[colour_by])), PALETTE)
    symbols = _cycle(sorted(pd.unique(shown["backbone"])), SYMBOLS)
    fig = go.Figure()
    _add_model_traces(fig, shown, x, y, colour_by, colours, symbols, template, both=scope == "both")
    for backbone, symbol in symbols.items():  # a legend for the symbols: the points carry no backbone legend
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=backbone, legendgroup="backbone",
            legendgrouptitle_text="backbone", marker={"symbol": symbol, "color": "#888", "size": 9},
            hoverinfo="skip", meta={"role": "legend"},
        ))
    for i, ((group, part_scope), front) in enumerate(frontiers(shown, x, y, across_zoos=x in LOCAL_X).items()):
        person = part_scope == "person"
        where = "this machine" if x in LOCAL_X else ZOO_LABELS.get(group, group)
        fig.add_trace(go.Scatter(
            x=front[x].tolist(), y=front[y].tolist(), mode="lines", line_shape="hv",
            line={"color": PERSON_FRONTIER_COLOUR if person else "#444",
                  "dash": FRONTIER_DASH[i % len(FRONTIER_DASH)], "width": 1.5},
            name=f"Pareto frontier, {where}" + (" (person only)" if person else ""), legendgroup="frontier",
            legendgrouptitle_text="frontier (per zoo)" if x not in LOCAL_X else "frontier (one machine)",
            customdata=_customdata(front), hovertemplate=template,
            meta={"role": "frontier", "zoo": group, "scope": part_scope},
        ))
    if selected is not None and selected in shown.index:
        row = shown.loc[[selected]]
        fig.add_trace(go.Scatter(
            x=row[x].tolist(), y=row[y].tolist(), mode="markers", name="selected model",
            marker={"symbol": "circle-open", "size": 26, "color": "#000", "line": {"width": 2.5}},
            customdata=_customdata(row), hovertemplate=template, meta={"role": "selected"},
        ))
    if measured is not None and not measured.empty and x in MEASURABLE_X:
        _add_measured(fig, measured[measured["model_uid"].isin(table.index)], y_label)
    counts = missing_counts(table, x, y, log_x)
    subtitle = (f"Times for this machine: {machine or 'no measurements yet'}; measured points solid, projected "
                "hollow with 80 % intervals" if x in LOCAL_X else hardware_caption(notes or {}, table))
    subtitle += f" · {PLOT_SCOPES[scope]}" if scope != "both" else " · COCO and person-only figures apart"
    fig.update_layout(
        title={"text": f"{y_label} vs {x_label}<br><sup>{subtitle}</sup>"},
        xaxis={"title": {"text": x_label + (" (log scale)" if log_x else "")},
               "type": "log" if log_x else "linear"},
        yaxis={"title": {"text": y_label}},
        height=760, margin={"t": 90, "b": 90}, hovermode="closest", clickmode="event+select",
        legend={"groupclick": "toggleitem", "font": {"size": 10}, "tracegroupgap": 6},
        annotations=[{"text": counts.sentence(x_label, y_label) + " Marker size: training memory "
                      "(constant where unknown).", "xref": "paper", "yref": "paper", "x": 0, "y": -0.16,
                      "xanchor": "left", "showarrow": False, "font": {"size": 11}}],
    )
    return fig


def _add_model_traces(fig: go.Figure, shown: pd.DataFrame, x: str, y: str, colour_by: str,
                      colours: dict[str, str], symbols: dict[str, str], template: str, both: bool) -> None:
    """One trace per (colour group, scope, how x was obtained): person-only and projected points stand apart."""
    kinds = point_kinds(shown, x)
    keys = [shown[colour_by], shown["metric_scope"], kinds]
    for (group, part_scope, kind), rows in shown.groupby(keys, sort=True):
        person = part_scope == "person"
        hollow = kind == "projected"
        name = str(group) + (" · person only" if person and both else "") + (" · projected" if hollow else "")
        outline = PERSON_OUTLINE if person and both else {"width": 0.5, "color": "#222"}
        trace = go.Scatter(
            x=rows[x].tolist(), y=rows[y].tolist(), mode="markers", name=name,
            legendgroup="person" if person and both else "colour",
            legendgrouptitle_text=(f"person only: {COLOUR_BY[colour_by]}" if person and both
                                   else COLOUR_BY[colour_by]),
            customdata=_customdata(rows), hovertemplate=template,
            marker={"color": colours[group],
                    "symbol": [symbols[b] + ("-open" if hollow else "") for b in rows["backbone"]],
                    "size": marker_sizes(rows["train_mem_gb"]), "line": outline},
            meta={"role": "models", "group": str(group), "scope": str(part_scope), "speed_source": kind},
        )
        if hollow:
            trace.error_x = {"type": "data", "symmetric": False, "color": colours[group], "thickness": 1,
                             "array": (rows["projected_hi_s"] - rows[x]).tolist(),
                             "arrayminus": (rows[x] - rows["projected_lo_s"]).tolist()}
            trace.text = [f"projected: 80 % interval {lo:.3g}–{hi:.3g} s/im, scale fitted on {n:.0f} measured "
                          "models of its zoo" for lo, hi, n in
                          zip(rows["projected_lo_s"], rows["projected_hi_s"], rows["projection_n"], strict=True)]
            trace.hovertemplate = template.replace("<extra></extra>", "<br>%{text}<extra></extra>")
        elif kind == "measured":
            trace.hovertemplate = template.replace("<extra></extra>", "<br>measured on this machine<extra></extra>")
        fig.add_trace(trace)


#: x axes on which a latency measured here can stand beside the published ones.
MEASURABLE_X: Final[frozenset[str]] = frozenset(speed.column for speed in SPEEDS.values() if not speed.local)


#: customdata layout of a measured point: uid first, like the model points.
MEASURED_CUSTOMDATA: Final[tuple[str, ...]] = ("model_uid", "name", "image_width", "image_height", "batch_size",
                                               "autocast")


def _add_measured(fig: go.Figure, points: pd.DataFrame, y_label: str) -> None:
    c = hover_fields(MEASURED_CUSTOMDATA)
    for device, rows in points.groupby("device_name", sort=True):
        custom = rows[list(MEASURED_CUSTOMDATA)]
        fig.add_trace(go.Scatter(
            x=rows["median_s"].tolist(), y=rows["published_y"].tolist(),
            mode="markers", name=f"measured here: {device}", legendgroup="measured",
            legendgrouptitle_text="measured on this machine",
            marker={"symbol": "star", "size": 14, "color": "#111", "line": {"width": 1, "color": "#FFD400"}},
            customdata=custom.astype(str).to_numpy().tolist(),
            hovertemplate=(f"<b>{c['name']}</b><br>measured median: %{{x:.3f}} s/im on {device}"
                           f"<br>image {c['image_width']}×{c['image_height']}, batch {c['batch_size']}, "
                           f"{c['autocast']}<br>{y_label} (published): %{{y}}<extra></extra>"),
            meta={"role": "measured", "device": str(device)},
        ))


def uid_from_selection(event: Mapping[str, Any] | None, fig: go.Figure | None = None) -> str | None:
    """The uid of the first selected point in a `st.plotly_chart(on_select=...)` event, or None.

    The point's customdata carries the uid; when a front end leaves customdata out, the trace and
    point index find it in the figure instead.
    """
    if not event:
        return None
    selection = event.get("selection") or {}
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data:
            data = data[0]
        if isinstance(data, str) and data:
            return data
        curve, index = point.get("curve_number"), point.get("point_index", point.get("point_number"))
        if fig is not None and isinstance(curve, int) and isinstance(index, int) and curve < len(fig.data):
            custom = fig.data[curve].customdata
            if custom is not None and 0 <= index < len(custom):
                return str(custom[index][0])
    return None


# ---- schedules and backbones -------------------------------------------------------------------------------

#: Rows that may be paired: same zoo, table, type, backbone and TTA, differing only in schedule.
GAIN_CUSTOMDATA: Final[tuple[str, ...]] = ("uid_long", "name_base", "name_long", "schedule", "metric",
                                           "table")


def schedule_gain_figure(pairs: pd.DataFrame) -> go.Figure:
    """AP gain of the longer schedule (y) against the extra training hours it took (x), one trace per type.

    Pairs without published training hours cannot be placed and are left out (the page counts them).
    """
    pairs = pairs[pairs["extra_hours"].notna()]
    c = hover_fields(GAIN_CUSTOMDATA)
    fig = go.Figure()
    colours = _cycle(sorted(pd.unique(pairs["type"])), PALETTE)
    symbols = _cycle(sorted(pd.unique(pairs["backbone"])), SYMBOLS)
    for kind, rows in pairs.groupby("type", sort=True):
        fig.add_trace(go.Scatter(
            x=rows["extra_hours"].tolist(), y=rows["ap_gain"].tolist(), mode="markers", name=str(kind),
            marker={"color": colours[kind], "size": 11, "symbol": [symbols[b] for b in rows["backbone"]],
                    "line": {"width": 0.5, "color": "#222"}},
            customdata=rows[list(GAIN_CUSTOMDATA)].to_numpy().tolist(),
            hovertemplate=(f"<b>{c['name_long']}</b> vs {c['name_base']}<br>{c['table']}<br>"
                           f"{c['metric']} gain: %{{y:+.1f}}<br>extra training: %{{x:.1f}} h<extra></extra>"),
        ))
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig.update_layout(title={"text": "What a longer schedule buys: AP gain vs extra training hours"},
                      xaxis={"title": {"text": "extra training hours (longer schedule − 1x)"}},
                      yaxis={"title": {"text": "AP gain (points)"}}, height=480,
                      legend={"title": {"text": "type"}})
    return fig


def backbone_bars(rows: pd.DataFrame, value: str, value_label: str) -> go.Figure:
    """One bar per backbone and schedule (grouped), for models of one type in one table.

    Backbones are ordered by the value's mean so the chart reads as a ranking.
    """
    order = rows.groupby("backbone")[value].mean().sort_values().index.tolist()
    fig = go.Figure()
    labels = rows["lr_schedule"].replace("", "—") + rows["tta"].map({True: " TTA", False: ""})
    for (schedule, colour) in _cycle(sorted(pd.unique(labels)), PALETTE).items():
        part = rows[labels == schedule]
        fig.add_trace(go.Bar(
            x=part["backbone"].tolist(), y=part[value].tolist(), name=schedule, marker_color=colour,
            customdata=part[["uid", "name"]].to_numpy().tolist(), text=part[value].round(3).tolist(),
            textposition="outside",
            hovertemplate=f"<b>{hover_fields(('uid', 'name'))['name']}</b><br>{value_label}: %{{y}}<extra></extra>",
        ))
    fig.update_layout(barmode="group", height=380, title={"text": f"{value_label} per backbone"},
                      xaxis={"categoryorder": "array", "categoryarray": order, "title": {"text": "backbone"}},
                      yaxis={"title": {"text": value_label}}, legend={"title": {"text": "schedule"}},
                      margin={"t": 60})
    return fig
