"""How long a test waits for real work (a page's script run, a fresh interpreter, a worker thread) before failing.

A deadline decides only how long a *broken* run takes to fail: a passing test never waits for it. So these are
sized for a busy shared machine, not an idle one (8 jobs on 2 cores made a 30 s page run, and a subprocess
guarded by 8 s, look hung), and named in one place so that every test means the same by "too long".
The browser tests pace theirs by a measured warm-up instead (tests/browser/waits.py).
"""

from __future__ import annotations

#: One AppTest script run: a page and its first imports, or a model run on random weights on a small image.
APP_RUN_S: float = 300.0
#: A fresh interpreter that imports the library (torch included) and does a little work.
SUBPROCESS_S: float = 300.0
#: A call that must not hang (a malformed input, a stuck download): finite, but far above its normal time.
HANG_S: float = 120.0
