"""The evaluation and Detectron packages read in one direction (issue 11, item 8): no circle of imports between
their modules, and evaluation's three layers import only downwards (inputs, then coco, then analyses).

Imports inside functions count (a lazy import is still a dependency, and often one that hides a circle); imports
under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(child) for statement in node.body for child in ast.walk(statement))
    return skipped


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `path` imports when it runs (a package import names its __init__)."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found - {module_name(path)}


def graph(package: str) -> dict[str, set[str]]:
    folder = ROOT.joinpath(*package.split("."))
    paths = sorted(folder.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, known) for path in paths}


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One circle of imports, as the modules along it, or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if state.get(other) == 1:
                return [*stack[stack.index(other):], other]
            if other not in state and (found := visit(other)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_cycle_finds_a_circle_and_only_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", ["explorer", "explorer.evaluation", "explorer.models.detectron"])
def test_no_circle_of_imports(package) -> None:
    assert cycle(graph(package)) == []


def test_no_circle_of_subpackages_in_the_detectron_port() -> None:
    """network (the modules) and inference (Detectron's test-time steps) and checkpoint: one direction each."""
    base = "explorer.models.detectron."
    edges: dict[str, set[str]] = {}
    for module, imported in graph("explorer.models.detectron").items():
        source = module.removeprefix(base).split(".")[0]
        if "." in module.removeprefix(base):
            edges.setdefault(source, set()).update(
                name.removeprefix(base).split(".")[0] for name in imported
                if "." in name.removeprefix(base) and not name.removeprefix(base).startswith(source + "."))
    assert cycle(edges) == []


LAYERS = ("inputs", "coco", "analyses")


def test_evaluation_layers_import_only_downwards() -> None:
    wrong = []
    for module, imported in graph("explorer.evaluation").items():
        parts = module.split(".")
        if len(parts) < 4:
            continue  # the package itself and the shared modules at its top (errors, masks)
        layer = LAYERS.index(parts[2])
        for name in imported:
            other = name.split(".")
            if len(other) >= 4 and LAYERS.index(other[2]) > layer:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_the_iou_type_vocabulary_lives_with_the_other_task_words() -> None:
    """IouType / IOU_TYPES are explorer.tasks' (issue 20): no evaluation module defines them again, and every module
    that names the type imports it from there."""
    defined, imported_elsewhere = [], []
    for path in sorted((ROOT / "explorer").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and path.name != "tasks.py":
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined += [f"{path.name}: {t.id}" for t in targets
                            if isinstance(t, ast.Name) and t.id in ("IouType", "IOU_TYPES")]
            if isinstance(node, ast.ImportFrom) and node.module != "explorer.tasks" and any(
                    alias.name in ("IouType", "IOU_TYPES") for alias in node.names):
                imported_elsewhere.append(f"{module_name(path)} from {node.module}")
    assert defined == [] and imported_elsewhere == []
    assert not (ROOT / "explorer" / "evaluation" / "coco" / "kinds.py").exists()


def test_the_coco_result_holds_no_analysis() -> None:
    """coco/ never names analyses/, not even for a type (no field of the COCO result is an analysis's result, so
    no circle between the two, however it is spelled)."""
    named = []
    for path in sorted((ROOT / "explorer" / "evaluation" / "coco").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("explorer.evaluation.analyses"):
                named.append(f"{path.name}: {node.module}")
    assert named == []


def test_one_request_travels_the_evaluation_path() -> None:
    """run_request takes the one EvaluationRequest (and a progress callback), not loose parameters; evaluate() is
    the convenient call that builds it."""
    import inspect

    from explorer.evaluation.coco import pipeline

    assert list(inspect.signature(pipeline.run_request).parameters) == ["request", "progress"]
    assert pipeline.EvaluationRequest.__dataclass_params__.frozen
    assert pipeline.EvaluationOptions.__dataclass_params__.frozen
    assert {"ground_truth", "results", "iou_type", "options"} == set(pipeline.EvaluationRequest.__dataclass_fields__)


def test_the_pages_hand_the_request_on_whole() -> None:
    """The pages' path (views -> report.start_evaluation -> evaluate_uploads -> run_request) carries one
    EvaluationRequest: neither report function takes the evaluation's inputs or options as loose parameters again
    (only what is not the evaluation's own: the keypoint analysis, the executor, the progress log)."""
    import inspect

    from explorer.evaluation import report

    assert list(inspect.signature(report.evaluate_uploads).parameters) == [
        "request", "keypoint_errors", "flip_pairs", "progress"]
    assert list(inspect.signature(report.start_evaluation).parameters) == [
        "executor", "request", "keypoint_errors", "flip_pairs"]
