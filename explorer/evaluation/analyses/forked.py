"""One piece of work done in a forked child process while this process does another: TIDE's two mask-heavy
steps (rasterising the ground truth's polygons, the per-image mask IoU) are C code that holds the GIL, and tidecv
and our other steps use one core of the two this machine has.

Why a fork and not a pool: the child inherits the inputs (half a million mask strings) without copying or
pickling them; only its result comes back through a pipe. Why so careful about when: forking a process that runs
other threads (the Streamlit server) can leave the child waiting on a lock some other thread held, so the work
forks only from a single-threaded process (the command line, a script, a test) and otherwise runs here; and if
the child fails for any reason (killed, out of memory, an exception), its part is computed again here, so the
answer and any error are the ones the plain call gives.

EXPLORER_FORK=0 keeps the work in one process: on a machine whose cores other jobs keep busy the child only adds
the fork's cost (bench/README.md, "TIDE on masks": 1.2x faster at load ~1.5, no gain under heavy load).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


#: Set to 0 to keep the work in one process (bench/bench_tide.py measures both).
ENVIRONMENT_SWITCH = "EXPLORER_FORK"


def fork_possible() -> bool:
    """Whether forking is safe here: two cores or more, the fork start method, one thread, not a daemon."""
    return ((os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()
            and single_threaded()
            and not multiprocessing.current_process().daemon)  # a pool's worker may not have children


def single_threaded() -> bool:
    """No other Python thread runs (one that might hold a lock the child would wait on forever)."""
    return threading.active_count() == 1


def can_fork() -> bool:
    """Whether to fork: fork_possible(), unless switched off with EXPLORER_FORK=0."""
    return os.environ.get(ENVIRONMENT_SWITCH, "1") != "0" and fork_possible()


class Pending(Generic[T]):
    """fn(*args), computed in a forked child (or here, see can_fork); result() waits for it."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._process: Any = None
        self._receive: Connection | None = None
        if can_fork():
            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(send, fn, args), daemon=True)
            try:
                process.start()
            except OSError:  # no memory or process slot for a child: the work is done here
                receive.close()
            else:
                self._process, self._receive = process, receive
            finally:
                send.close()

    def __enter__(self) -> Pending[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        """A child whose result was never asked for (an error here) is stopped, not left running."""
        if self._receive is not None and not self._receive.closed:
            self._process.terminate()
            self._process.join()
            self._receive.close()

    def result(self) -> T:
        """The child's result; fn(*args) computed here if there was no child or it did not deliver."""
        if self._receive is None:
            return self._fn(*self._args)
        try:
            delivered, value = self._receive.recv()
        except (EOFError, OSError):
            delivered, value = False, None
        finally:
            self._receive.close()
            self._process.join()
        return value if delivered else self._fn(*self._args)


def _child(send: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # The child lives for one call: the garbage collector's passes over the millions of objects it inherited
    # would only cost time (and copy pages the parent shares with it).
    gc.disable()
    try:
        send.send((True, fn(*args)))
    except BaseException:  # the parent computes it again and raises the real error
        send.send((False, None))
    finally:
        send.close()
