"""Pick a model: rank by accuracy per second under the user's constraints, and say which one to take."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from explorer.tasks import METRIC_LABELS, TASK_NAMES
from explorer.views import loaders, selection, widgets
from explorer.zoo import lookup
from explorer.zoo.derived import PER_SECOND
from explorer.zoo.ranking import Constraints
from explorer.zoo.speeds import SPEEDS, hardware_caption

ANY_TASK = "any"


def constraint_widgets(zoos: list[str]) -> tuple[Constraints, str | None]:
    """Collect the constraints and the measurement setting; the widgets keep their values across pages."""
    left, middle, right = st.columns(3)
    metric = left.selectbox("Metric to maximise per second", list(METRIC_LABELS),
                            format_func=METRIC_LABELS.get, key="pick_metric", persist_state="session")
    speed = middle.selectbox("Speed", list(SPEEDS), format_func=lambda key: SPEEDS[key].label,
                             key="pick_speed", persist_state="session",
                             help="Published times rank within each zoo's own GPU; measured and projected times "
                                  "are for this machine and rank across zoos.")
    task = right.selectbox("Task (model must output)", [ANY_TASK, *TASK_NAMES], key="pick_task",
                           persist_state="session")
    left, middle, right = st.columns(3)
    budget = left.number_input("Latency budget (s/im)", min_value=0.0, value=None, step=0.01, format="%.3f",
                               placeholder="no limit", key="pick_budget", persist_state="session")
    floor = middle.number_input(f"Minimum {METRIC_LABELS[metric]}", min_value=0.0, max_value=100.0,
                                value=None, step=0.5, placeholder="no minimum", key="pick_min",
                                persist_state="session")
    chosen = right.multiselect("Zoos", zoos, key="pick_zoos", placeholder="All zoos", persist_state="session")
    left, right = st.columns([1, 2])
    scope = widgets.scope_widget(left, key="pick_scope")
    setting = widgets.setting_widget(right, key="pick_setting") if SPEEDS[speed].local else None
    return Constraints(metric=metric, max_infer_s=budget, min_metric=floor,
                       task=None if task == ANY_TASK else task, zoos=tuple(chosen), speed=speed, scope=scope,
                       machine=setting or ""), setting


def ranking_columns(view: pd.DataFrame, constraints: Constraints) -> dict[str, Any]:
    per_s = PER_SECOND[constraints.metric]
    return {
        "rank": st.column_config.NumberColumn("#", width="small", help="ranks restart for every timing source"),
        "timing": st.column_config.TextColumn("timed by", help="ranks never order models timed on different "
                                                               "hardware against each other"),
        "metric_scope": st.column_config.TextColumn("scope", help="coco: all categories; person: person only"),
        "speed_source": st.column_config.TextColumn("speed", help="published, measured here or projected"),
        "projected_lo_s": st.column_config.NumberColumn("80 % low", format="%.3f"),
        "projected_hi_s": st.column_config.NumberColumn("80 % high", format="%.3f"),
        "projection_n": st.column_config.NumberColumn("fit on n models", format="%d"),
        "model_id": "model id",
        "tta": st.column_config.CheckboxColumn("TTA"),
        constraints.metric: st.column_config.NumberColumn(METRIC_LABELS[constraints.metric], format="%.1f"),
        constraints.speed_column: st.column_config.NumberColumn("s/im", format="%.3f",
                                                                help=SPEEDS[constraints.speed].label),
        per_s: st.column_config.NumberColumn(f"{METRIC_LABELS[constraints.metric]} per s", format="%.1f"),
        "pareto": st.column_config.CheckboxColumn("Pareto",
                                                  help="no other candidate is both faster and better"),
    }


def render() -> None:
    st.title("Pick a model")
    table = loaders.zoo_table()
    error = selection.sync_selection_with_url(table)
    if error:
        st.error(error)
    constraints, setting = constraint_widgets(widgets.zoo_options(table))
    view, sentence = loaders.ranking(constraints, setting)
    if view.empty:
        st.warning(sentence)
    else:
        st.success(sentence, icon=":material/recommend:")
    timed = (f"this machine ({setting})" if constraints.local and setting
             else hardware_caption(loaders.zoo_notes(), table))
    st.caption(f"{len(view)} models meet the constraints, ranked by {METRIC_LABELS[constraints.metric]} "
               f"per second within each timing source (ranks restart per hardware). Timed on: {timed}.")
    st.dataframe(view, column_config=ranking_columns(view, constraints), hide_index=True, key="pick_ranking")
    if view.empty:
        return
    uid = selection.model_picker(table, list(view.index), key="pick_choice",
                              label="Choose a model (it stays selected on every page)")
    selection.sidebar_selection(table)
    if uid is not None:
        st.page_link(selection.CARD_PAGE, label=f"Open the card of {table.at[uid, 'name']}",
                     icon=":material/badge:", query_params={selection.QUERY_KEY: lookup.link_id(table, uid)})


if __name__ == "__main__":
    render()
