"""Pareto frontier of cost (lower is better) against accuracy (higher is better)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_mask(cost: pd.Series, value: pd.Series) -> pd.Series:
    """True where no other row is at least as cheap and at least as accurate, and strictly better in one.

    Rows missing either number are never on the frontier. Identical points do not dominate each other,
    so both stay on it.
    """
    valid = cost.notna() & value.notna()
    c = cost[valid].to_numpy(dtype=float)
    v = value[valid].to_numpy(dtype=float)
    no_worse = (c[None, :] <= c[:, None]) & (v[None, :] >= v[:, None])  # [i, j]: j no worse than i
    better = (c[None, :] < c[:, None]) | (v[None, :] > v[:, None])
    dominated = (no_worse & better).any(axis=1)
    mask = pd.Series(False, index=cost.index)
    mask[valid] = ~dominated
    return mask


def frontier(table: pd.DataFrame, cost: str, value: str) -> pd.DataFrame:
    """The frontier rows sorted by cost, ready to draw as a step line."""
    on_front = pareto_mask(table[cost], table[value])
    return table[on_front].sort_values([cost, value], ascending=[True, False])


def frontier_neighbours(table: pd.DataFrame, uid: str, cost: str, value: str) -> pd.DataFrame:
    """The frontier models just cheaper and just more accurate than the given model (for its card)."""
    front = frontier(table, cost, value)
    if uid not in table.index or pd.isna(table.at[uid, cost]) or pd.isna(table.at[uid, value]):
        return front.iloc[0:0]
    here = table.at[uid, cost]
    cheaper = front[(front[cost] < here) & (front.index != uid)].tail(1)
    dearer = front[(front[cost] > here) & (front.index != uid)].head(1)
    neighbours = pd.concat([cheaper, dearer])
    return neighbours[~np.isin(neighbours.index, [uid])]


def frontiers(table: pd.DataFrame, cost: str, value: str, across_zoos: bool = False
              ) -> dict[tuple[str, str], pd.DataFrame]:
    """(zoo, metric scope) -> that group's frontier rows sorted by cost; empty groups left out.

    Published times are each zoo's own GPU's, so every zoo gets its own frontier; times for one machine
    (`across_zoos`: measured or projected here) compare across zoos, and there the zoo is "all". Scopes never
    share a frontier (COCO-wide and person-only AP are different numbers).
    """
    zoo = pd.Series("all", index=table.index) if across_zoos else table["zoo"]
    fronts = {(str(group), str(scope)): frontier(rows, cost, value)
              for (group, scope), rows in table.groupby([zoo, table["metric_scope"]], sort=True)}
    return {key: front for key, front in fronts.items() if not front.empty}

