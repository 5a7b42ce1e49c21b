"""The public face (issue 21, §1): the calls a notebook needs, importable from `explorer` itself, loaded lazily so
that `import explorer` imports no torch, and the README's "Use it from Python" example, run as written."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import explorer
from explorer.engine.by_name import weights_choice
from explorer.engine.runners import RANDOM_WEIGHTS
from tests.deadlines import SUBPROCESS_S

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_MODEL = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"


def _modules_after(code: str) -> list[str]:
    """Which of the heavy modules a fresh interpreter holds after running `code`."""
    probe = (f"import sys\n{code}\n"
             "print(sorted(m for m in ('torch', 'torchvision', 'streamlit', 'pandas', 'numpy', 'PIL', 'ray') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=SUBPROCESS_S)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_import_explorer_imports_nothing_heavy() -> None:
    assert _modules_after("import explorer") == []


def test_the_zoo_calls_need_no_torch() -> None:
    code = ("import explorer\nzoo = explorer.load_zoo()\n"
            "explorer.rank_models(zoo, explorer.Constraints(metric='box_ap'))\n"
            "assert explorer.get_model_spec('35861858', table=zoo).zoo == 'detectron'")
    loaded = _modules_after(code)
    assert "pandas" in loaded  # the probe does see what the calls import
    assert not {"torch", "torchvision", "streamlit"} & set(loaded)


def test_every_public_name_is_its_defining_modules_object() -> None:
    assert sorted(explorer.__all__) == sorted(explorer._EXPORTS)
    for name in explorer.__all__:
        assert getattr(explorer, name) is getattr(importlib.import_module(explorer._EXPORTS[name]), name), name
    assert set(explorer.__all__) <= set(dir(explorer))
    from explorer import evaluate, load_ground_truth  # the from-import form works too

    assert evaluate.__module__ == "explorer.evaluation.coco.pipeline"
    assert load_ground_truth.__module__ == "explorer.evaluation.inputs.ground_truth"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        explorer.nothing_here  # noqa: B018


def test_get_model_takes_the_words_a_user_types_for_weights(tmp_path: Path) -> None:
    assert weights_choice(None) is None and weights_choice("published") is None
    assert weights_choice("random") is RANDOM_WEIGHTS and weights_choice(RANDOM_WEIGHTS) is RANDOM_WEIGHTS
    assert weights_choice(str(tmp_path / "mine.pth")) == tmp_path / "mine.pth"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text[text.index("## Use it from Python"):]
    section = section[:section.index("\n## ", 1)]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def write_example_inputs(folder: Path) -> None:
    """The files the example names: a photo and an annotation file whose categories are every id the model can
    output (its classes as torchvision lists them; the placeholder 'N/A' names made unique)."""
    from torchvision.models import get_weight

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(
        folder / "street.jpg")
    names = get_weight(EXAMPLE_MODEL).meta["categories"]
    categories = [{"id": i, "name": f"{name} {i}" if name == "N/A" else name} for i, name in enumerate(names) if i]
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10.0, 20.0, 100.0, 80.0], "area": 8000.0,
                    "iscrowd": 0}]
    ground_truth = {"images": [{"id": 1, "file_name": "street.jpg", "width": 320, "height": 240}],
                    "annotations": annotations, "categories": categories}
    (folder / "annotations.json").write_text(json.dumps(ground_truth), "utf-8")


def test_the_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_example()
    assert "import explorer" in code and EXAMPLE_MODEL in code and 'weights="random"' in code
    write_example_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), names)  # our own README example: running it is the point
    out = capsys.readouterr().out
    assert isinstance(names["detections"], explorer.Detections) and names["model"].spec.model_id == EXAMPLE_MODEL
    assert names["drawn"].shape == names["image"].shape == (240, 320, 3)
    assert isinstance(names["evaluation"], explorer.Evaluation) and names["evaluation"].n_images == 1
    assert "Average Precision" in out and "TIDE (bbox" in out and "Mask R-50-FPN" in out
