"""The model card view: every published fact about one model, its links, config, notes and frontier neighbours
(shown on the Model card page and under the Speed vs accuracy plot)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from explorer.figures import zoo as plots
from explorer.views.loaders import model_card
from explorer.views.selection import CARD_PAGE, QUERY_KEY, select_model
from explorer.zoo.card import ModelCard
from explorer.zoo.lookup import link_id
from explorer.zoo.schema import SCOPE_LABELS


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
    _render_runtimes(table, uid)
    _render_neighbours(table, card, key_prefix)


def _render_runtimes(table: pd.DataFrame, uid: str) -> None:
    """What exporting this model to ONNX Runtime / OpenVINO did on this machine (which parts, what stayed in
    PyTorch and why), or how to try it."""
    from explorer.runtimes.records import read_records, record_lines

    if "runnable" in table and not bool(table.loc[uid, "runnable"]):
        return
    lines = [line for record in read_records(uid) for line in record_lines(record)]
    st.markdown("**Under ONNX Runtime / OpenVINO**")
    if not lines:
        st.caption(f"Not exported on this machine yet: `python -m explorer export --model {link_id(table, uid)} "
                   "--runtime openvino` (or the Detections page's Runtime choice).")
        return
    st.markdown("\n".join(f"- {line}" for line in lines))


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
