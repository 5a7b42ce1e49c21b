"""The selected model, shared by every page: session state plus a `?model=` link.

The selected model lives in `st.session_state["selected_model"]` as a uid ("detectron:37129812:tta"); the URL
carries it as `?model=<model id>` so that any selection can be shared as a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd
import streamlit as st

from explorer.views.loaders import zoo_table
from explorer.zoo.lookup import link_id, model_labels, resolve_model
from explorer.zoo.table import UnknownModelError

SELECTED_KEY: Final[str] = "selected_model"
QUERY_KEY: Final[str] = "model"
#: Page files, relative to app.py (st.switch_page / st.page_link take these paths).
CARD_PAGE: Final[str] = "explorer/pages/model_card.py"


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

    labels = model_labels(table.loc[list(options)])
    return st.selectbox(label, list(options), key=key, format_func=labels.__getitem__,
                        index=None, placeholder="Choose a model", on_change=picked)


def sidebar_selection(table: pd.DataFrame) -> None:
    """The selected model in the sidebar, one click from its card, on every page."""
    uid = selected_model(table)
    if uid is None:
        return
    with st.sidebar:
        st.caption("Selected model")
        st.page_link(CARD_PAGE, label=str(table.at[uid, "name"]), icon=":material/badge:",
                     query_params={QUERY_KEY: link_id(table, uid)})
