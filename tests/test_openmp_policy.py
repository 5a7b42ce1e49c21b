"""The server asks OpenMP to let idle threads sleep, before torch is loaded (explorer/engine/openmp.py)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from explorer.engine.openmp import WAIT_POLICY, prefer_sleeping_threads

APP = Path(__file__).resolve().parents[1] / "app.py"


def test_the_policy_is_set_before_torch_loads_and_a_users_choice_is_kept(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as in a fresh server process
    env: dict[str, str] = {}
    assert prefer_sleeping_threads(env) is True and env == {WAIT_POLICY: "PASSIVE"}
    mine = {WAIT_POLICY: "ACTIVE"}
    assert prefer_sleeping_threads(mine) is True and mine == {WAIT_POLICY: "ACTIVE"}


def test_too_late_once_torch_is_loaded() -> None:
    import torch  # noqa: F401  (as in this test process)

    env: dict[str, str] = {}
    assert prefer_sleeping_threads(env) is False and WAIT_POLICY not in env


def test_app_py_sets_it_before_declaring_any_page() -> None:
    """app.py is the server's first code: the call must come before anything a page runs."""
    body = ast.parse(APP.read_text("utf-8")).body
    calls = [index for index, node in enumerate(body) if isinstance(node, ast.Expr)
             and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "prefer_sleeping_threads"]
    pages = [index for index, node in enumerate(body) if "st.Page(" in ast.unparse(node)]
    assert calls and pages and calls[0] < pages[0]
