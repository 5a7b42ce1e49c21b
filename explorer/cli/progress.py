"""Progress bars of the command line: tqdm drawing the library's plain ``progress(done, total)`` callbacks.

The library reports progress as calls, never as drawing (the Detections page turns the same calls into a Streamlit
widget), so tqdm is the command line's business alone. One callback may report several counts in a row: a load
fetches the model's checkpoint and then its proposal model's, a sweep runs one model after another. So a new bar
starts when the label changes or when a finished count starts again from 0, and a repeated last call of a finished
count draws nothing.

On a terminal tqdm redraws one line in place, as usual. In a log (CI, a file) the bar is drawn at each tenth of the
total only, so a long download leaves eleven states rather than thousands.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import IO, Any

from tqdm import tqdm

from explorer.weights.transport import ProgressCallback

#: In a log, a count of unknown total is drawn at most this often (its total is only known at the end).
_LOG_INTERVAL_S = 10.0


class ProgressBars:
    """tqdm bars, one after another on one stream, fed by ``update(done, total, label)`` calls.

    `unit` names what is counted ("image"); with `byte_sizes` the counts are bytes shown as kB, MB, GB. The stream
    is looked up when a bar starts (default: the stderr of that moment, which is what tests capture).
    """

    def __init__(self, *, unit: str, byte_sizes: bool = False, stream: IO[str] | None = None) -> None:
        self._unit, self._byte_sizes, self._stream = unit, byte_sizes, stream
        self._bar: tqdm | None = None  # None: no count running (none yet, or the last one finished)
        self._label: str | None = None

    def update(self, done: int, total: int | None, label: str = "") -> None:
        """Draw `done` of `total` (None: unknown yet) for `label`; a count is finished when done reaches total."""
        if label != self._label or (self._bar is None and done == 0):
            self._start(label, total)
        bar = self._bar
        if bar is None:  # the finished count's last call again (a download reports its end twice)
            return
        if total != bar.total:  # a server that sent no size: the total is known at the end
            bar.total = total
        bar.update(done - bar.n)
        if total is not None and done >= total:
            self.close()

    def write(self, line: str) -> None:
        """Print `line` above the running bar (tqdm clears and redraws it), e.g. an image a sweep skipped."""
        tqdm.write(line, file=self._file())

    def close(self) -> None:
        """End the running bar, leaving its last state on screen."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _start(self, label: str, total: int | None) -> None:
        self.close()
        self._label = label
        stream = self._file()
        self._bar = tqdm(total=total, desc=label or None, unit=self._unit, unit_scale=self._byte_sizes,
                         file=stream, dynamic_ncols=True, **_pace(stream, total))

    def _file(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr


def _pace(stream: IO[str], total: int | None) -> dict[str, Any]:
    """How often tqdm redraws: its defaults on a terminal; in a log, at each tenth (or every 10 s without a total).

    `maxinterval=inf` keeps tqdm's monitor thread from dropping back to drawing every call after 10 s of no draw.
    """
    if getattr(stream, "isatty", lambda: False)():
        return {}
    if not total:
        return {"mininterval": _LOG_INTERVAL_S}
    return {"mininterval": 0.0, "miniters": max(1, total // 10), "maxinterval": math.inf}


def download_bar(label: str = "", stream: IO[str] | None = None) -> ProgressCallback:
    """The `progress(bytes_done, bytes_total)` callback for a load: one bar per file it downloads."""
    return functools.partial(ProgressBars(unit="B", byte_sizes=True, stream=stream).update, label=label)


def count_bar(unit: str, label: str = "", stream: IO[str] | None = None) -> Callable[[int, int], None]:
    """The `progress(done, total)` callback for counting `unit`s (images through a model)."""
    return functools.partial(ProgressBars(unit=unit, stream=stream).update, label=label)
