"""What a measurement setup is, and the newest measurement per setup: one definition for the measurement store,
the speed pages and the measured points on a plot.

A measurement is one model timed under one setting (`SETTING_COLUMNS`: the machine, image size, batch, precision,
weights); `SETUP_KEY` adds the model and the device's short name. A newer measurement of the same setup replaces
an older one; measurements of different setups are never merged. To tell setups apart by one more field (say the
runtime), add its column to `SETTING_COLUMNS`: the store, the speed pages and the plots all follow.
"""

from __future__ import annotations

import pandas as pd

#: What makes two measurements comparable: speeds are compared within one setting, never across.
SETTING_COLUMNS: tuple[str, ...] = ("device_name", "image_width", "image_height", "batch_size", "autocast",
                                    "weights_kind", "min_size", "max_size", "weights_sha256", "runtime")
#: What makes two measurements the same experiment: the setting, the model and the device's short name.
SETUP_KEY: tuple[str, ...] = ("model_uid", "device", *SETTING_COLUMNS)


def weights_kind(frame: pd.DataFrame) -> pd.Series:
    """'published', 'random' or 'file' per measurement; a frame without the column (a sweep's) reads its label."""
    if "weights_kind" in frame:
        return frame["weights_kind"].fillna("").astype(str)
    if "weights" not in frame:
        return pd.Series("", index=frame.index)
    weights = frame["weights"].fillna("").astype(str)
    return weights.where(weights.isin(["published", "random"]), "local file")


def runtimes(frame: pd.DataFrame) -> pd.Series:
    """Each measurement's runtime; rows from before the runtimes (or a sweep's frame) ran eager PyTorch."""
    if "runtime" not in frame:
        return pd.Series("torch", index=frame.index)
    return frame["runtime"].fillna("torch").astype(str).replace("", "torch")


def setup_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The SETUP_KEY columns of every measurement; a column the frame lacks (or a missing value) counts as ''."""
    keys = pd.DataFrame({column: frame.get(column, "") for column in SETUP_KEY}, index=frame.index)
    keys["weights_kind"] = weights_kind(frame)
    if "runtime" in keys:  # a frame from before the runtimes timed eager PyTorch
        keys["runtime"] = runtimes(frame)
    return keys.astype(object).where(keys.notna(), "")


def newest_per_setup(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest measurement of each setup (rows of `frame` unchanged, in their order; the newest is the last)."""
    return frame[~setup_of(frame).duplicated(keep="last")]
