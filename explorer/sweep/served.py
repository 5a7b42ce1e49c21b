"""What the Sweeps page may read: folders under one sweeps root, and only the files a sweep wrote inside itself.

The dashboard runs on a shared server, and the page lets a user type a folder. Without a boundary that
would read CSV files anywhere the server's user can, including paths a (hand-edited) summary points to.
So every folder the page opens must lie under the sweeps root, after `..` and symbolic links are resolved,
and every file a summary or `sweep.json` names must lie inside its own sweep folder.

The root is ``$EXPLORER_SWEEPS_ROOT``, by default ``$EXPLORER_CACHE/sweeps``: beside the rest of the
explorer's own server-side state (the registry of sweeps already lives in ``$EXPLORER_CACHE``), the same
for every way the server is started (a folder relative to the working directory would not be), and empty
of anything but sweeps unless someone puts them there. ``explorer sweep --out`` may write anywhere; it
says so when the dashboard will not show the result.

A summary that cannot be parsed, or lacks a column the page reads, is a `SweepAccessError` with one
sentence that says which, never a KeyError on the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from explorer.errors import ExplorerError
from explorer.sweep.summary import MEASURED_COLUMNS, SUMMARY_NAME, read_summary

ENV_SWEEPS_ROOT = "EXPLORER_SWEEPS_ROOT"
#: Columns the Sweeps page reads from every summary (the AP columns are optional: only evaluated sweeps have them).
REQUIRED_COLUMNS: tuple[str, ...] = (*MEASURED_COLUMNS, "model_name", "images", "per_category")


class SweepAccessError(ExplorerError, ValueError):
    """A folder or file the page will not read, or a summary it cannot use; `str()` is one sentence for the user."""


def sweeps_root() -> Path:
    """The folder every served sweep lies under: ``$EXPLORER_SWEEPS_ROOT``, else ``$EXPLORER_CACHE/sweeps``."""
    from explorer.weights.sources import explorer_cache_dir

    configured = os.environ.get(ENV_SWEEPS_ROOT, "").strip()
    return (Path(configured).expanduser() if configured else explorer_cache_dir() / "sweeps").resolve()


def is_served(folder: Path, root: Path | None = None) -> bool:
    """True when `folder`, with links and `..` resolved, is the root or below it."""
    root = root or sweeps_root()
    return folder.resolve().is_relative_to(root)


def open_sweep_folder(text: str | Path) -> Path:
    """The resolved sweep folder a user typed (absolute, or relative to the root); SweepAccessError if refused."""
    typed = str(text).strip()
    if not typed:
        raise SweepAccessError("Type a sweep folder (absolute, or relative to the sweeps root).")
    root = sweeps_root()
    candidate = Path(typed)
    folder = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not folder.is_relative_to(root):
        raise SweepAccessError(f"{typed} is outside the sweeps root {root} (after resolving '..' and links); the "
                               f"dashboard only opens sweeps under it. Set {ENV_SWEEPS_ROOT} to serve another folder.")
    if not folder.is_dir():
        raise SweepAccessError(f"There is no folder {typed} under the sweeps root {root}.")
    return folder


def served_sweeps(registered: Iterable[Path]) -> tuple[list[Path], int]:
    """The registered sweeps under the root (order kept), and how many registered ones lie outside it."""
    root = sweeps_root()
    paths = list(registered)
    inside = [path for path in paths if is_served(path, root)]
    return inside, len(paths) - len(inside)


def file_in_sweep(folder: Path, relative: str) -> Path:
    """A file a summary names, resolved inside its sweep folder; SweepAccessError when it points outside."""
    base = folder.resolve()
    path = (base / str(relative)).resolve()
    if not path.is_relative_to(base):
        raise SweepAccessError(f"The summary points at {relative}, outside its sweep folder {base}; not read.")
    return path


def served_meta(folder: Path, meta: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`sweep.json` with model folders outside the sweep dropped, and one message per dropped entry."""
    kept: dict[str, Any] = {}
    refused = []
    for uid, model_dir in dict(meta.get("model_dirs", {}) or {}).items():
        try:
            file_in_sweep(folder, str(model_dir))
        except SweepAccessError:
            refused.append(f"sweep.json places model {uid} at {model_dir}, outside its sweep folder; not read.")
            continue
        kept[uid] = model_dir
    return ({**meta, "model_dirs": kept} if "model_dirs" in meta else dict(meta)), refused


def load_summary(folder: Path) -> pd.DataFrame:
    """The sweep's summary, checked: FileNotFoundError while there is none, SweepAccessError if it is unusable."""
    try:
        summary = read_summary(folder)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SweepAccessError(f"{folder / SUMMARY_NAME} is not a readable sweep summary: {first}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in summary.columns]
    if missing:
        raise SweepAccessError(f"{folder / SUMMARY_NAME} lacks the column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)}; it was not written by `explorer sweep` (or by an older "
                               "version): run the sweep again to rewrite it.")
    seconds = pd.to_numeric(summary["median_s"], errors="coerce")
    if (seconds.isna() & summary["median_s"].notna()).any():
        raise SweepAccessError(f"{folder / SUMMARY_NAME} has values in median_s that are not numbers.")
    return summary.assign(median_s=seconds)
