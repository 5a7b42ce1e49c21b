"""The layers the folders promise, checked on the source: argparse lives only in explorer/cli, and the model
families, the zoo and the evaluation import nothing of the command line, the pages, the sweep or the engine's
caller side (so the library packages form no cycle with the code that drives them)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deadlines import SUBPROCESS_S

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
                          timeout=SUBPROCESS_S)
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


def _explorer_imports(path: Path) -> set[str]:
    return {module for module in imported_modules(path) if _is_under(module, "explorer")}


def test_the_zoo_imports_only_itself_the_task_vocabulary_and_the_errors() -> None:
    """explorer.zoo is pandas only: no model family, no catalog, no build module (issue 21, walls)."""
    allowed = ("explorer.zoo", "explorer.tasks", "explorer.errors")
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {module}"
                 for path in sorted((PACKAGE / "zoo").rglob("*.py"))
                 for module in sorted(_explorer_imports(path))
                 if module != "explorer" and not any(_is_under(module, ok) for ok in allowed)]
    assert offenders == []


def test_only_the_build_zoo_command_imports_the_build_package() -> None:
    """What only `build-zoo` runs stays off the app's import path: no page, view, zoo or engine module reaches it."""
    build = PACKAGE / "zoo_build"
    offenders = [str(path.relative_to(PACKAGE.parent)) for path in library_files()
                 if build not in path.parents and path != PACKAGE / "cli" / "build_zoo.py"
                 and any(_is_under(module, "explorer.zoo_build") for module in imported_modules(path))]
    assert offenders == []
    assert any(_is_under(m, "explorer.zoo_build") for m in imported_modules(PACKAGE / "cli" / "build_zoo.py"))


def _calls(path: Path) -> set[str]:
    """Dotted names of what `path` calls (`torch.save`, `os.replace`, `write_atomic_with`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call):
            parts, target = [], node.func
            while isinstance(target, ast.Attribute):
                parts.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name):
                found.add(".".join([target.id, *reversed(parts)]))
    return found


def test_inputs_store_no_weights() -> None:
    """Uploaded weights are weights: explorer/weights stores them; explorer/inputs decodes images only."""
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {module}"
                 for path in sorted((PACKAGE / "inputs").rglob("*.py"))
                 for module in sorted(imported_modules(path)) if _is_under(module, "explorer.weights")]
    assert offenders == []


def test_only_explorer_weights_writes_weights_files() -> None:
    """A module that saves a checkpoint outside explorer/weights hands the file to explorer.weights.transport
    (`write_atomic_with`) instead of creating and renaming it itself."""
    weights = PACKAGE / "weights"
    writers = {str(path.relative_to(PACKAGE.parent)): calls for path in library_files()
               if weights not in path.parents and "torch.save" in (calls := _calls(path))}
    assert writers, "the checker finds the modules that save checkpoints"
    offenders = [name for name, calls in writers.items()
                 if "write_atomic_with" not in calls or calls & {"os.replace", "os.rename", "tempfile.mkstemp"}]
    assert offenders == []


def private_names_imported(source: str) -> list[str]:
    """`module.name` for every private name (`_x`, not `__x__`) that `source` imports from an explorer module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "explorer":
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_the_private_name_check_sees_them() -> None:
    assert private_names_imported("from explorer.drawing.detections import Color, _font") == [
        "explorer.drawing.detections._font"]
    assert private_names_imported("from explorer import __version__\nfrom os import _exit") == []


def test_no_module_imports_a_private_name_of_another() -> None:
    """What two modules share is public and lives where both can read it (drawing/labels.py for the drawing
    modules' line widths and label text), never a sibling's private helper."""
    offenders = {str(path.relative_to(PACKAGE.parent)): names for path in library_files()
                 if (names := private_names_imported(path.read_text("utf-8")))}
    assert offenders == {}
