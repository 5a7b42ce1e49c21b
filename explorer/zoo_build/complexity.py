"""`zoo_data/complexity.csv`: GFLOPs and parameters of every Detectron and Detectron2 row, counted with our own
build of it.

Neither zoo publishes them. Each row's architecture (its config, with TTA for the TTA row) is built on the
meta device and counted part by part (`explorer.zoo_build.counting`, where the convention is stated); the
build writes the result beside the zoo tables and `explorer.zoo.table` fills the rows' empty `gflops` and
`params_m` from it. A Detectron2 row is counted from its config's facts (`detectron2_configs.csv`, keyed by
`<folder>/<stem>` of its model URL) through the network the Detectron2 family builds, by `detectron2_complexity`
under the same convention. Counting is exact integer arithmetic on shapes, so the file is the same on
every machine; rows whose test-time architecture is the same (1x and 2x schedules) are counted once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

COMPLEXITY_COLUMNS: tuple[str, ...] = ("uid", "zoo", "model_id", "tta", "gflops", "detection_heads_gflops",
                                       "detections", "params_m", "input", "rois", "convention")
INPUT_WORDS = "{side}x{side} network input (a square image resized to the test scale)"
#: Counts by test-time architecture, kept for the process: a second build (the determinism test) reuses them.
_COUNTED: dict[Any, Any] = {}


def complexity_rows(zoo_rows: Iterable[Mapping[str, str]], config_rows: Iterable[Mapping[str, str]],
                    ) -> list[dict[str, str]]:
    """One text record per Detectron zoo row (in the zoo table's order)."""
    from explorer.models.detectron.arch import arch_from_config
    from explorer.models.detectron.family import with_row_tta
    from explorer.zoo_build.counting import CONVENTION, detectron_complexity

    configs = {row["config"]: row for row in config_rows}
    counted = _COUNTED
    records = []
    for row in zoo_rows:
        arch = with_row_tta(arch_from_config(configs[row["config"]]), row)
        key = dataclasses.replace(arch, config="", defaults_used=())  # the schedule does not change the count
        if key not in counted:
            counted[key] = detectron_complexity(arch)
        found = counted[key]
        records.append(_record(row, found, CONVENTION, ", every TTA transform summed" if arch.tta else ""))
    return records


def detectron2_complexity_rows(zoo_rows: Iterable[Mapping[str, str]], config_rows: Iterable[Mapping[str, str]],
                               ) -> list[dict[str, str]]:
    """One text record per Detectron2 zoo row (in the zoo table's order), counted from its config's facts."""
    from explorer.models.detectron2.arch import arch_from_config
    from explorer.models.detectron2.netconfig import adapt
    from explorer.zoo.table import config_of_model_url
    from explorer.zoo_build.counting import CONVENTION, detectron2_complexity

    configs = {row["config"]: row for row in config_rows}
    records = []
    for row in zoo_rows:
        net = adapt(arch_from_config(configs[config_of_model_url(row["model_url"])]))
        key = ("detectron2", dataclasses.replace(net, config=""))  # the schedule does not change the count
        if key not in _COUNTED:
            _COUNTED[key] = detectron2_complexity(net)
        found = _COUNTED[key]
        records.append(_record(row, found, CONVENTION))
    return records


def _record(row: Mapping[str, str], found: Any, convention: str, input_note: str = "") -> dict[str, str]:
    """The text record of one zoo row's count (both families write the same columns the same way)."""
    return {
        "uid": f"{row['zoo']}:{row['model_id']}{':tta' if row['tta'] == 'true' else ''}",
        "zoo": row["zoo"], "model_id": row["model_id"], "tta": row["tta"],
        "gflops": f"{found.gflops:.3f}",
        "detection_heads_gflops": f"{found.detection_heads_gflops:.3f}" if found.detections else "",
        "detections": str(found.detections) if found.detections else "",
        "params_m": f"{found.params_m:.3f}",
        "input": INPUT_WORDS.format(side=found.input_size) + input_note,
        "rois": str(found.rois) if found.rois else "",
        "convention": convention,
    }
