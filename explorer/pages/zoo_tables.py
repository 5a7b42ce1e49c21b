"""Zoo tables: every row of every zoo, filterable and sortable, with the zoos' own notes beside them."""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import streamlit as st

from explorer.tasks import METRIC_LABELS, METRICS
from explorer.views import loaders, selection
from explorer.zoo.filters import filter_options, filter_rows

#: Sidebar filters: column -> label. An empty multiselect means "no filter".
FILTERS: Final[dict[str, str]] = {
    "zoo": "Zoo",
    "table": "Table",
    "type": "Type",
    "backbone": "Backbone",
    "lr_schedule": "Schedule",
    "task": "Task",
    "metric_scope": "Metric scope",
}

#: Columns shown, in reading order; the uid index is hidden (model_id + tta say the same).
SHOWN_COLUMNS: Final[tuple[str, ...]] = (
    "name", "zoo", "model_id", "tta", "runnable", "table", "type", "backbone", "lr_schedule", "task",
    "metric_scope", *METRICS, "infer_s", "infer_s_gpu", "infer_s_cpu", "infer_s_e2e",
    "ap_per_s", "hardware", "train_hours", "train_gpu_hours", "train_mem_gb", "train_s_per_iter",
    "ims_per_gpu", "train_gpus",
    "epochs", "gflops", "params_m", "file_size_mb", "model_url", "boxes_url", "masks_url", "kps_url",
    "proposals_train_url", "proposals_valminusminival_url", "proposals_minival_url", "metrics_url",
    "proposals_model_id", "config", "notes",
)

LINKS: Final[dict[str, tuple[str, str]]] = {  # column -> (header, text shown in the cell)
    "model_url": ("weights", "download"),
    "boxes_url": ("box results", "json"),
    "masks_url": ("mask results", "json"),
    "kps_url": ("keypoint results", "json"),
    "proposals_train_url": ("proposals (train)", "pkl"),
    "proposals_valminusminival_url": ("proposals (valminusminival)", "pkl"),
    "proposals_minival_url": ("proposals (minival)", "pkl"),
    "metrics_url": ("training metrics", "json"),
}

NUMBERS: Final[dict[str, tuple[str, str]]] = {  # column -> (header, format)
    **{metric: (label, "%.1f") for metric, label in METRIC_LABELS.items()}, "infer_s": ("inference s/im", "%.3f"),
    "infer_s_gpu": ("GPU s/im", "%.3f"),
    "infer_s_cpu": ("CPU s/im", "%.3f"), "infer_s_e2e": ("s/im incl. proposals", "%.3f"),
    "ap_per_s": ("AP per s", "%.1f"), "train_hours": ("train hours", "%.1f"),
    "train_gpu_hours": ("train GPU-hours", "%.1f"), "train_mem_gb": ("train mem GB", "%.1f"),
    "train_s_per_iter": ("train s/iter", "%.3f"), "ims_per_gpu": ("im/GPU", "%d"),
    "train_gpus": ("GPUs", "%d"),
    "epochs": ("epochs", "%.2f"), "gflops": ("GFLOPs", "%.1f"), "params_m": ("params (M)", "%.1f"),
    "file_size_mb": ("file MB", "%.1f"),
}


def column_config() -> dict[str, Any]:
    """Readable headers, number formats, and links that show a word instead of a long URL."""
    config: dict[str, Any] = {
        column: st.column_config.LinkColumn(header, display_text=text)
        for column, (header, text) in LINKS.items()
    }
    config.update({column: st.column_config.NumberColumn(header, format=fmt)
                   for column, (header, fmt) in NUMBERS.items()})
    config.update({"name": st.column_config.TextColumn("name", pinned=True), "model_id": "model id",
                   "tta": st.column_config.CheckboxColumn("TTA"),
                   "runnable": st.column_config.CheckboxColumn("runs here", help="can run on the Detections page"),
                   "lr_schedule": "schedule",
                   "metric_scope": st.column_config.TextColumn(
                       "scope", help="what every AP/AR of the row was measured on: coco (all categories) or person")})
    return config


def sidebar_filters(table: pd.DataFrame) -> dict[str, list[str]]:
    with st.sidebar:
        st.header("Filters")
        return {column: st.multiselect(label, filter_options(table, column), key=f"filter_{column}",
                                       placeholder="All", persist_state="session")
                for column, label in FILTERS.items()}


def render_notes(rows: pd.DataFrame, notes: dict[str, Any]) -> None:
    """The zoos' common settings and the notes of each table shown: they say what the numbers include."""
    with st.expander("Notes on these tables (what the numbers include)", expanded=False):
        for zoo in pd.unique(rows["zoo"]):
            zoo_notes = notes.get(zoo) or {}
            st.markdown(f"#### {zoo}")
            common_settings = zoo_notes.get("common_settings") or []
            if common_settings:
                st.markdown("**Common settings**\n\n" + "\n".join(f"- {item}" for item in common_settings))
            keypoint_notes = zoo_notes.get("keypoint_settings") or []
            if keypoint_notes and "keypoints" in set(rows.loc[rows["zoo"] == zoo, "task"]):
                st.markdown("**Keypoint models**\n\n" + "\n".join(f"- {note}" for note in keypoint_notes))
            for table_name in pd.unique(rows.loc[rows["zoo"] == zoo, "table"]):
                table_notes = (zoo_notes.get("tables") or {}).get(table_name) or []
                if table_notes:
                    st.markdown(f"**{table_name}**\n\n" + "\n".join(f"- {note}" for note in table_notes))
            if not zoo_notes:
                st.caption("No notes published for this zoo beyond each row's own `notes` column.")


def render() -> None:
    selection.forward_model_link()
    st.title("Zoo tables")
    table = loaders.zoo_table()
    rows = filter_rows(table, sidebar_filters(table))
    st.markdown(f"**{len(rows)} of {len(table)} models**")
    render_notes(rows, loaders.zoo_notes())
    st.dataframe(rows.loc[:, list(SHOWN_COLUMNS)], column_config=column_config(), hide_index=True,
                 key="zoo_table_frame", height=560)
    selection.sidebar_selection(table)


if __name__ == "__main__":
    render()
