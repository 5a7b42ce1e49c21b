"""Python's cyclic garbage collector paused while an evaluation builds its inputs (evaluate, TIDE, the confusion
matrix's overlaps).

Reading a val2017-size results file and ground truth makes millions of lists, dicts and floats in a few
seconds. Each of them counts towards the collector's thresholds, so it runs over and over meanwhile, and each
full collection walks every container alive (the whole parsed input, plus whatever else the process holds):
on TIDE for masks that was 0.25-0.6 s of its 2.5-3.3 s (bench/README.md, "TIDE at 10x tidecv"). Nothing an
evaluation builds is cyclic garbage, so nothing is kept alive longer by the pause; the collector resumes when
the outermost pause ends, and catches up on its next run.

The switch is process-wide: concurrent pauses (several sessions evaluating in one server) nest, and the
collector comes back only when the last one ends, and only if it was on before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block, no automatic cyclic collection (gc.disable); the state before comes back after."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
