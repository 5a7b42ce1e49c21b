"""Cached loaders every page reads the zoo through: each rerun finds the zoo, its notes, configs, figures and
rankings in memory, never re-read from disk. Plain library calls (explorer.zoo, explorer.figures) do the work;
this module only caches them per process (st.cache_data / st.cache_resource).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.figures import zoo as plots
from explorer.zoo import lookup, schedules
from explorer.zoo.card import ModelCard, build_card
from explorer.zoo.lookup import model_rows
from explorer.zoo.ranking import Constraints, rank_models, ranking_view, recommend
from explorer.zoo.schema import ZOOS
from explorer.zoo.table import load_configs, load_notes, load_zoo


@st.cache_resource(show_spinner=False)
def zoo_table() -> pd.DataFrame:
    """All zoo rows with derived columns (`load_zoo`) and whether each can run here, read once per process.

    cache_resource, not cache_data: every rerun of every page starts here, and cache_data unpickles a fresh
    copy each time (about 15 ms of GIL-holding work: half a Detections rerun, taken from the model run in
    progress when six sessions press Run at once). The one table is shared read-only: pandas' copy-on-write
    keeps what callers derive from it apart, and tests/test_shared_zoo_table.py runs every page and checks
    that none changed it.
    """
    from explorer.models.catalog import runnable_mask

    table = load_zoo(ZOOS)
    table["runnable"] = runnable_mask(table)
    return table


@st.cache_data(show_spinner=False)
def model_labels() -> dict[str, str]:
    """Every zoo row's label for the model selectboxes, by uid (see `lookup.model_labels`), built once."""
    return lookup.model_labels(zoo_table())


@st.cache_data(show_spinner=False)
def zoo_notes() -> dict[str, Any]:
    """Per-zoo notes (hardware, common settings, per-table notes)."""
    return load_notes()


@st.cache_data(show_spinner=False)
def zoo_configs() -> pd.DataFrame:
    """Detectron config facts by config name; empty (not an error) while the file is missing or bare."""
    try:
        return load_configs()
    except (FileNotFoundError, KeyError, pd.errors.EmptyDataError):
        return pd.DataFrame(index=pd.Index([], name="config"))


@st.cache_resource(show_spinner=False, max_entries=64)
def speed_figure(x: str, y: str, log_x: bool, colour_by: str, zoos: tuple[str, ...],
                 selected: str | None, measured: pd.DataFrame | None = None, scope: str = "coco",
                 setting: str | None = None) -> go.Figure:
    """The speed/accuracy figure for these choices (`setting`: the measurement setting of local x axes).

    cache_resource, not cache_data: the figure is shared read-only, so a rerun neither rebuilds it
    (~35 ms) nor unpickles a copy (~15 ms); nothing downstream mutates it.
    """
    from explorer.zoo.local_speeds import measured_points

    table, machine = local_zoo(setting) if x in plots.LOCAL_X else (zoo_table(), "")
    if zoos:
        table = table[table["zoo"].isin(zoos)]
    points = measured_points(measured, table, y) if measured is not None else None
    return plots.speed_accuracy_figure(table, x, y, log_x=log_x, colour_by=colour_by, notes=zoo_notes(),
                                       selected=selected, measured=points, scope=scope, machine=machine)


@st.cache_data(show_spinner=False, ttl=10)
def measurements() -> pd.DataFrame:
    """Speeds measured on this machine (Detections page or `explorer bench`), re-read at most every 10 s."""
    from explorer.benchmarks.store import MeasurementStore

    return MeasurementStore().frame()


@st.cache_data(show_spinner=False, ttl=10)
def local_zoo(setting: str | None = None) -> tuple[pd.DataFrame, str]:
    """The zoo with speeds measured here and projected for here under one measurement setting, and its label."""
    from explorer.zoo.local_speeds import with_local_speeds

    return with_local_speeds(zoo_table(), measurements(), setting)


@st.cache_data(show_spinner=False, ttl=10)
def measurement_settings() -> list[str]:
    """Labels of the measurement settings in the store, the one with the most models first."""
    from explorer.zoo.local_speeds import latest_speeds, settings

    frame = measurements()
    return [] if frame.empty else [setting.label for setting in settings(latest_speeds(frame))]


@st.cache_data(show_spinner=False, max_entries=256)
def model_card(uid: str) -> ModelCard:
    """The card of the model whose row is `uid`; its row comes first, so its frontier neighbours are shown."""
    table = zoo_table()
    rows = model_rows(table, uid)
    return build_card(table, rows, zoo_configs(), zoo_notes())


@st.cache_data(show_spinner=False, max_entries=128, ttl=10)
def ranking(constraints: Constraints, setting: str | None = None) -> tuple[pd.DataFrame, str]:
    """Ranked candidates (reading columns, indexed by uid) and the recommendation sentence.

    Local speeds (measured / projected) come from the store under `setting`; the machine is named in
    `constraints.machine` by the caller.
    """
    table = local_zoo(setting)[0] if constraints.local else zoo_table()
    return ranking_view(rank_models(table, constraints), constraints), recommend(table, constraints)


@st.cache_data(show_spinner=False, max_entries=64)
def schedule_pairs(metric: str, zoos: tuple[str, ...], scope: str = "coco") -> pd.DataFrame:
    """1x models paired with their longer-schedule twins (`schedules.schedule_pairs`), for the chosen zoos."""
    table = zoo_table()
    return schedules.schedule_pairs(table[table["zoo"].isin(zoos)] if zoos else table, metric, scope)
