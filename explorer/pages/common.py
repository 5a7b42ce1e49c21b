"""What every page shares: cached loaders, the selected model (session state + `?model=` link) and the card.

Pages stay thin: they collect widget values and call these helpers, which call the cached library. The
selected model lives in `st.session_state["selected_model"]` as a uid ("detectron:37129812:tta"); the URL
carries it as `?model=<model id>` so that any selection can be shared as a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.figures import zoo as plots
from explorer.zoo import schedules
from explorer.zoo.card import ModelCard, build_card
from explorer.zoo.lookup import link_id, model_label, model_rows, resolve_model
from explorer.zoo.ranking import Constraints, rank_models, ranking_view, recommend
from explorer.zoo.schema import SCOPE_LABELS, SCOPES, ZOOS
from explorer.zoo.table import UnknownModelError, load_configs, load_notes, load_zoo

SELECTED_KEY: Final[str] = "selected_model"
QUERY_KEY: Final[str] = "model"
#: Page files, relative to app.py (st.switch_page / st.page_link take these paths).
CARD_PAGE: Final[str] = "explorer/pages/model_card.py"


# ---- cached loaders: every rerun reads the zoo from memory, never from disk -------------------------------

@st.cache_data(show_spinner=False)
def zoo_table() -> pd.DataFrame:
    """All zoo rows with derived columns (`load_zoo`) and whether each can run here, read once per process."""
    from explorer.models.catalog import runnable_mask

    table = load_zoo(ZOOS)
    table["runnable"] = runnable_mask(table)
    return table


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


def scope_widget(container: Any, key: str, both: bool = False) -> str:
    """Which metric scope to compare: COCO (all categories, the default) or person only (or both, on a plot)."""
    options = list(plots.PLOT_SCOPES) if both else list(SCOPES)
    return container.radio("Metric scope", options, format_func=lambda s: plots.PLOT_SCOPES[s], horizontal=True,
                           key=key, persist_state="session",
                           help="Keypoint models and Detectron's person RPNs are scored on the person category "
                                "only; those figures are never compared with all-category ones.")


def setting_widget(container: Any, key: str) -> str | None:
    """The measurement setting local speeds come from (asked only when the store holds more than one)."""
    options = measurement_settings()
    if not options:
        container.info("No speeds measured on this machine yet: time some models with "
                       "`python -m explorer bench` or on the Detections page.", icon=":material/timer:")
        return None
    if len(options) == 1:
        container.caption(f"Measured on: {options[0]}")
        return options[0]
    return container.selectbox("Measured on", options, key=key, persist_state="session",
                               help="Times from different devices, input sizes or batches are never mixed.")


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


# ---- model ids, uids and the selection --------------------------------------------------------------------

def selected_model(table: pd.DataFrame) -> str | None:
    """The selected uid, or None when nothing (or a model no longer loaded) is selected."""
    uid = st.session_state.get(SELECTED_KEY)
    return uid if isinstance(uid, str) and uid in table.index else None


def select_model(uid: str) -> None:
    """Make `uid` the selected model on every page, and put it in the URL so the view can be shared."""
    st.session_state[SELECTED_KEY] = uid
    wanted = link_id(zoo_table(), uid)
    if st.query_params.get(QUERY_KEY) != wanted:
        st.query_params[QUERY_KEY] = wanted


def sync_selection_with_url(table: pd.DataFrame) -> str | None:
    """Apply a `?model=` link to the selection, or write the selection into the URL when there is none.

    Returns an error message for an id no zoo has (the page shows it; the app keeps running).
    """
    requested = st.query_params.get(QUERY_KEY)
    if requested:
        try:
            uid = resolve_model(table, requested)
        except UnknownModelError:
            return (f"Unknown model id {requested!r} in the link: no loaded zoo has it. "
                    "Pick a model below instead.")
        if st.session_state.get(SELECTED_KEY) != uid:
            st.session_state[SELECTED_KEY] = uid
        return None
    uid = selected_model(table)
    if uid is not None:
        st.query_params[QUERY_KEY] = link_id(table, uid)
    return None


def forward_model_link() -> None:
    """A `?model=` link to a page without a card (e.g. the app's root) opens the model card page."""
    requested = st.query_params.get(QUERY_KEY)
    if requested:
        st.switch_page(CARD_PAGE, query_params={QUERY_KEY: requested})


def apply_pick(uid: str | None, source: str) -> None:
    """Select what a chart or table selection points at, once per new pick.

    The front end sends the same selection on every rerun until it changes; remembering the last
    pick per source keeps an old click from overriding a model chosen since, elsewhere.
    """
    memory = f"_last_pick:{source}"
    if uid is None:
        st.session_state[memory] = None
        return
    if st.session_state.get(memory) != uid:
        st.session_state[memory] = uid
        select_model(uid)


def model_picker(table: pd.DataFrame, options: Sequence[str], key: str, label: str = "Model") -> str | None:
    """A selectbox over uids that follows, and sets, the selected model."""
    current = selected_model(table)
    if current in options and st.session_state.get(key) != current:
        st.session_state[key] = current
    elif st.session_state.get(key) not in options:
        st.session_state[key] = None

    def picked() -> None:
        if st.session_state[key] is not None:
            select_model(st.session_state[key])

    return st.selectbox(label, list(options), key=key, format_func=lambda uid: model_label(table, uid),
                        index=None, placeholder="Choose a model", on_change=picked)


def zoo_options(table: pd.DataFrame) -> list[str]:
    """The zoos that have rows right now (detectron2 may still be empty)."""
    present = set(table["zoo"])
    return [zoo for zoo in ZOOS if zoo in present]


def sidebar_selection(table: pd.DataFrame) -> None:
    """The selected model in the sidebar, one click from its card, on every page."""
    uid = selected_model(table)
    if uid is None:
        return
    with st.sidebar:
        st.caption("Selected model")
        st.page_link(CARD_PAGE, label=str(table.at[uid, "name"]), icon=":material/badge:",
                     query_params={QUERY_KEY: link_id(table, uid)})


# ---- the card -------------------------------------------------------------------------------------------

def _facts_frame(card: ModelCard) -> pd.DataFrame:
    """Card facts as label -> one column per published evaluation (with / without TTA)."""
    columns = {}
    for facts in card.rows:
        tta = facts.get("test-time augmentation")
        name = "with TTA" if tta == "yes" else "without TTA" if len(card.rows) > 1 else "value"
        columns[name] = pd.Series(facts, dtype="object")
    return pd.DataFrame(columns).fillna("")


def render_card(table: pd.DataFrame, uid: str, key_prefix: str, link_to_card_page: bool = False) -> None:
    """Every published fact about one model, its links, config, notes and frontier neighbours."""
    card = model_card(uid)
    row = table.loc[uid]
    st.subheader(card.title)
    metric = row["primary_metric"] if isinstance(row["primary_metric"], str) else "ap"
    cols = st.columns(4)
    scope = SCOPE_LABELS.get(row["metric_scope"], "scope unknown")
    cols[0].metric(f"{plots.Y_AXES.get(metric, 'AP')} ({scope})", _number(row[metric]),
                   help="what the figure was measured on: all COCO categories or the person category only")
    cols[1].metric("inference s/im, image to detections", _number(row["infer_s_e2e"]),
                   help=f"published {_number(row['infer_s'])} s/im as printed; precomputed-proposal rows add "
                        "their RPN's time")
    cols[2].metric("training hours", _number(row["train_hours"]))
    cols[3].metric("timed on", row["hardware"] or "—")
    st.caption(f"Shareable link: `?{QUERY_KEY}={link_id(table, uid)}`")
    if link_to_card_page:
        st.page_link(CARD_PAGE, label="Open on the model card page", icon=":material/open_in_new:",
                     query_params={QUERY_KEY: link_id(table, uid)})
    st.table(_facts_frame(card))
    if card.links:
        st.markdown("**Links**\n\n" + "\n".join(f"- [{label}]({url})" for label, url in card.links.items()))
    _render_config(card, row)
    if card.notes:
        st.markdown("**Notes**\n\n" + "\n".join(f"- {note}" for note in card.notes))
    _render_neighbours(table, card, key_prefix)


def _render_config(card: ModelCard, row: pd.Series) -> None:
    if card.config:
        st.markdown(f"**Config** `{row['config']}`")
        st.table(pd.DataFrame({"value": card.config}))
    elif row["config"]:
        st.markdown(f"**Config** `{row['config']}` — no config facts loaded for it.")


def _render_neighbours(table: pd.DataFrame, card: ModelCard, key_prefix: str) -> None:
    st.markdown("**Neighbours on the speed/accuracy frontier** (same zoo and metric scope, image-to-detections "
                "s/im vs the main metric)")
    if card.neighbours.empty:
        st.caption("None: this model has no published speed, or no frontier model is cheaper or dearer.")
        return
    for uid, neighbour in card.neighbours.iterrows():
        metric = neighbour["primary_metric"]
        text = (f"{neighbour['name']} ({neighbour['model_id']}): {plots.Y_AXES.get(metric, metric)} "
                f"{_number(neighbour[metric])} ({SCOPE_LABELS[neighbour['metric_scope']]}) at "
                f"{_number(neighbour['infer_s_e2e'])} s/im image to detections")
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"- {text}")
        right.button("Open", key=f"{key_prefix}:neighbour:{uid}", on_click=select_model, args=(str(uid),))


def _number(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:g}"
