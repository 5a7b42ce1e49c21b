"""Pick a model: rank by accuracy per second under the user's constraints, and say which one to take."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from explorer import plots
from explorer.pages import common
from explorer.zoo.ranking import METRIC_LABELS, SPEED_COLUMNS, Constraints
from explorer.zoo.schema import TASKS

ANY_TASK = "any"


def constraint_widgets(zoos: list[str]) -> Constraints:
    """Collect the constraints; the widgets keep their values across pages."""
    left, middle, right = st.columns(3)
    metric = left.selectbox("Metric to maximise per second", list(METRIC_LABELS),
                            format_func=METRIC_LABELS.get, key="pick_metric", persist_state="session")
    speed = middle.selectbox("Speed column", list(SPEED_COLUMNS), format_func=SPEED_COLUMNS.get,
                             key="pick_speed", persist_state="session")
    task = right.selectbox("Task (model must output)", [ANY_TASK, *TASKS], key="pick_task",
                           persist_state="session")
    left, middle, right = st.columns(3)
    budget = left.number_input("Latency budget (s/im)", min_value=0.0, value=None, step=0.01, format="%.3f",
                               placeholder="no limit", key="pick_budget", persist_state="session")
    floor = middle.number_input(f"Minimum {METRIC_LABELS[metric]}", min_value=0.0, max_value=100.0,
                                value=None, step=0.5, placeholder="no minimum", key="pick_min",
                                persist_state="session")
    chosen = right.multiselect("Zoos", zoos, key="pick_zoos", placeholder="All zoos", persist_state="session")
    return Constraints(metric=metric, max_infer_s=budget, min_metric=floor,
                       task=None if task == ANY_TASK else task, zoos=tuple(chosen), speed=speed)


def ranking_columns(view: pd.DataFrame, constraints: Constraints) -> dict[str, Any]:
    per_s = view.columns[7]
    return {
        "rank": st.column_config.NumberColumn("#", width="small"),
        "model_id": "model id",
        "tta": st.column_config.CheckboxColumn("TTA"),
        constraints.metric: st.column_config.NumberColumn(METRIC_LABELS[constraints.metric], format="%.1f"),
        constraints.speed: st.column_config.NumberColumn("s/im", format="%.3f",
                                                         help=SPEED_COLUMNS[constraints.speed]),
        per_s: st.column_config.NumberColumn(f"{METRIC_LABELS[constraints.metric]} per s", format="%.1f"),
        "pareto": st.column_config.CheckboxColumn("Pareto",
                                                  help="no other candidate is both faster and better"),
    }


def render() -> None:
    st.title("Pick a model")
    table = common.zoo_table()
    error = common.sync_selection_with_url(table)
    if error:
        st.error(error)
    constraints = constraint_widgets(common.zoo_options(table))
    view, sentence = common.ranking(constraints)
    if view.empty:
        st.warning(sentence)
    else:
        st.success(sentence, icon=":material/recommend:")
    st.caption(f"{len(view)} models meet the constraints, ranked by {METRIC_LABELS[constraints.metric]} "
               f"per second. Timed on: {plots.hardware_caption(common.zoo_notes(), table)}.")
    st.dataframe(view, column_config=ranking_columns(view, constraints), hide_index=True, key="pick_ranking")
    if view.empty:
        return
    uid = common.model_picker(table, list(view.index), key="pick_choice",
                              label="Choose a model (it stays selected on every page)")
    common.sidebar_selection(table)
    if uid is not None:
        st.page_link(common.CARD_PAGE, label=f"Open the card of {table.at[uid, 'name']}",
                     icon=":material/badge:", query_params={common.QUERY_KEY: common.link_id(table, uid)})


if __name__ == "__main__":
    render()
