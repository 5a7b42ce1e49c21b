"""Rank models by accuracy per second under a user's constraints, and say which one to pick."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from explorer.errors import ExplorerError
from explorer.tasks import METRIC_LABELS, METRICS, TASK_NAMES, task_named
from explorer.zoo.derived import PER_SECOND
from explorer.zoo.pareto import pareto_mask
from explorer.zoo.schema import SCOPES, ZOO_LABELS
from explorer.zoo.speeds import DEFAULT_SPEED, SPEEDS, UnknownSpeedError, speed_key, speed_sources, timing_groups
from explorer.zoo.table import check_zoos

#: Speed columns a ranking or plot can use, default first (column -> label).
SPEED_COLUMNS: dict[str, str] = {speed.column: speed.label for speed in SPEEDS.values()}
SCOPE_WORDS: dict[str, str] = {"coco": "over all COCO categories", "person": "over the person category only"}


class RankingError(ExplorerError, ValueError):
    """A constraint the ranking cannot apply (unknown metric, task, scope or speed)."""


@dataclass(frozen=True)
class Constraints:
    """What the user asks for: a metric to maximise per second, limits to respect, one scope and one speed.

    `speed` is a key of `explorer.zoo.speeds.SPEEDS` (or its column); `machine` names the hardware of the
    local speeds (measured / projected) for the sentences, e.g. the store setting's label.
    """

    metric: str = "box_ap"
    max_infer_s: float | None = None
    min_metric: float | None = None
    task: str | None = None
    zoos: tuple[str, ...] = ()
    speed: str = DEFAULT_SPEED
    scope: str = "coco"
    machine: str = ""

    @property
    def speed_column(self) -> str:
        return SPEEDS[speed_key(self.speed)].column

    @property
    def local(self) -> bool:
        return SPEEDS[speed_key(self.speed)].local

    def check(self) -> None:
        if self.metric not in METRICS:
            raise RankingError(f"unknown metric {self.metric!r}; choose from {', '.join(METRICS)}")
        if self.task is not None and self.task not in TASK_NAMES:
            raise RankingError(f"unknown task {self.task!r}; choose from {', '.join(TASK_NAMES)}")
        if self.scope not in SCOPES:
            raise RankingError(f"unknown scope {self.scope!r}; choose from {', '.join(SCOPES)}")
        try:
            speed_key(self.speed)
        except UnknownSpeedError as error:
            raise RankingError(str(error)) from None
        check_zoos(self.zoos)


def _speed(table: pd.DataFrame, column: str) -> pd.Series:
    """The speed column, all missing when the table has none (no local speeds added)."""
    return table[column] if column in table else pd.Series(float("nan"), index=table.index)


def eligible(table: pd.DataFrame, constraints: Constraints) -> pd.Series:
    """Rows of the scope with the metric that meet every constraint except having a speed."""
    c = constraints
    keep = table[c.metric].notna() & (table["metric_scope"] == c.scope)
    if c.task is not None:
        keep &= table[task_named(c.task).metric].notna()
    if c.zoos:
        keep &= table["zoo"].isin(check_zoos(c.zoos))
    if c.min_metric is not None:
        keep &= table[c.metric] >= c.min_metric
    return keep


def candidates(table: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """Rows of the chosen scope that have the metric and the chosen speed and satisfy every constraint."""
    constraints.check()
    speed = _speed(table, constraints.speed_column)
    keep = eligible(table, constraints) & speed.notna() & (speed > 0)
    if constraints.max_infer_s is not None:
        keep &= speed <= constraints.max_infer_s
    return table[keep]


def rank_models(table: pd.DataFrame, constraints: Constraints, top: int | None = None) -> pd.DataFrame:
    """Candidates ranked by metric per second within each timing source, with `rank`, `timing`,
    `speed_source` and `pareto` columns.

    Ranks restart for every hardware the times were taken on (Detectron's P100s, Detectron2's V100s),
    because seconds on one GPU do not order models timed on another; local speeds (measured or projected)
    are all for this machine and form one ranking across zoos. `pareto` is computed within each group.
    `top` keeps the best N of each group.
    """
    chosen = candidates(table, constraints).copy()
    metric, speed = constraints.metric, constraints.speed_column
    chosen["timing"] = timing_groups(chosen, constraints.speed, constraints.machine)
    chosen["speed_source"] = speed_sources(chosen, constraints.speed)
    chosen["per_s"] = chosen[metric] / chosen[speed]
    chosen["pareto"] = False
    for _, rows in chosen.groupby("timing"):
        chosen.loc[rows.index, "pareto"] = pareto_mask(rows[speed], rows[metric])
    chosen = chosen.sort_values(["timing", "per_s", metric], ascending=[True, False, False], kind="stable")
    chosen.insert(0, "rank", chosen.groupby("timing").cumcount() + 1)
    return chosen if top is None else chosen[chosen["rank"] <= top]


def ranking_view(ranked: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """The columns a person reads in a ranking, named plainly; `hardware` is what the chosen times are for."""
    metric, speed = constraints.metric, constraints.speed_column
    columns = ["rank", "timing", "zoo", "model_id", "name", "tta", metric, "metric_scope", speed, "per_s", "pareto",
               "hardware", "speed_source"]
    if speed_key(constraints.speed) == "projected":
        columns += ["projected_lo_s", "projected_hi_s", "projection_n"]
    view = ranked.reindex(columns=columns)
    if "projection_n" in view:
        view["projection_n"] = view["projection_n"].astype("Int64")
    if constraints.local:
        view["hardware"] = constraints.machine or "this machine"
    return view.rename(columns={"per_s": PER_SECOND[metric]})


def recommend(table: pd.DataFrame, constraints: Constraints) -> str:
    """Plain language: per timing source, the fastest model meeting the constraints and the most accurate."""
    chosen = candidates(table, constraints)
    c = constraints
    label = METRIC_LABELS[c.metric]
    limits = []
    if c.min_metric is not None:
        limits.append(f"{label} ≥ {c.min_metric:g}")
    if c.max_infer_s is not None:
        limits.append(f"inference ≤ {c.max_infer_s:g} s/im")
    if c.task is not None:
        limits.append(f"{c.task} output")
    where = f" with {' and '.join(limits)}" if limits else ""
    untimed = _untimed_note(table, c)
    if chosen.empty:
        return " ".join(filter(None, [f"No model{where} scored {SCOPE_WORDS[c.scope]} is in the selected zoos; "
                                      "relax a constraint.", _other_scope_hint(table, c), untimed]))
    groups = timing_groups(chosen, c.speed, c.machine)
    speed = c.speed_column
    parts = [f"Comparing {label} {SCOPE_WORDS[c.scope]}."]
    for group, rows in chosen.groupby(groups, sort=True):
        fastest = rows.sort_values([speed, c.metric], ascending=[True, False]).iloc[0]
        best = rows.sort_values([c.metric, speed], ascending=[False, True]).iloc[0]
        timed = f"Timed on {group}" if c.local else f"Timed by {group}"
        sentence = f"{timed}: the fastest model{where} is {_describe(fastest, c)}"
        if best.name != fastest.name:
            sentence += f"; the most accurate is {_describe(best, c)}"
        parts.append(sentence + ".")
    if untimed:
        parts.append(untimed)
    return " ".join(parts)


def _other_scope_hint(table: pd.DataFrame, constraints: Constraints) -> str:
    """Point at the other scope when the constraints find models there (e.g. keypoint AP: person only)."""
    for scope in SCOPES:
        if scope != constraints.scope and not candidates(table, replace(constraints, scope=scope)).empty:
            return f"Models scored {SCOPE_WORDS[scope]} would qualify: choose the scope '{scope}'."
    return ""


def _untimed_note(table: pd.DataFrame, constraints: Constraints) -> str:
    """Why some zoos' models are missing from the ranking: no time of the chosen kind."""
    constraints.check()
    missing = eligible(table, constraints) & _speed(table, constraints.speed_column).isna()
    zoos = [ZOO_LABELS.get(zoo, zoo) for zoo in pd.unique(table.loc[missing, "zoo"])]
    if not zoos:
        return ""
    if constraints.local:
        return (f"Not ranked, with no time for this machine: {missing.sum()} models of {', '.join(zoos)} "
                "(measure them with `python -m explorer bench`).")
    silent = [ZOO_LABELS.get(z, z) for z in pd.unique(table.loc[missing, "zoo"])
              if table.loc[table["zoo"] == z, "infer_s"].isna().all()]
    if not silent:
        return ""
    return (f"{' and '.join(silent)} publishes no inference time, so its models have no published-speed rank; "
            "time them here (`python -m explorer bench`) and rank with the measured or projected speed.")


def _describe(row: pd.Series, constraints: Constraints) -> str:
    label = METRIC_LABELS[constraints.metric]
    speed = constraints.speed_column
    key = speed_key(constraints.speed)
    text = (f"{row['name']} ({row['zoo']} {row['model_id']}): {label} {row[constraints.metric]:g} "
            f"at {row[speed]:.3g} s/im")
    if key == "projected" and pd.isna(row.get("measured_s")):
        text += (f" projected (80 % interval {row['projected_lo_s']:.3g}–{row['projected_hi_s']:.3g}, "
                 f"from {int(row['projection_n'])} measured models)")
    elif key in ("measured", "projected"):
        text += " measured"
    if row["proposals_model_id"] and key == "published":
        text += (f", not counting proposal generation by RPN {row['proposals_model_id']} "
                 f"({row['infer_s_e2e']:g} s/im with it)")
    elif row["proposals_model_id"] and key == "e2e":
        text += f" including proposal generation by RPN {row['proposals_model_id']}"
    return text
