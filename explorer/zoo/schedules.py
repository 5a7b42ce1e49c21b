"""What a longer training schedule buys: each 1x model paired with its 2x / s1x / 3x twin.

Pure pandas over the `load_zoo` frame, used by the Schedules & backbones page and its chart.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd

PAIR_KEYS: Final[tuple[str, ...]] = ("zoo", "table", "type", "backbone", "tta")
BASE_SCHEDULE: Final[str] = "1x"


def schedule_pairs(table: pd.DataFrame, metric: str = "ap", scope: str = "coco") -> pd.DataFrame:
    """One row per (1x model, longer-schedule twin): what the longer schedule buys and what it costs.

    Only models of one metric scope are compared (person-only keypoint gains are not set beside COCO
    gains). A group with more than one 1x row is ambiguous and skipped rather than guessed.
    """
    table = table[table["metric_scope"] == scope]
    columns = [*PAIR_KEYS, "schedule", "metric", "metric_scope", "ap_base", "ap_long", "ap_gain", "hours_base",
               "hours_long", "extra_hours", "extra_gpu_hours", "gain_per_extra_hour", "name_base", "name_long",
               "uid_base", "uid_long"]
    records: list[dict[str, Any]] = []
    scheduled = table[table["lr_schedule"] != ""]
    for _, group in scheduled.groupby(list(PAIR_KEYS), sort=True):
        base = group[group["lr_schedule"] == BASE_SCHEDULE]
        if len(base) != 1:
            continue
        b = base.iloc[0]
        for uid, longer in group[group["lr_schedule"] != BASE_SCHEDULE].iterrows():
            name = b["primary_metric"] if metric == "ap" else metric
            gain = longer[metric] - b[metric]
            extra = longer["train_hours"] - b["train_hours"]
            records.append({
                **{key: b[key] for key in PAIR_KEYS},
                "schedule": f"{longer['lr_schedule']} vs {BASE_SCHEDULE}",
                "metric": name, "metric_scope": scope, "ap_base": b[metric], "ap_long": longer[metric], "ap_gain": gain,
                "hours_base": b["train_hours"], "hours_long": longer["train_hours"], "extra_hours": extra,
                "extra_gpu_hours": longer["train_gpu_hours"] - b["train_gpu_hours"],
                "gain_per_extra_hour": gain / extra if pd.notna(extra) and extra > 0 else float("nan"),
                "name_base": b["name"], "name_long": longer["name"],
                "uid_base": base.index[0], "uid_long": uid,
            })
    pairs = pd.DataFrame.from_records(records, columns=columns)
    return pairs.dropna(subset=["ap_gain"]).reset_index(drop=True)
