"""Sweeps: the summaries of `python -m explorer sweep` runs, and their speeds beside the published ones.

Reads only the summary files (no Ray needed). Measured seconds per image go on the speed-vs-accuracy plot
at the model's published accuracy, like the speeds of `explorer bench`; random-weight sweeps time the
pipeline, not a model, so the plot leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from explorer.figures import zoo as plots
from explorer.figures.sweep import sweep_accuracy_figure
from explorer.sweep.served import (
    SweepAccessError,
    file_in_sweep,
    load_summary,
    open_sweep_folder,
    served_meta,
    served_sweeps,
    sweeps_root,
)
from explorer.sweep.summary import (
    evaluated_metrics,
    measured_frame,
    measured_vs_published,
    read_meta,
    registered_sweeps,
    sweep_progress,
)
from explorer.tasks import METRIC_LABELS
from explorer.views import loaders
from explorer.zoo.local_speeds import measured_points


def choose_sweep() -> Path | None:
    """The registered sweeps under the sweeps root, newest first, or a folder under it the user types."""
    served, outside = served_sweeps(registered_sweeps())
    options = [str(path) for path in served]
    typed = st.text_input("Open another sweep folder", key="sweep_folder",
                          placeholder=f"a folder under {sweeps_root()} (absolute, or relative to it)")
    if outside:
        st.caption(f"{outside} registered sweep(s) outside the sweeps root {sweeps_root()} are not shown; set "
                   "EXPLORER_SWEEPS_ROOT to serve them.")
    try:
        if typed:
            folder = str(open_sweep_folder(typed))
            options = [folder, *[option for option in options if option != folder]]
        if not options:
            st.info("No sweeps yet. Run one with `python -m explorer sweep --models ID ... --images DIR --out DIR` "
                    f"with DIR under {sweeps_root()} (needs `pip install -r requirements-sweep.txt`).")
            return None
        return open_sweep_folder(st.selectbox("Sweep", options, key="sweep_choice"))
    except SweepAccessError as error:
        st.error(str(error), icon=":material/block:")
        return None


def per_category(folder: Path, summary: pd.DataFrame) -> None:
    files = summary[summary["per_category"].fillna("") != ""].drop_duplicates("model_uid")
    if files.empty:
        return
    uid = st.selectbox("Per-category AP of", files["model_uid"].tolist(), key="sweep_category_model")
    try:
        path = file_in_sweep(folder, files.set_index("model_uid").loc[uid, "per_category"])
    except SweepAccessError as error:
        st.error(str(error), icon=":material/block:")
        return
    if path.is_file():
        st.dataframe(pd.read_csv(path), hide_index=True)


def measured_accuracy(summary: pd.DataFrame) -> None:
    """With annotations, the sweep measured AP: plot it against the zoo's published AP and speed."""
    metrics = evaluated_metrics(summary)
    if not metrics:
        return
    st.subheader("Measured vs published: speed and accuracy")
    metric = st.radio("Accuracy", metrics, format_func=METRIC_LABELS.get, horizontal=True,
                      key="sweep_metric")
    pairs = measured_vs_published(summary, loaders.zoo_table(), metric)
    st.caption("Filled: this sweep (its device, your images); hollow: the zoo's page (its GPU, COCO). A line joins "
               "the two points of one model.")
    st.plotly_chart(sweep_accuracy_figure(pairs, metric), key="sweep_accuracy_plot")


def progress(folder: Path, meta: dict, summary: pd.DataFrame | None) -> bool:
    """Shards written per model while a sweep runs (or after it stopped); True when every model is done."""
    table = sweep_progress(folder, meta, summary)
    if table.empty or (table["status"] == "done").all():
        return True
    done = int((table["status"] == "done").sum())
    st.subheader("Progress")
    st.caption(f"{done} of {len(table)} models done. A stopped sweep resumes from these shards when the same "
               "command is run again; reload the page to refresh.")
    st.dataframe(table, hide_index=True,
                 column_config={"shards_written": st.column_config.ProgressColumn(
                     "shards written", min_value=0, max_value=max(1, int(table["shards_planned"].max())),
                     format="%d")})
    return False


def render() -> None:
    st.title("Sweeps")
    folder = choose_sweep()
    if folder is None:
        return
    meta, refused = served_meta(folder, read_meta(folder))
    for message in refused:
        st.warning(message, icon=":material/block:")
    try:
        summary = load_summary(folder)
    except SweepAccessError as error:
        st.error(str(error))
        return
    except OSError as error:
        if meta and not progress(folder, meta, None):
            st.info("No model of this sweep is finished yet: its summary appears when the first one is.")
        else:
            st.error(f"{folder} holds no sweep summary: {error}")
        return
    st.caption(f"{meta.get('images', '?')} images, {len(summary['model_uid'].unique())} models, batch "
               f"{meta.get('batch_size', '?')}, {meta.get('workers', '?')} workers per model; run "
               f"{meta.get('created', '?')}.")
    progress(folder, meta, summary)
    st.dataframe(summary, hide_index=True)
    per_category(folder, summary)
    measured_accuracy(summary)
    measured = measured_frame(summary)
    plotted = measured[measured["weights"] != "random"]
    st.subheader("Measured speed vs published accuracy")
    if plotted.empty:
        st.info("This sweep used random weights: its speeds time the pipeline, not a model, so none is plotted.")
    table = loaders.zoo_table()
    figure = plots.speed_accuracy_figure(table, "infer_s_e2e", "box_ap", log_x=True,
                                         measured=measured_points(measured, table, "box_ap"))
    st.plotly_chart(figure, key="sweep_plot")


if __name__ == "__main__":
    render()
