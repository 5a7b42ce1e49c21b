"""The runtime sessions' settings (fp32, PyTorch's thread count) and their outputs: arrays of their own, never
overwritten by the session's next call (a part's output lives on in the family's post-processing)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.runtimes.backends import backend_for, onnxruntime_options, openvino_config


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sessions_use_pytorchs_threads_in_fp32(one_thread: None) -> None:
    ort = pytest.importorskip("onnxruntime")
    options = onnxruntime_options(ort)
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    config = openvino_config()
    assert config["INFERENCE_NUM_THREADS"] == 1 and config["INFERENCE_PRECISION_HINT"] == "f32"


def _conv_onnx() -> tuple[torch.nn.Module, bytes]:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 3, 3, padding=1).eval()
    buffer = io.BytesIO()
    torch.onnx.export(conv, (torch.randn(1, 4, 8, 8),), buffer, dynamo=False, opset_version=17, input_names=["x"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    return conv, buffer.getvalue()


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_outputs_are_the_sessions_own_arrays_and_survive_its_next_call(runtime: str, tmp_path: Path) -> None:
    pytest.importorskip(runtime)
    backend = backend_for(runtime)
    conv, onnx = _conv_onnx()
    backend.build(onnx, tmp_path)
    run = backend.open(tmp_path)
    first_input = np.random.default_rng(0).random((2, 4, 6, 5), dtype=np.float32)
    first = run([first_input])[0]
    kept = first.copy()
    second = run([np.zeros((1, 4, 9, 9), np.float32)])[0]  # another size, through the same request
    empty = run([np.zeros((0, 4, 8, 8), np.float32)])[0]  # no RoI reached a head
    assert np.array_equal(first, kept)
    with torch.no_grad():
        assert np.abs(first - conv(torch.from_numpy(first_input)).numpy()).max() < 1e-5
    assert second.shape == (1, 3, 9, 9) and empty.shape == (0, 3, 8, 8)
