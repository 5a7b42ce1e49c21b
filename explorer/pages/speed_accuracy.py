"""Speed vs accuracy: every model with both numbers on one Plotly scatter, Pareto frontier per zoo.

Click a point to select that model: its card opens below the plot and `?model=` joins the URL.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import streamlit as st

from explorer.figures import zoo as plots
from explorer.tasks import task_named
from explorer.views import card, loaders, selection, widgets
from explorer.zoo.speeds import hardware_caption

PLOT_KEY: Final[str] = "speed_plot"


def controls(zoos: list[str]) -> tuple[str, str, bool, str, tuple[str, ...], str]:
    """The plot's choices: y, x, log x, colour, zoos, scope (widget state survives page switches)."""
    left, middle, right = st.columns(3)
    y = left.selectbox("Accuracy (y)", list(plots.Y_AXES), format_func=plots.Y_AXES.get, key="speed_y",
                       persist_state="session")
    x = middle.selectbox("Cost (x)", list(plots.X_AXES), format_func=plots.X_AXES.get, key="speed_x",
                         persist_state="session")
    chosen = right.multiselect("Zoos", zoos, key="speed_zoos", placeholder="All zoos",
                               persist_state="session")
    left, middle, right = st.columns(3)
    colour_by = left.radio("Colour by", list(plots.COLOUR_BY), format_func=plots.COLOUR_BY.get,
                           horizontal=True, key="speed_colour", persist_state="session")
    log_x = middle.toggle("Log x axis", value=True, key="speed_log_x", persist_state="session")
    scope = widgets.scope_widget(right, key="speed_scope", both=True)
    return y, x, log_x, colour_by, tuple(chosen), scope


def measured_overlay(x: str) -> pd.DataFrame | None:
    """Speeds measured on this machine, when the user asks for them and the x axis is a latency."""
    if x not in plots.MEASURABLE_X:
        return None
    if not st.toggle("Show speeds measured on this machine", value=True, key="speed_measured",
                     help="Benchmark a model on the Detections page or with `python -m explorer bench`"):
        return None
    return loaders.measurements()


def apply_chart_selection(table: pd.DataFrame, figure_args: tuple, scope: str, setting: str | None) -> None:
    """Select the model of a clicked point before the figure is drawn, so the ring marks the new pick.

    The click arrives as the chart's widget state (`st.session_state[PLOT_KEY]`) at the start of the
    rerun it triggers; the figure it was made on is the cached one for the same choices.
    """
    pending = st.session_state.get(PLOT_KEY)
    if not pending or not pending["selection"]["points"]:
        selection.apply_pick(None, source=PLOT_KEY)
        return
    drawn = loaders.speed_figure(*figure_args, selection.selected_model(table), scope=scope, setting=setting)
    selection.apply_pick(plots.uid_from_selection(pending, drawn), source=PLOT_KEY)


def render() -> None:
    st.title("Speed vs accuracy")
    table = loaders.zoo_table()
    error = selection.sync_selection_with_url(table)
    if error:
        st.error(error)
    y, x, log_x, colour_by, zoos, scope = controls(widgets.zoo_options(table))
    setting = widgets.setting_widget(st, key="speed_setting") if x in plots.LOCAL_X else None
    figure_args = (x, y, log_x, colour_by, zoos)
    apply_chart_selection(table, figure_args, scope, setting)
    uid = selection.selected_model(table)
    shown = table[table["zoo"].isin(zoos)] if zoos else table
    if x in plots.LOCAL_X:
        st.caption("Times for this machine: measured points are solid; projected ones are hollow, with their 80 % "
                   "interval, projected from the published time by a scale fitted on the measured models of the "
                   "same zoo (at least 3). One frontier across zoos, since every time is for one machine.")
    else:
        st.caption(f"{hardware_caption(loaders.zoo_notes(), shown)}. Step lines: each zoo's Pareto "
                   "frontier (no model of that zoo is both faster and more accurate), drawn per zoo because "
                   "the zoos timed their models on different GPUs. Click a point to open its card.")
    keypoints = task_named("keypoints")
    if y == keypoints.metric and scope == "coco":
        st.info(f"The zoos publish {keypoints.label} for the person category only: choose the metric scope "
                "'person only'.")
    measured = measured_overlay(x)
    st.plotly_chart(loaders.speed_figure(*figure_args, uid, measured, scope=scope, setting=setting),
                    on_select="rerun", selection_mode="points", key=PLOT_KEY)
    selection.sidebar_selection(table)
    if uid is None:
        st.info("Click a point to see that model's card here.")
        return
    st.divider()
    card.render_card(table, uid, key_prefix="speed", link_to_card_page=True)


if __name__ == "__main__":
    render()
