"""The zoo tables page's filters: which values a column offers, and the rows every chosen filter keeps.

An empty choice is no filter. Rows without a schedule (torchvision's, and Detectron's RPN-only rows) are offered
as NO_SCHEDULE, since a multiselect cannot show an empty string.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

NO_SCHEDULE: Final[str] = "(none)"


def filter_options(table: pd.DataFrame, column: str) -> list[str]:
    values = table[column].replace("", NO_SCHEDULE) if column == "lr_schedule" else table[column]
    return sorted(pd.unique(values))


def filter_rows(table: pd.DataFrame, chosen: dict[str, list[str]]) -> pd.DataFrame:
    """Rows matching every non-empty filter (an empty filter keeps everything)."""
    keep = pd.Series(True, index=table.index)
    for column, values in chosen.items():
        if values:
            wanted = ["" if v == NO_SCHEDULE and column == "lr_schedule" else v for v in values]
            keep &= table[column].isin(wanted)
    return table[keep]
