"""bench/bench_runtimes_zoo.py: which zoo rows share a measurement, the resumable CSV and its table; and the ONNX
graph an export shares between ONNX Runtime and OpenVINO inside `sharing_onnx` (and only there)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from explorer.zoo.paths import REPO_ROOT
from explorer.zoo.table import load_zoo


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = REPO_ROOT / "bench" / "bench_runtimes_zoo.py"
    spec = importlib.util.spec_from_file_location("bench_runtimes_zoo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _group_of(groups: list, name: str, zoo: str):
    return next(group for group in groups if group.zoo == zoo and name in group.names)


def test_rows_identical_at_test_time_share_one_measurement_and_every_row_is_covered(bench: ModuleType) -> None:
    table = load_zoo()
    groups = bench.plan(table, ("detectron", "detectron2", "torchvision"))
    uids = [uid for group in groups for uid in group.uids]
    assert sorted(uids) == sorted(table["uid"])  # every row once, none lost
    assert _group_of(groups, "Mask R-50-FPN 1x", "detectron").names == ["Mask R-50-FPN 1x", "Mask R-50-FPN 2x"]
    assert _group_of(groups, "Faster R-50-FPN 1x", "detectron2").names == ["Faster R-50-FPN 1x", "Faster R-50-FPN 3x"]
    # Another depth, another input normalisation or another zoo is another measurement.
    assert _group_of(groups, "Mask R-101-FPN 1x", "detectron") is not _group_of(groups, "Mask R-50-FPN 1x", "detectron")
    assert _group_of(groups, "Mask R-50-FPN 1x", "detectron2") is not _group_of(groups, "Mask R-50-FPN 1x", "detectron")
    assert all(len({name for name in group.names}) == len(group.names) for group in groups)
    assert len(groups) < len(table)


def test_a_signature_sees_test_settings_and_input_size(bench: ModuleType) -> None:
    from explorer.models.catalog import spec_for_uid

    spec = spec_for_uid(load_zoo(["detectron"]), "detectron:35858933")
    signature = bench.test_time_signature(spec)
    assert bench.test_time_signature(spec.with_test(score_thresh=0.5)) != signature
    assert bench.test_time_signature(spec.with_sizes(600, 1000)) != signature


def test_the_csv_resumes_where_it_stopped_and_prints_its_table(bench: ModuleType, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "zoo.csv"
    measured: list[str] = []

    def fake_measure(group, size, detections, rounds, log):
        measured.append(group.uids[0])
        if group.names[0].startswith("fasterrcnn_mobilenet_v3_large_320"):
            return {"zoo": group.zoo, "uid": group.uids[0], "name": group.names[0], "stands_for": "",
                    "size": size, "detections": detections, "rounds": rounds, "eager_s": "0.2", "ort_s": "0.1",
                    "ov_s": "", "ort_export_s": "3.0", "ort_parity": "passed: 0.001 px, 1e-06",
                    "ov_error": "part 'backbone' cannot be exported to ONNX: no | such op"}
        return {"zoo": group.zoo, "uid": group.uids[0], "name": group.names[0], "stands_for": "", "size": size,
                "eager_s": "0.3", "ort_s": "0.15", "ov_s": "0.1", "ort_export_s": "4", "ov_export_s": "5",
                "ort_parity": "passed: 0 px, 0", "ov_parity": "passed: 0 px, 0"}

    monkeypatch.setattr(bench, "measure", fake_measure)
    first = ["FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"]
    bench.main(["--only", "torchvision", "--models", *first, "--csv", str(csv)])
    both = [*first, "RetinaNet_ResNet50_FPN_Weights.COCO_V1"]
    bench.main(["--only", "torchvision", "--models", *both, "--resume", str(csv)])
    assert len(measured) == 2 and measured[1].startswith("torchvision:RetinaNet")  # the first was not measured again
    out = capsys.readouterr().out
    table = out[out.rindex("| zoo |"):]
    assert "| torchvision | fasterrcnn_mobilenet_v3_large_320_fpn COCO_V1 | 0.200 | 0.100 (2.00×) | — | 3.0 / — |" \
           in table
    assert "no / such op" in table  # the one-line reason, its '|' kept out of the table's columns
    assert "0.150 (2.00×) | 0.100 (3.00×)" in table
    assert "2 zoo rows in 2 measurements" in out and "openvino: 1 passed parity and timed" in out
    bench.main(["--resume", str(csv), "--table-only"])
    assert capsys.readouterr().out.count("| torchvision |") == 2


def test_sharing_onnx_exports_each_part_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    from explorer.runtimes import export, parts
    from explorer.runtimes.export import export_runner, sharing_onnx
    from tests.model_factory import random_image, torchvision_spec
    from tests.runtime_factory import small_runner

    calls: list[str] = []
    real = parts.export_onnx
    monkeypatch.setattr(parts, "export_onnx", lambda model, name, recorded: calls.append(name) or real(
        model, name, recorded))
    spec = torchvision_spec("RetinaNet_ResNet50_FPN_Weights.COCO_V1", detections=5).with_test(score_thresh=0.0)
    images = [random_image(72, 96, seed=1)]
    with sharing_onnx():
        ort = export_runner(small_runner(spec, "retinanet"), "onnxruntime", images=images, root=tmp_path / "a")
        # A second build of the same parts (another cache folder stands in for the other runtime, whose build
        # takes the same graph: the graph's key has no runtime in it) traces nothing again.
        again = export_runner(small_runner(spec, "retinanet"), "onnxruntime", images=images, root=tmp_path / "b")
        assert sorted(calls) == sorted(ort.info.parts) and set(again.info.built) == set(ort.info.parts)
        calls.clear()
        other = small_runner(spec, "retinanet", seed=1)  # other weights: never the shared graph
        export_runner(other, "onnxruntime", images=images, root=tmp_path / "a")
        assert sorted(calls) == sorted(ort.info.parts)
    assert export._shared_onnx is None  # outside the block nothing is kept


@pytest.mark.parametrize(("one_round_s", "rounds_run"), [(float("inf"), 2), (-1.0, 1)])
def test_slow_rows_are_timed_in_one_round(bench: ModuleType, monkeypatch: pytest.MonkeyPatch, one_round_s: float,
                                          rounds_run: int) -> None:
    class Counting:
        def __init__(self) -> None:
            self.calls = 0

        def predict(self, images: list) -> list:
            self.calls += 1
            return []

    monkeypatch.setattr(bench, "ONE_ROUND_S", one_round_s)
    runners = {"torch": Counting(), "onnxruntime": Counting(), "openvino": Counting()}
    medians = bench._time(runners, object(), rounds=2)
    assert set(medians) == set(runners) and all(r.calls == rounds_run for r in runners.values())
