"""The one task vocabulary (explorer.tasks): consistent in itself, with the zoo's columns and COCO's types, and the
only place the library, the pages and the figures take a task's metric, IoU type or label from."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.evaluation.coco.metrics import stat_names
from explorer.figures import zoo as plots
from explorer.pages import schedules as schedules_page
from explorer.pages import zoo_tables
from explorer.tasks import (
    EVALUATED,
    IOU_LABELS,
    IOU_TYPES,
    METRIC_LABELS,
    METRICS,
    TASK_NAMES,
    TASKS,
    IouType,
    UnknownTaskError,
    task_named,
    task_of_iou_type,
    task_of_metric,
)
from explorer.zoo.derived import DERIVED_COLUMNS, PER_SECOND
from explorer.zoo.schema import NUMERIC_COLUMNS, TYPE_TASK, ZOO_COLUMNS
from explorer.zoo.table import load_zoo
from tests.deadlines import APP_RUN_S

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "explorer"
APP = REPO / "app.py"
#: Modules allowed to spell the vocabulary out: the table itself, and the parsers of the zoos' pages, which map
#: the pages' own header text ("kp. AP", "box AP") to our columns.
SPELLED_OUT = (LIBRARY / "tasks.py", LIBRARY / "zoo_build" / "sources")
#: A metric named in words, in any of the spellings the code used before it had one table.
METRIC_WORDS = re.compile(r"\b(box|mask|keypoint|kp\.?|proposal|prop\.?) (AP|AR)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def test_the_table_imports_nothing_so_every_layer_may_read_it() -> None:
    code = "import sys, explorer.tasks; print(sorted(m for m in sys.modules if m.startswith(('explorer', 'pandas'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "['explorer', 'explorer.errors', 'explorer.tasks']"  # errors: the base class, no imports


def test_every_field_names_one_task_only() -> None:
    for field in ("name", "metric", "label", "per_second"):
        values = [getattr(task, field) for task in TASKS]
        assert len(set(values)) == len(values), field
    assert len(set(IOU_LABELS.values())) == len(IOU_LABELS)


def test_each_lookup_maps_back_to_its_task() -> None:
    for task in TASKS:
        assert task_named(task.name) is task and task_of_metric(task.metric) is task
    for task in EVALUATED:
        assert task_of_iou_type(str(task.iou_type)) is task


def test_the_evaluation_types_are_the_tables_and_each_publishes_a_coco_summary_number() -> None:
    assert get_args(IouType) == IOU_TYPES  # same types, same order as the Literal the evaluation is typed with
    assert tuple(task.iou_type for task in EVALUATED) == IOU_TYPES
    assert [task.name for task in TASKS if task.iou_type is None] == ["proposals"]
    for task in EVALUATED:
        assert task.measure in stat_names(task.iou_type)  # type: ignore[arg-type]
        assert task.label.endswith(task.measure)


def test_unknown_names_are_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(UnknownTaskError, match="unknown metric 'ap'; choose from box_ap, mask_ap, kp_ap, prop_ar"):
        task_of_metric("ap")
    with pytest.raises(UnknownTaskError, match="unknown iou type 'proposals'; choose from bbox, segm, keypoints"):
        task_of_iou_type("proposals")
    with pytest.raises(UnknownTaskError, match="unknown task 'faces'"):
        task_named("faces")


def test_every_metric_is_a_numeric_column_of_the_zoo_files_and_every_task_has_rows(zoo: pd.DataFrame) -> None:
    for task in TASKS:
        assert task.metric in ZOO_COLUMNS and task.metric in NUMERIC_COLUMNS and task.metric in zoo.columns
        own = zoo[zoo["task"] == task.name]
        assert not own.empty and own[task.metric].notna().all(), task.name  # its own number is always published
    assert set(zoo["task"]) == set(TASK_NAMES)
    assert set(TYPE_TASK.values()) <= set(TASK_NAMES)


def test_the_derived_columns_are_each_metric_per_second(zoo: pd.DataFrame) -> None:
    assert {task.metric: task.per_second for task in TASKS} == PER_SECOND
    assert set(PER_SECOND.values()) <= set(DERIVED_COLUMNS)
    timed = zoo[zoo["infer_s"] > 0]
    for task in TASKS:
        assert (timed[task.per_second].dropna() == (timed[task.metric] / timed["infer_s"]).dropna()).all()
    assert (zoo["primary_metric"] == zoo["task"].map(lambda name: task_named(name).metric)).all()


def test_figures_and_page_tables_label_metrics_from_the_table() -> None:
    assert plots.Y_AXES == METRIC_LABELS
    headers = {column: value["label"] for column, value in zoo_tables.column_config().items() if column in METRICS}
    assert headers == METRIC_LABELS
    assert {k: v for k, v in schedules_page.GAIN_METRICS.items() if k in METRICS} == METRIC_LABELS


def _page(path: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_choices_are_built_from_the_table() -> None:
    pick = _page("explorer/pages/pick_model.py")
    assert list(pick.selectbox(key="pick_metric").options) == list(METRIC_LABELS.values())
    assert list(pick.selectbox(key="pick_task").options) == ["any", *TASK_NAMES]
    speed = _page("explorer/pages/speed_accuracy.py")
    assert list(speed.selectbox(key="speed_y").options) == list(METRIC_LABELS.values())
    evaluation = _page("explorer/pages/evaluation.py")
    assert list(evaluation.radio(key="evaluation:iou_type").options) == [IOU_LABELS[t] for t in IOU_TYPES]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes: prose may name a metric in words."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _library_trees() -> list[tuple[Path, ast.AST]]:
    paths = [p for p in sorted(LIBRARY.rglob("*.py"))
             if not any(p == allowed or allowed in p.parents for allowed in SPELLED_OUT)]
    return [(path, ast.parse(path.read_text("utf-8"))) for path in paths]


def test_no_module_spells_a_metric_label_of_its_own() -> None:
    """A label written out in a page, figure or sentence would drift from the table ("kp AP" beside "keypoint AP")."""
    restated = []
    for path, tree in _library_trees():
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and METRIC_WORDS.search(node.value)):
                restated.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert not restated


def test_no_module_keeps_its_own_map_between_task_names_types_metrics_or_labels() -> None:
    """{"bbox": "box_ap"}, {"boxes": "bbox"}, {"box_ap": "box AP"}: each such pair is one row of the table."""
    words = {str(getattr(task, field)) for task in TASKS for field in ("name", "iou_type", "metric", "label")
             if getattr(task, field) is not None}
    restated = []
    for path, tree in _library_trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                pair = [k.value if isinstance(k, ast.Constant) else None for k in (key, value)]
                if pair[0] in words and pair[1] in words and pair[0] != pair[1]:
                    restated.append(f"{path.relative_to(REPO)}:{node.lineno}: {pair[0]!r}: {pair[1]!r}")
    assert not restated


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_the_result_field_is_the_one_pycocotools_scores(iou_type: str) -> None:
    """Checked results carry their prediction under the task's result_field, and COCOeval finds it there.

    A wrong field name would leave pycocotools without predictions (AP -1) instead of the perfect 100.
    """
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth
    from explorer.evaluation.inputs.result_checks import check_results
    from explorer.tasks import task_of_iou_type
    from tests.coco_factory import make_ground_truth, perfect_results

    data = make_ground_truth(keypoints=iou_type == "keypoints")
    results = perfect_results(data, iou_type)
    truth = load_ground_truth(data).prepare(iou_type)
    checked = check_results(results, truth, what="results")
    assert all(task_of_iou_type(iou_type).result_field in entry for entry in checked)
    assert evaluate(data, checked, iou_type).stat("AP") == pytest.approx(1.0)
