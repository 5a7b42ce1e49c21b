"""The server asks OpenMP to let idle threads sleep, before torch is loaded (explorer/engine/openmp.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from explorer.engine.openmp import WAIT_POLICY, prefer_sleeping_threads

APP = Path(__file__).resolve().parents[1] / "app.py"


def test_the_policy_is_set_only_before_torch_loads_and_a_users_choice_is_kept() -> None:
    code = ("import os, sys; from explorer.engine.openmp import prefer_sleeping_threads as p; env = {}; "
            "first = p(env); mine = {'OMP_WAIT_POLICY': 'ACTIVE'}; p(mine); import torch; "
            "print(first, env, mine, p({}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(APP.parent)}).stdout.strip()
    assert out == "True {'OMP_WAIT_POLICY': 'PASSIVE'} {'OMP_WAIT_POLICY': 'ACTIVE'} False"


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
