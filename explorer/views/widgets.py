"""Widgets more than one page asks with: the metric scope, the measurement setting, the zoos present."""

from __future__ import annotations

from typing import Any

import pandas as pd

from explorer.figures import zoo as plots
from explorer.views.loaders import measurement_settings
from explorer.zoo.schema import SCOPES, ZOOS


def scope_widget(container: Any, key: str, both: bool = False) -> str:
    """Which metric scope to compare: COCO (all categories, the default) or person only (or both, on a plot)."""
    options = list(plots.PLOT_SCOPES) if both else list(SCOPES)
    return container.radio("Metric scope", options, format_func=lambda s: plots.PLOT_SCOPES[s], horizontal=True,
                           key=key, persist_state="session",
                           help="Keypoint models and Detectron's person RPNs are scored on the person category "
                                "only; those figures are never compared with all-category ones.")


def setting_widget(container: Any, key: str) -> str | None:
    """The measurement setting local speeds come from (asked only when the store holds more than one)."""
    options = measurement_settings()
    if not options:
        container.info("No speeds measured on this machine yet: time some models with "
                       "`python -m explorer bench` or on the Detections page.", icon=":material/timer:")
        return None
    if len(options) == 1:
        container.caption(f"Measured on: {options[0]}")
        return options[0]
    return container.selectbox("Measured on", options, key=key, persist_state="session",
                               help="Times from different devices, input sizes or batches are never mixed.")


def zoo_options(table: pd.DataFrame) -> list[str]:
    """The zoos that have rows right now (detectron2 may still be empty)."""
    present = set(table["zoo"])
    return [zoo for zoo in ZOOS if zoo in present]
