"""Schedules & backbones: what a longer schedule buys over 1x, and how backbones compare at a fixed type."""

from __future__ import annotations

from typing import Final

import pandas as pd
import streamlit as st

from explorer.figures import zoo as plots
from explorer.views import loaders, selection, widgets

#: Metrics for the schedule comparison; "ap" is each model's own main metric (box AP for Faster, ...).
GAIN_METRICS: Final[dict[str, str]] = {"ap": "main metric of each model", **plots.Y_AXES}
BACKBONE_COSTS: Final[dict[str, str]] = {
    "infer_s_e2e": "inference s/im, image to detections", "infer_s": "inference s/im as published",
    "train_hours": "training hours", "train_mem_gb": "training memory (GB)",
}


PAIR_COLUMNS: Final[dict[str, object]] = {
    "ap_base": st.column_config.NumberColumn("AP at 1x", format="%.1f"),
    "ap_long": st.column_config.NumberColumn("AP longer", format="%.1f"),
    "ap_gain": st.column_config.NumberColumn("AP gain", format="%+.1f"),
    "hours_base": st.column_config.NumberColumn("hours at 1x", format="%.1f"),
    "hours_long": st.column_config.NumberColumn("hours longer", format="%.1f"),
    "extra_hours": st.column_config.NumberColumn("extra hours", format="%.1f"),
    "extra_gpu_hours": st.column_config.NumberColumn("extra GPU-hours", format="%.0f"),
    "gain_per_extra_hour": st.column_config.NumberColumn("AP per extra hour", format="%.3f"),
    "tta": st.column_config.CheckboxColumn("TTA"),
}


def schedule_section(zoos: list[str]) -> None:
    st.header("What a longer schedule buys")
    left, middle, right = st.columns(3)
    metric = left.selectbox("Metric", list(GAIN_METRICS), format_func=GAIN_METRICS.get, key="sched_metric",
                            persist_state="session")
    chosen = middle.multiselect("Zoos", zoos, key="sched_zoos", placeholder="All zoos",
                                persist_state="session")
    scope = widgets.scope_widget(right, key="sched_scope")
    pairs = loaders.schedule_pairs(metric, tuple(chosen), scope)
    if pairs.empty:
        st.info("No pairs of models that differ only in schedule among these zoos.")
        return
    medians = pairs.groupby("type")["ap_gain"].median()
    untimed = int(pairs["extra_hours"].isna().sum())
    st.caption(f"{len(pairs)} pairs: same zoo, table, type, backbone and TTA, differing only in schedule "
               "(a longer schedule against 1x). Median gain per type: "
               + ", ".join(f"{kind} {gain:+.1f}" for kind, gain in medians.items())
               + (f". {untimed} pairs have no training hours and are only in the table." if untimed else "."))
    st.plotly_chart(plots.schedule_gain_figure(pairs), key="schedule_gain_chart")
    shown = pairs.drop(columns=["uid_base", "uid_long"])
    st.dataframe(shown, column_config=PAIR_COLUMNS, hide_index=True, key="schedule_pairs_frame")


def backbone_section(table: pd.DataFrame) -> None:
    st.header("Backbones at a fixed type")
    types = sorted(pd.unique(table["type"]))
    left, middle, right = st.columns(3)
    kind = left.selectbox("Type", types, index=types.index("Mask") if "Mask" in types else 0, key="bb_type")
    of_type = table[table["type"] == kind]
    tables = (of_type["zoo"] + " · " + of_type["table"]).value_counts().index.tolist()
    where = middle.selectbox("Table", tables, key="bb_table")
    cost = right.selectbox("Cost", list(BACKBONE_COSTS), format_func=BACKBONE_COSTS.get, key="bb_cost")
    rows = of_type[(of_type["zoo"] + " · " + of_type["table"]) == where]
    metric = str(rows["primary_metric"].iloc[0])
    label = plots.Y_AXES.get(metric, metric)
    a, b = st.columns(2)
    with a:
        st.plotly_chart(plots.backbone_bars(rows, metric, label), key="backbone_ap_chart")
    with b:
        if rows[cost].notna().any():
            st.plotly_chart(plots.backbone_bars(rows, cost, BACKBONE_COSTS[cost]), key="backbone_cost_chart")
        else:
            st.info(f"No {BACKBONE_COSTS[cost]} published for these models.")


def render() -> None:
    selection.forward_model_link()
    st.title("Schedules & backbones")
    table = loaders.zoo_table()
    schedule_section(widgets.zoo_options(table))
    backbone_section(table)
    selection.sidebar_selection(table)


if __name__ == "__main__":
    render()
