"""Rank models by accuracy per second under a user's constraints, and say which one to pick."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from explorer.zoo.derived import PER_SECOND
from explorer.zoo.pareto import pareto_mask
from explorer.zoo.schema import METRIC_TASK, TASK_METRIC, TASKS
from explorer.zoo.table import check_zoos

METRIC_LABELS: dict[str, str] = {
    "box_ap": "box AP",
    "mask_ap": "mask AP",
    "kp_ap": "keypoint AP",
    "prop_ar": "proposal AR",
}
SPEED_COLUMNS: dict[str, str] = {
    "infer_s": "inference s/im (GPU + CPU, as published)",
    "infer_s_gpu": "inference s/im (GPU part)",
    "infer_s_e2e": "inference s/im incl. proposal generation",
}


class RankingError(ValueError):
    """A constraint the ranking cannot apply (unknown metric, task or speed column)."""


@dataclass(frozen=True)
class Constraints:
    """What the user asks for: a metric to maximise per second and limits to respect."""

    metric: str = "box_ap"
    max_infer_s: float | None = None
    min_metric: float | None = None
    task: str | None = None
    zoos: tuple[str, ...] = ()
    speed: str = "infer_s"

    def check(self) -> None:
        if self.metric not in METRIC_TASK:
            raise RankingError(f"unknown metric {self.metric!r}; choose from {', '.join(METRIC_TASK)}")
        if self.task is not None and self.task not in TASKS:
            raise RankingError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        if self.speed not in SPEED_COLUMNS:
            raise RankingError(f"unknown speed column {self.speed!r}; choose from {', '.join(SPEED_COLUMNS)}")
        check_zoos(self.zoos)


def candidates(table: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """Rows that have the metric and a measured speed and satisfy every constraint."""
    constraints.check()
    c = constraints
    keep = table[c.metric].notna() & table[c.speed].notna() & (table[c.speed] > 0)
    if c.task is not None:
        keep &= table[TASK_METRIC[c.task]].notna()
    if c.zoos:
        keep &= table["zoo"].isin(check_zoos(c.zoos))
    if c.max_infer_s is not None:
        keep &= table[c.speed] <= c.max_infer_s
    if c.min_metric is not None:
        keep &= table[c.metric] >= c.min_metric
    return table[keep]


def rank_models(table: pd.DataFrame, constraints: Constraints, top: int | None = None) -> pd.DataFrame:
    """Candidates sorted by metric per second (best first), with `rank` and `pareto` columns.

    `pareto` is computed among the candidates: no other candidate is both at least as fast and at
    least as accurate, and strictly better in one.
    """
    chosen = candidates(table, constraints).copy()
    metric, speed = constraints.metric, constraints.speed
    chosen["per_s"] = chosen[metric] / chosen[speed]
    chosen["pareto"] = pareto_mask(chosen[speed], chosen[metric])
    chosen = chosen.sort_values(["per_s", metric], ascending=[False, False], kind="stable")
    chosen.insert(0, "rank", range(1, len(chosen) + 1))
    return chosen if top is None else chosen.head(top)


def ranking_view(ranked: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """The columns a person reads in a ranking, named plainly."""
    metric, speed = constraints.metric, constraints.speed
    view = ranked[["rank", "zoo", "model_id", "name", "tta", metric, speed, "per_s", "pareto", "hardware"]]
    return view.rename(columns={"per_s": PER_SECOND[metric] if speed == "infer_s" else f"{metric}_per_gpu_s"})


def recommend(table: pd.DataFrame, constraints: Constraints) -> str:
    """One plain-language sentence: the fastest model meeting the constraints, and the most accurate."""
    chosen = candidates(table, constraints)
    label = METRIC_LABELS[constraints.metric]
    limits = []
    if constraints.min_metric is not None:
        limits.append(f"{label} ≥ {constraints.min_metric:g}")
    if constraints.max_infer_s is not None:
        limits.append(f"inference ≤ {constraints.max_infer_s:g} s/im")
    if constraints.task is not None:
        limits.append(f"{constraints.task} output")
    where = f" with {' and '.join(limits)}" if limits else ""
    if chosen.empty:
        return f"No model{where} is in the selected zoos; relax a constraint."
    fastest = chosen.sort_values([constraints.speed, constraints.metric], ascending=[True, False]).iloc[0]
    best = chosen.sort_values([constraints.metric, constraints.speed], ascending=[False, True]).iloc[0]
    sentence = (f"The fastest model{where} is {_describe(fastest, constraints)}.")
    if best.name != fastest.name:
        sentence += f" The most accurate is {_describe(best, constraints)}."
    return sentence


def _describe(row: pd.Series, constraints: Constraints) -> str:
    label = METRIC_LABELS[constraints.metric]
    text = (f"{row['name']} ({row['zoo']} {row['model_id']}): {label} {row[constraints.metric]:g} "
            f"at {row[constraints.speed]:g} s/im on {row['hardware'] or 'unmeasured hardware'}")
    if row["proposals_model_id"] and constraints.speed != "infer_s_e2e":
        text += (f", not counting proposal generation by RPN {row['proposals_model_id']} "
                 f"({row['infer_s_e2e']:g} s/im with it)")
    return text
