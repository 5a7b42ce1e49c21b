"""Project a model's time on this machine from its published time, fitted on the models measured here.

Within one timing source (one zoo's code base on one GPU) the published times differ mostly by how much
work each model does; a machine here does the same work at its own pace. So we fit, per source,

    log t_here = a + log t_published        (a pure scale: t_here = e^a * t_published)

on the models of that source measured here, and project the others with an 80 % prediction interval from
the residuals (Student t with n - 1 degrees of freedom). Why a pure scale and not a free slope b: with the
three to ten models one measures in practice, a slope costs a degree of freedom that widens every interval
(t with one degree of freedom at n = 3 is 3.08 against 1.89), and it extrapolates badly past the measured
range; the residual spread already says how far the one-factor picture holds. `free_slope=True` fits
log t_here = a + b log t_published for whoever has measured many models.

GFLOPs are not a predictor here: within a source the published time already reflects the work, and the
GFLOPs of Detectron rows are not in `zoo_data/` (they arrive with a separate table); adding one is only
worth it if it shrinks the residuals measurably.

No projection from fewer than MIN_MODELS measured models of a source, and never across sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

MIN_MODELS: Final[int] = 3
LEVEL: Final[float] = 0.80

#: Columns `project` returns, one row per model of the table.
PROJECTION_COLUMNS: Final[tuple[str, ...]] = ("projected_s", "projected_lo_s", "projected_hi_s", "projection_n",
                                              "projection_scale")


@dataclass(frozen=True)
class Fit:
    """log t_here = intercept + slope * log t_published, fitted on `n` models; `residual_sd` in log units."""

    intercept: float
    slope: float
    residual_sd: float
    n: int
    x_mean: float
    x_ss: float  # sum of squared deviations of log t_published (0 for a pure scale: not used)
    free_slope: bool

    @property
    def dof(self) -> int:
        return self.n - (2 if self.free_slope else 1)

    @property
    def scale(self) -> float:
        """t_here / t_published for a pure scale (the factor at t_published = 1 s otherwise)."""
        return math.exp(self.intercept)

    def predict(self, published_s: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, low, high) seconds for published times; low/high bound a `level` prediction interval."""
        x = np.log(np.asarray(published_s, dtype=float))
        centre = self.intercept + self.slope * x
        spread = 1.0 + 1.0 / self.n
        if self.free_slope and self.x_ss > 0:
            spread = spread + (x - self.x_mean) ** 2 / self.x_ss
        half = t_quantile(0.5 + level / 2, self.dof) * self.residual_sd * np.sqrt(spread)
        return np.exp(centre), np.exp(centre - half), np.exp(centre + half)


def fit_scale(published_s: pd.Series, measured_s: pd.Series, free_slope: bool = False) -> Fit | None:
    """The fit over the models that have both times (> 0); None below MIN_MODELS of them."""
    both = pd.concat([published_s.rename("p"), measured_s.rename("m")], axis=1).dropna()
    both = both[(both["p"] > 0) & (both["m"] > 0)]
    n = len(both)
    if n < MIN_MODELS:
        return None
    x, y = np.log(both["p"].to_numpy(float)), np.log(both["m"].to_numpy(float))
    x_mean = float(x.mean())
    x_ss = float(((x - x_mean) ** 2).sum())
    if free_slope and x_ss > 0:
        slope = float(((x - x_mean) * (y - y.mean())).sum() / x_ss)
        params = 2
    else:
        slope, params, free_slope = 1.0, 1, False
    intercept = float(y.mean() - slope * x_mean)
    residuals = y - (intercept + slope * x)
    sd = float(math.sqrt((residuals ** 2).sum() / (n - params))) if n > params else 0.0
    return Fit(intercept=intercept, slope=slope, residual_sd=sd, n=n, x_mean=x_mean, x_ss=x_ss,
               free_slope=free_slope)


def project(published_s: pd.Series, measured_s: pd.Series, source: pd.Series,
            free_slope: bool = False) -> pd.DataFrame:
    """Per model: the projected time here, its interval and how many measured models of its source it rests on.

    `published_s`, `measured_s` and `source` share the table's index; rows with an empty source (no published
    time, e.g. torchvision) and sources with fewer than MIN_MODELS measured models get NaN. A model measured
    here is projected too (from the fit of its source), so a page can show how well the fit holds.
    """
    out = pd.DataFrame(np.nan, index=published_s.index, columns=list(PROJECTION_COLUMNS))
    timed_source = source[source != ""]
    for _, rows in timed_source.groupby(timed_source):
        index = rows.index
        fit = fit_scale(published_s.loc[index], measured_s.loc[index], free_slope=free_slope)
        if fit is None:
            continue
        has_time = published_s.loc[index].notna() & (published_s.loc[index] > 0)
        timed = index[has_time.to_numpy()]
        centre, low, high = fit.predict(published_s.loc[timed].to_numpy(float))
        out.loc[timed, "projected_s"] = centre
        out.loc[timed, "projected_lo_s"] = low
        out.loc[timed, "projected_hi_s"] = high
        out.loc[timed, "projection_n"] = float(fit.n)
        out.loc[timed, "projection_scale"] = fit.scale
    return out


def t_quantile(p: float, dof: int) -> float:
    """The p-quantile of Student's t with `dof` degrees of freedom (0 when dof < 1: no spread to scale).

    Bisection on the CDF, which is integrated numerically from the density; accurate to ~1e-7, plenty for
    an interval, and it keeps scipy out of the dependencies.
    """
    if dof < 1:
        return 0.0
    low, high = 0.0, 1.0
    while _t_cdf(high, dof) < p:
        high *= 2.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, dof) < p else (low, middle)
    return (low + high) / 2


def _t_cdf(t: float, dof: int, steps: int = 2000) -> float:
    """P(T <= t) for t >= 0, by Simpson's rule on the density from 0 to t."""
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    grid = np.linspace(0.0, t, steps + 1)
    density = np.exp(log_norm - (dof + 1) / 2 * np.log1p(grid ** 2 / dof))
    weights = np.ones(steps + 1)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return 0.5 + float((weights * density).sum() * (t / steps) / 3)
