"""Speeds for this machine: the store's measurements per model, projections for the models not measured, and the
measured points a plot puts beside the published accuracy.

`measurements` is any frame with at least `model_uid`, `device_name` and `median_s` (the store's
`MeasurementStore().frame()` has more; extra columns are kept out of the way). Times taken with different
settings (device, input size, batch, precision, weights kind) are never mixed: one setting is chosen, by
default the one with the most models measured, and every local speed belongs to it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from explorer.zoo.projection import project
from explorer.zoo.setups import SETTING_COLUMNS, newest_per_setup, runtimes, weights_kind
from explorer.zoo.speeds import published_timing

#: How a setting names its runtime ("torch" is eager PyTorch, what a frame without the column timed).
RUNTIME_WORDS: dict[str, str] = {"torch": "", "onnxruntime": "under ONNX Runtime", "openvino": "under OpenVINO"}
LOCAL_COLUMNS: tuple[str, ...] = ("measured_s", "measured_p90_s", "projected_s", "projected_lo_s",
                                  "projected_hi_s", "projection_n", "projection_scale", "projection_fit_s")


@dataclass(frozen=True)
class Setting:
    """One measurement setting; `label` is how pages and sentences name the machine."""

    values: tuple[object, ...]
    models: int
    detailed: bool = False  # the label names the input size and weights file too (another setting shares the rest)

    @property
    def named(self) -> dict[str, object]:
        """The setting's values by column name (SETTING_COLUMNS)."""
        return dict(zip(SETTING_COLUMNS, self.values, strict=True))

    @property
    def label(self) -> str:
        v = self.named
        parts = [str(v["device_name"])]
        if v["image_width"] != "" and v["image_height"] != "":
            parts.append(f"{v['image_width']}×{v['image_height']}")
        if v["batch_size"] != "":
            parts.append(f"batch {v['batch_size']}")
        parts.append(str(v["autocast"]) if v["autocast"] not in ("", None, "none") else "fp32")
        if v["weights_kind"] != "":
            parts.append(f"{v['weights_kind']} weights")
        runtime = str(v.get("runtime", "torch"))
        if RUNTIME_WORDS.get(runtime, runtime):
            parts.append(RUNTIME_WORDS.get(runtime, f"under {runtime}"))
        if self.detailed:
            sha256 = str(v["weights_sha256"])
            parts.append(f"input {v['min_size']}/{v['max_size']}" + (f", file {sha256[:12]}" if sha256 else ""))
        return ", ".join(parts)


def latest_speeds(measurements: pd.DataFrame) -> pd.DataFrame:
    """The newest measurement per (model, setting): model_uid, the SETTING_COLUMNS, median_s, p90_s."""
    timed = measurements[measurements["median_s"].notna() & (measurements["median_s"] > 0)]
    frame = newest_per_setup(timed).copy()
    frame["weights_kind"] = weights_kind(frame)
    frame["runtime"] = runtimes(frame)
    for column in SETTING_COLUMNS:
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("")
    if "p90_s" not in frame:
        frame["p90_s"] = np.nan
    return frame[["model_uid", *SETTING_COLUMNS, "median_s", "p90_s"]].reset_index(drop=True)


def settings(speeds: pd.DataFrame) -> list[Setting]:
    """Every setting in `latest_speeds`, the one with the most models first (ties: the newest)."""
    if speeds.empty:
        return []
    order = {values: position for position, values in enumerate(speeds[list(SETTING_COLUMNS)].itertuples(
        index=False, name=None))}
    counts = speeds.groupby(list(SETTING_COLUMNS), sort=False)["model_uid"].nunique()
    found = [Setting(values=tuple(values), models=int(n)) for values, n in counts.items()]
    shared = Counter(setting.label for setting in found)
    found = [replace(setting, detailed=shared[setting.label] > 1) for setting in found]
    return sorted(found, key=lambda s: (-s.models, -order[s.values]))


def local_speed_columns(table: pd.DataFrame, speeds: pd.DataFrame, setting: Setting | None) -> pd.DataFrame:
    """LOCAL_COLUMNS for every row of `table` under one setting (all NaN when there is none).

    `projected_s` is the measured time where there is one, else the projection from the row's published
    end-to-end time, fitted on the measured models of the same timing source; `projected_lo_s`/`_hi_s`
    bound its 80 % interval and `projection_n` counts the models behind it (NaN for measured rows).
    `projection_fit_s` is what the fit says for every row, measured ones included, to show how well it holds.
    """
    out = pd.DataFrame(np.nan, index=table.index, columns=list(LOCAL_COLUMNS))
    if setting is None:
        return out
    same = np.logical_and.reduce([speeds[column] == value for column, value in zip(SETTING_COLUMNS, setting.values,
                                                                                    strict=True)])
    chosen = speeds[same]
    chosen = chosen.drop_duplicates("model_uid", keep="last").set_index("model_uid")
    out["measured_s"] = chosen["median_s"].reindex(table.index)
    out["measured_p90_s"] = chosen["p90_s"].reindex(table.index)
    projected = project(table["infer_s_e2e"], out["measured_s"], published_timing(table))
    measured = out["measured_s"].notna()
    out["projection_fit_s"] = projected["projected_s"]
    out["projected_s"] = out["measured_s"].where(measured, projected["projected_s"])
    for column in ("projected_lo_s", "projected_hi_s", "projection_n", "projection_scale"):
        out[column] = projected[column].where(~measured)
    return out


def with_local_speeds(table: pd.DataFrame, measurements: pd.DataFrame | None,
                      setting_label: str | None = None) -> tuple[pd.DataFrame, str]:
    """The table with LOCAL_COLUMNS added for one setting, and that setting's label ('' when none).

    `setting_label` picks a setting by its label; by default the one with the most models measured.
    """
    speeds = latest_speeds(measurements) if measurements is not None and not measurements.empty else None
    found = settings(speeds) if speeds is not None else []
    setting = next((s for s in found if s.label == setting_label), found[0] if found else None)
    columns = local_speed_columns(table, speeds if speeds is not None else pd.DataFrame(), setting)
    return pd.concat([table.drop(columns=[c for c in LOCAL_COLUMNS if c in table]), columns], axis=1), (
        setting.label if setting else "")


def measured_points(measurements: pd.DataFrame, table: pd.DataFrame, y: str) -> pd.DataFrame:
    """The newest measurement per setup (`explorer.zoo.setups`) joined with the model's
    published accuracy `y` (as `published_y`) and name: the points a speed-vs-accuracy plot adds for this machine.

    `measurements` is `explorer.benchmarks.store.MeasurementStore().frame()` or a sweep's `measured_frame`; models
    without a published y are dropped (nothing to put on that axis), and so is every timing of weights other than
    the published ones.
    """
    latest = newest_per_setup(measurements)
    # Only the published weights stand at the published accuracy: random weights time the pipeline, and a
    # user's own file (fine-tuned, converted, uploaded) is another model whose accuracy the zoo does not know.
    latest = latest[weights_kind(latest) == "published"]
    joined = latest.join(table[[y, "name"]], on="model_uid", how="inner").rename(columns={y: "published_y"})
    return joined[joined["published_y"].notna()]

