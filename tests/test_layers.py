"""The layers the folders promise, checked on the source: argparse lives only in explorer/cli, and the model
families, the zoo and the evaluation import nothing of the command line, the pages, the sweep or the engine's
caller side (so the library packages form no cycle with the code that drives them)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"
#: Packages that are the library's base: what they may not import, whatever the depth (lazy imports count too).
BASE_PACKAGES = ("models", "zoo", "evaluation")
CALLER_SIDE = ("explorer.cli", "explorer.pages", "explorer.views", "explorer.sweep", "explorer.engine.predict",
               "explorer.engine.queue", "streamlit")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports anywhere in its body; `from a import b` counts as `a` and `a.b`."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the package imports absolutely)"
            module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_checker_sees_imports_in_functions_and_from_forms(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("import os\n\ndef f():\n    import argparse\n    from explorer.engine import predict\n")
    assert {"os", "argparse", "explorer.engine", "explorer.engine.predict"} <= imported_modules(source)


def test_only_the_command_line_imports_argparse() -> None:
    cli = PACKAGE / "cli"
    offenders = [str(path.relative_to(PACKAGE.parent)) for path in library_files()
                 if cli not in path.parents and "argparse" in imported_modules(path)]
    assert offenders == [], f"argparse outside explorer/cli: {offenders}"
    assert "argparse" in imported_modules(cli / "main.py")  # the checker does look where argparse is


@pytest.mark.parametrize("package", BASE_PACKAGES)
def test_base_packages_import_no_caller_side_module(package: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if any(_is_under(module, banned) for banned in CALLER_SIDE):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert offenders == []


def test_building_the_command_line_imports_no_torch_ray_or_streamlit() -> None:
    """Every command module is imported to build the parser, so `explorer zoo` must not pay for torch or Ray."""
    code = ("import sys; from explorer.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'ray', 'streamlit') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_pages_folder_holds_exactly_the_pages_app_py_registers() -> None:
    """explorer/pages/ is the list of pages (st.navigation registers each file by path); views live apart."""
    app = (PACKAGE.parent / "app.py").read_text("utf-8")
    registered = {line.split('PAGES_DIR / "', 1)[1].split('"', 1)[0] for line in app.splitlines()
                  if 'PAGES_DIR / "' in line}
    present = {path.name for path in (PACKAGE / "pages").glob("*.py")} - {"__init__.py"}
    assert present == registered
    assert not [path for path in (PACKAGE / "pages").iterdir() if path.is_dir() and path.name != "__pycache__"]
