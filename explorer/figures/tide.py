"""Figures for TIDE's error types: pure functions from `TideErrors` to a `plotly.graph_objects.Figure`.

dAP is in AP points. The six main types and the two special ones are on separate axes in TIDE's own summary
plot because they answer different questions (what one kind of mistake costs, vs. perfect precision or
recall); here they are two groups of bars in one figure, main first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import plotly.graph_objects as go

from explorer.evaluation.analyses.tide import ERRORS, MAIN_ERRORS, TideErrors

#: One colour per error type (TIDE's plot uses one per type too).
ERROR_COLOURS: Final[dict[str, str]] = {
    "cls": "#D62728", "loc": "#FF7F0E", "both": "#9467BD", "dupe": "#BCBD22", "bkg": "#7F7F7F",
    "miss": "#1F77B4", "false_pos": "#E377C2", "false_neg": "#17BECF",
}


def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         template="plotly_white", xaxis_title="error type", yaxis_title="dAP (AP points)")
    return figure


def tide_figure(errors: TideErrors, category: str | None = None) -> go.Figure:
    """Bars: the dAP of each error type, over all categories or for one (by name)."""
    if category is None:
        values = [errors.dap[e] for e in ERRORS]
        where = "all categories"
    else:
        k = errors.category_names.index(category)
        values = [float(errors.category_dap[e, k]) for e in range(len(ERRORS))]
        where = category
    figure = go.Figure(go.Bar(
        x=list(ERRORS), y=[None if v != v else v for v in values],
        marker_color=[ERROR_COLOURS[e] for e in ERRORS], text=[f"{v:.2f}" if v == v else "" for v in values],
        textposition="outside", cliponaxis=False, hovertemplate="%{x}: %{y:.2f}<extra></extra>"))
    figure.add_vline(x=len(MAIN_ERRORS) - 0.5, line_dash="dot", line_color="#999999")
    return _layout(figure, f"TIDE: AP lost to each error type ({where}; right of the line: special types)")


def tide_comparison_figure(errors: Mapping[str, TideErrors]) -> go.Figure:
    """Grouped bars: each model's dAP per error type (over all categories)."""
    figure = go.Figure([go.Bar(name=name, x=list(ERRORS), y=[e.dap[k] for k in ERRORS],
                               hovertemplate=f"{name} %{{x}}: %{{y:.2f}}<extra></extra>")
                        for name, e in errors.items()])
    figure.update_layout(barmode="group")
    return _layout(figure, "TIDE: dAP per error type, model by model")
