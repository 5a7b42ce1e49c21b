"""The app uses Streamlit's public API only: `import streamlit as st`, never a module under it.

Streamlit's submodules (streamlit.runtime, streamlit.elements, ...) are its internals: they change without notice
between releases, and patching them (the page once switched off st.cache_data's element recording that way)
breaks silently. Tests may use the documented testing API (streamlit.testing), which is not scanned here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([ROOT / "app.py", *(ROOT / "explorer").rglob("*.py")])


def streamlit_imports(source: str) -> list[str]:
    """Every module of the streamlit package a source imports, and every 'streamlit.x' string it names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "streamlit"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "streamlit":
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("streamlit."):
            found.append(node.value)  # importlib.import_module("streamlit.runtime...") and the like
    return found


def private_streamlit_imports(source: str) -> list[str]:
    return [name for name in streamlit_imports(source) if name != "streamlit"]


def test_no_module_imports_streamlit_internals() -> None:
    offenders = {str(path.relative_to(ROOT)): names for path in SOURCES
                 if (names := private_streamlit_imports(path.read_text(encoding="utf-8")))}
    assert offenders == {}


def test_the_scan_sees_every_way_of_reaching_an_internal_module() -> None:
    assert private_streamlit_imports("import streamlit as st\nimport streamlit") == []
    assert private_streamlit_imports("from streamlit.runtime.scriptrunner import get_script_run_ctx") == [
        "streamlit.runtime.scriptrunner.get_script_run_ctx"]
    assert private_streamlit_imports("def f():\n    import streamlit.runtime.caching as c") == [
        "streamlit.runtime.caching"]
    assert private_streamlit_imports("from streamlit import runtime") == ["streamlit.runtime"]
    assert private_streamlit_imports("importlib.import_module('streamlit.elements.lib')") == ["streamlit.elements.lib"]


def test_the_scan_covers_the_pages() -> None:
    names = {path.name for path in SOURCES}
    assert {"app.py", "detections.py", "eval_views.py", "run_resources.py"} <= names
