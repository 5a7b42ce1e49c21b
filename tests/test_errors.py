"""One base class for the errors a user can fix: every such class of the library is an ExplorerError, and the
command line prints any ExplorerError as one `error: ...` line with exit code 2 (other exceptions are bugs)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import explorer
from explorer.cli import card
from explorer.cli.main import EXIT_USAGE, main
from explorer.errors import ExplorerError, MissingPathError

PACKAGE = Path(explorer.__file__).parent
#: Exception classes of the library that are not user errors, each with the reason.
INTERNAL = {
    "explorer.engine.queue.RunCancelled": "control flow inside the inference worker: a run every caller cancelled "
                                          "stops there and is reported as cancelled, never as an error",
    "explorer.engine.queue.QueueClosedError": "a request after the server closed its queue (shutdown): nothing the "
                                              "user's input can fix",
}
#: Optional extras a module may need; without them its classes cannot be imported here (and are not in use).
OPTIONAL = {"ray"}


def library_modules() -> list[ModuleType]:
    """Every module of the library except the Streamlit pages (checked on their source below) and `__main__`."""
    modules = []
    for info in pkgutil.walk_packages(explorer.__path__, "explorer."):
        if info.name.startswith("explorer.pages") or info.name.endswith("__main__"):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ModuleNotFoundError as error:
            if error.name not in OPTIONAL:
                raise
    return modules


def exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for module in library_modules():
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_error_class_of_the_library_is_an_explorer_error() -> None:
    classes = exception_classes()
    assert {"explorer.weights.errors.WeightsError", "explorer.evaluation.errors.EvaluationInputError",
            "explorer.engine.verify.VerifyError"} <= set(classes)  # the walk does reach the library
    assert set(INTERNAL) <= set(classes), "an exemption names a class that no longer exists"
    not_user_errors = sorted(name for name, cls in classes.items()
                             if not issubclass(cls, ExplorerError) and name not in INTERNAL)
    assert not_user_errors == []
    assert not any(issubclass(classes[name], ExplorerError) for name in INTERNAL), "an exempt class is a user error"


def test_the_pages_define_no_exception_classes() -> None:
    """Pages only lay out widgets: an error class defined there would escape the walk above."""
    for path in sorted((PACKAGE / "pages").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base) for base in node.bases]
                assert not any(base.endswith(("Error", "Exception")) for base in bases), f"{path}: {node.name}"


def test_errors_keep_the_bases_callers_catch() -> None:
    from explorer.evaluation.errors import EvaluationInputError
    from explorer.inputs.images import ImageError
    from explorer.zoo.table import UnknownModelError

    assert issubclass(EvaluationInputError, ValueError) and issubclass(ImageError, ValueError)
    assert issubclass(UnknownModelError, KeyError) and str(UnknownModelError("plain")) == "plain"
    assert issubclass(MissingPathError, FileNotFoundError) and str(MissingPathError("no such file: x")) == \
        "no such file: x"


def _raising(error: BaseException) -> Callable[[object], str]:
    """A stand-in for a command's run function that raises `error`."""

    def run(_args: object) -> str:
        raise error

    return run


def test_a_multi_line_message_is_printed_on_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setattr(card, "run", _raising(ExplorerError("the model is not here:\n  it was removed\n\nask again")))
    assert main(["card", "1"]) == EXIT_USAGE == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: the model is not here: it was removed ask again\n"


def test_a_subclass_from_anywhere_in_the_library_is_mapped(monkeypatch, capsys) -> None:
    from explorer.inputs.images import ImageError

    monkeypatch.setattr(card, "run", _raising(ImageError("cat.png", "not an image")))
    assert main(["card", "1"]) == 2
    assert capsys.readouterr().err == "error: cat.png: not an image\n"


def test_other_exceptions_are_bugs_and_keep_their_traceback(monkeypatch) -> None:
    monkeypatch.setattr(card, "run", _raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["card", "1"])


def test_main_works_as_a_console_script_entry_point(capsys) -> None:
    """What `[project.scripts] explorer = "explorer.cli.main:main"` loads: called with argv, it returns the status."""
    entry = importlib.metadata.EntryPoint(name="explorer", value="explorer.cli.main:main", group="console_scripts")
    function = entry.load()
    assert function is main
    status = function(["card", "35861858"])
    assert isinstance(status, int) and status == 0
    assert capsys.readouterr().out.startswith("# Mask R-101-FPN 2x")
