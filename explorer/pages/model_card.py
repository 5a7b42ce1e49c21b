"""Model card: every published fact about one model, reachable by a shareable `?model=<model id>` link."""

from __future__ import annotations

import streamlit as st

from explorer.views import card, loaders, selection


def render() -> None:
    st.title("Model card")
    table = loaders.zoo_table()
    error = selection.sync_selection_with_url(table)
    if error:
        st.error(error, icon=":material/error:")
    uid = selection.model_picker(table, list(table.index), key="card_choice", label="Model")
    selection.sidebar_selection(table)
    if uid is None:
        st.info("Choose a model above, click a point on *Speed vs accuracy*, "
                "or open a link like `?model=35861858`.")
        return
    card.render_card(table, uid, key_prefix="card")


if __name__ == "__main__":
    render()
