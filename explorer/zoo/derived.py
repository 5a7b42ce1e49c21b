"""Derived metrics: accuracy per second of inference, training cost in GPU-hours, epochs, and so on.

They answer the questions the raw tables leave to mental arithmetic: how much accuracy does a second
of latency buy, what did a model cost to train, how long was its schedule in epochs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from explorer.tasks import TASKS

#: Metric column -> derived "per second" column.
PER_SECOND: dict[str, str] = {task.metric: task.per_second for task in TASKS}

DERIVED_COLUMNS: tuple[str, ...] = (
    *PER_SECOND.values(),
    "primary_metric",
    "ap",
    "ap_per_s",
    "train_gpu_hours",
    "ap_per_train_gb",
    "epochs",
    "infer_s_e2e",
    "uid",
)


def schedule_epochs(notes: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(zoo, lr schedule) -> epochs over the training set, from each zoo's schedule notes."""
    epochs: dict[tuple[str, str], float] = {}
    for zoo, zoo_notes in notes.items():
        for schedule, facts in zoo_notes.get("schedules", {}).items():
            if isinstance(facts, dict) and facts.get("epochs") is not None:
                epochs[(zoo, schedule)] = float(facts["epochs"])
    return epochs


def end_to_end_seconds(table: pd.DataFrame) -> pd.Series:
    """Image-to-detections time: rows on precomputed proposals get their RPN row's time added.

    The zoo times those rows without proposal generation, which makes them look faster than the
    end-to-end rows they compete with; this column puts both on the same footing.
    """
    rpn_seconds = table.set_index(table["zoo"] + ":" + table["model_id"])["infer_s"]
    rpn_seconds = rpn_seconds[~rpn_seconds.index.duplicated()]
    source = table["zoo"] + ":" + table["proposals_model_id"]
    extra = source.map(rpn_seconds).where(table["proposals_model_id"] != "", 0.0)
    return table["infer_s"] + extra


def add_derived_columns(table: pd.DataFrame, notes: dict[str, Any]) -> pd.DataFrame:
    """The table with DERIVED_COLUMNS added (NaN where an input is missing, never 0)."""
    table = table.copy()
    seconds = table["infer_s"].where(table["infer_s"] > 0)
    for metric, column in PER_SECOND.items():
        table[column] = table[metric] / seconds
    table["primary_metric"] = table["task"].map({task.name: task.metric for task in TASKS})
    table["ap"] = [row[metric] for metric, (_, row) in zip(table["primary_metric"], table.iterrows(), strict=True)]
    table["ap_per_s"] = table["ap"] / seconds
    table["train_gpu_hours"] = table["train_hours"] * table["train_gpus"]
    table["ap_per_train_gb"] = table["ap"] / table["train_mem_gb"].where(table["train_mem_gb"] > 0)
    epochs = schedule_epochs(notes)
    table["epochs"] = [epochs.get((zoo, schedule), float("nan"))
                       for zoo, schedule in zip(table["zoo"], table["lr_schedule"], strict=True)]
    table["infer_s_e2e"] = end_to_end_seconds(table)
    table["uid"] = table.index
    return table
