"""Which time a ranking or plot uses, and whose hardware that time is for.

Published times come from each zoo's own GPUs (Detectron: P100, Detectron2: V100; torchvision publishes
none), so two published times are comparable only within one timing source. Times measured here, or
projected for here (`explorer.zoo.local_speeds`), are all for one machine and compare across zoos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from explorer.errors import ExplorerError
from explorer.zoo.schema import ZOO_LABELS


@dataclass(frozen=True)
class Speed:
    """One speed choice: the column holding it and where its numbers come from."""

    column: str
    label: str
    local: bool  # measured or projected for this machine (one hardware for every zoo)


SPEEDS: Final[dict[str, Speed]] = {
    "e2e": Speed("infer_s_e2e", "published s/im, image to detections (precomputed-proposal rows add their RPN)",
                 local=False),
    "published": Speed("infer_s", "published s/im as printed (GPU + CPU; precomputed-proposal rows exclude "
                       "proposal generation)", local=False),
    "gpu": Speed("infer_s_gpu", "published s/im, GPU part only", local=False),
    "measured": Speed("measured_s", "s/im measured on this machine", local=True),
    "projected": Speed("projected_s", "s/im on this machine: measured, else projected from the published time",
                       local=True),
}
DEFAULT_SPEED: Final[str] = "e2e"
#: Column names accepted where a speed is asked for (the older spelling of the command line).
COLUMN_SPEEDS: Final[dict[str, str]] = {speed.column: key for key, speed in SPEEDS.items()}
#: Speed columns whose times are for this machine (measured, or projected from a fit on measured models).
LOCAL_COLUMNS: Final[frozenset[str]] = frozenset(speed.column for speed in SPEEDS.values() if speed.local)


class UnknownSpeedError(ExplorerError, ValueError):
    """A speed name that is neither a key of SPEEDS nor one of their columns."""


def speed_key(name: str) -> str:
    """'e2e', 'published', ... for a speed key or its column name."""
    if name in SPEEDS:
        return name
    if name in COLUMN_SPEEDS:
        return COLUMN_SPEEDS[name]
    raise UnknownSpeedError(f"unknown speed {name!r}; choose from {', '.join(SPEEDS)}")


def published_timing(table: pd.DataFrame) -> pd.Series:
    """Per row, who timed its published figure on what: 'Detectron on P100'; '' without a published time.

    A zoo that states no hardware still forms its own source ('… on unstated hardware'), never another's.
    """
    hardware = table["hardware"].where(table["hardware"] != "", "unstated hardware")
    labels = table["zoo"].map(ZOO_LABELS).fillna(table["zoo"]) + " on " + hardware
    return labels.where(table["infer_s"].notna(), "")


def timing_groups(table: pd.DataFrame, key: str, machine: str = "") -> pd.Series:
    """The hardware each row's chosen speed is for: one group per published source, one for this machine."""
    if SPEEDS[speed_key(key)].local:
        return pd.Series(f"this machine ({machine})" if machine else "this machine", index=table.index)
    return published_timing(table)


def speed_sources(table: pd.DataFrame, key: str) -> pd.Series:
    """'published', 'measured' or 'projected' per row, for the chosen speed."""
    key = speed_key(key)
    if key == "measured":
        return pd.Series("measured", index=table.index)
    if key == "projected":
        measured = table["measured_s"].notna() if "measured_s" in table else pd.Series(False, index=table.index)
        return measured.map({True: "measured", False: "projected"})
    return pd.Series("published", index=table.index)


def zoo_hardware(notes: Mapping[str, Any], table: pd.DataFrame) -> dict[str, str]:
    """Zoo -> 'P100 (2017)' for every zoo in the table that published timings.

    notes.json (`explorer.zoo.table.load_notes`) is the authority; the table's own `hardware` column is the
    fallback for a zoo whose notes are missing.
    """
    hardware: dict[str, str] = {}
    for zoo in pd.unique(table["zoo"]):
        zoo_notes = notes.get(zoo, {}) if isinstance(notes.get(zoo), dict) else {}
        published = [h for h in table.loc[table["zoo"] == zoo, "hardware"] if h]
        gpu = zoo_notes.get("hardware") or (published[0] if published else "")
        if not gpu:
            continue
        year = zoo_notes.get("year")
        hardware[zoo] = f"{gpu} ({year})" if year else str(gpu)
    return hardware


def hardware_caption(notes: Mapping[str, Any], table: pd.DataFrame) -> str:
    """'Detectron: P100 (2017) · Detectron2: V100 (2019) — times across zoos are not comparable'."""
    hardware = zoo_hardware(notes, table)
    if not hardware:
        return "No published timings among these models."
    text = " · ".join(f"{ZOO_LABELS.get(zoo, zoo)}: {gpu}" for zoo, gpu in hardware.items())
    if len(hardware) > 1:
        text += " — times across zoos are not comparable"
    untimed = [ZOO_LABELS.get(zoo, zoo) for zoo in pd.unique(table["zoo"]) if zoo not in hardware]
    if untimed:
        text += f"; {', '.join(untimed)}: no published times"
    return text
