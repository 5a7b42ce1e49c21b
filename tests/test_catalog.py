"""The catalog as a registry: families register by being imported from their package, specs are looked up in
one place (`spec_for_uid`, `resolve_spec`), and the model families read no zoo file of their own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.models.catalog import NotRunnableError, UnknownModelError, resolve_spec, spec_for_uid
from explorer.models.detectron.config import detectron_config
from explorer.models.torchvision_zoo import TorchvisionConfig
from explorer.zoo.table import load_zoo
from tests.deadlines import SUBPROCESS_S

MODELS = Path(__file__).resolve().parents[1] / "explorer" / "models"
FAST_RCNN, RPN, TTA = "detectron:36225147", "detectron:35998814", "detectron:37129812:tta"


def _imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_importing_the_catalog_alone_registers_every_family_without_torch() -> None:
    code = ("import sys; from explorer.models.catalog import FAMILIES; print(sorted(FAMILIES)); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_S,
                          cwd=MODELS.parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['detectron', 'detectron2', 'torchvision']"


def test_the_catalog_imports_nothing_of_ours_at_module_level() -> None:
    """Only the project's base error class (explorer.errors, which itself imports nothing): no family, no zoo."""
    found = [name for name in _imports(MODELS / "catalog.py", top_level_only=True) if name.startswith("explorer")]
    assert found == ["explorer.errors"]
    assert [name for name in _imports(MODELS.parent / "errors.py", top_level_only=False)
            if name.startswith("explorer")] == []


def test_no_model_module_imports_the_zoo_package() -> None:
    found = {str(path.relative_to(MODELS)): name for path in MODELS.rglob("*.py")
             for name in _imports(path, top_level_only=False) if name.startswith("explorer.zoo")}
    assert found == {}


@pytest.fixture(scope="module")
def table():
    return load_zoo()


def test_every_look_up_of_an_unknown_model_says_the_same(table) -> None:
    for look_up in (resolve_spec, spec_for_uid):
        with pytest.raises(UnknownModelError, match=r"^unknown model 'nope:1'; `python -m explorer zoo` lists model"):
            look_up(table, "nope:1")


def test_resolve_spec_takes_ids_uids_and_builder_names(table) -> None:
    assert resolve_spec(table, "37129812").uid == "detectron:37129812"  # the plain row of a model with a TTA twin
    assert resolve_spec(table, TTA).uid == TTA and detectron_config(resolve_spec(table, TTA)).arch.tta
    spec = resolve_spec(table, "maskrcnn_resnet50_fpn")
    assert spec.zoo == "torchvision" and spec.builder == "maskrcnn_resnet50_fpn"
    assert spec.family_config == TorchvisionConfig(fixed_input_size=False)
    assert resolve_spec(table, "ssdlite320_mobilenet_v3_large").family_config == TorchvisionConfig(True)


def test_a_companion_comes_from_the_table_it_was_looked_up_in(table) -> None:
    proposals = detectron_config(spec_for_uid(table, FAST_RCNN)).proposals
    assert proposals is not None and proposals == spec_for_uid(table, RPN)
    without_rpn = table[table["uid"] != RPN]
    with pytest.raises(NotRunnableError, match=f"runs on the outputs of model '{RPN}'"):
        spec_for_uid(without_rpn, FAST_RCNN)


def test_a_detectron_row_without_its_config_facts_is_not_runnable(table) -> None:
    bare = table.assign(config_facts="")
    with pytest.raises(NotRunnableError, match="cannot be run here yet"):
        spec_for_uid(bare, "detectron:35858933")
