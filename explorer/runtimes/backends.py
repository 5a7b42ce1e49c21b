"""The two runtimes behind one small interface: version, execution provider, build from ONNX, run.

A backend turns an exported ONNX file into its own artifact (ONNX Runtime runs the ONNX file itself; OpenVINO's
is its IR, converted by `openvino.convert_model`) and opens a session on it: a callable from input arrays to
output arrays. Both run in fp32 on the CPU, so the parity check compares like with like (OpenVINO would
otherwise pick bf16 on CPUs that have it: twice the speed of a convolution here, and 4e-3 of its largest output
apart from fp32, beyond the parity check's 1e-3), on as many threads as eager PyTorch (`torch.get_num_threads()`),
so a runtime is timed on the same cores as the eager baseline it is compared with.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.runtimes import EXPORT_RUNTIMES, RUNTIME_LABELS
from explorer.runtimes.errors import RuntimeUnavailableError, UnknownRuntimeError

Session = Callable[[Sequence[np.ndarray]], list[np.ndarray]]
INSTALL_HINT = "pip install .[deploy] (or pip install -r requirements-deploy.txt)"


def _module(name: str, runtime: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise RuntimeUnavailableError(f"{RUNTIME_LABELS[runtime]} is not installed here ({error}); add it with "
                                      f"{INSTALL_HINT}") from error


def check_runtime(runtime: str) -> str:
    """The runtime name, or UnknownRuntimeError listing the choices."""
    if runtime not in EXPORT_RUNTIMES:
        raise UnknownRuntimeError(f"unknown runtime {runtime!r}; choose from {', '.join(EXPORT_RUNTIMES)}")
    return runtime


def is_available(runtime: str) -> bool:
    """True when the runtime's package (and onnx, which every export needs) imports."""
    try:
        backend_for(runtime)
    except RuntimeUnavailableError:
        return False
    return True


@dataclass(frozen=True)
class Backend:
    """One runtime: its package version, where it runs, how its artifact is built and opened."""

    runtime: str
    version: str
    execution_provider: str
    artifact_names: tuple[str, ...]  # files of one exported part, relative to its folder
    build: Callable[[bytes, Path], None]  # (ONNX bytes, folder) -> writes artifact_names into folder
    open: Callable[[Path], Session]  # folder -> session


def cpu_threads() -> int:
    """The threads a runtime session uses: eager PyTorch's, so both sides of a comparison use the same cores."""
    import torch

    return max(1, torch.get_num_threads())


def onnxruntime_options(ort: Any) -> Any:
    """ONNX Runtime's session options: every graph optimisation (NCHWc layouts, fusions), PyTorch's thread count
    for the operators, one thread between them (a part is one chain of convolutions: nothing to overlap)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = cpu_threads()
    options.inter_op_num_threads = 1
    return options


def openvino_config() -> dict[str, Any]:
    """OpenVINO's compile settings: fp32, one request at a time on PyTorch's thread count."""
    return {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": cpu_threads()}


def backend_for(runtime: str) -> Backend:
    """The runtime's backend; RuntimeUnavailableError (with how to install it) when its packages are missing."""
    check_runtime(runtime)
    _module("onnx", runtime)  # every export goes through an ONNX graph
    if runtime == "onnxruntime":
        return _onnxruntime()
    return _openvino()


def _onnxruntime() -> Backend:
    ort = _module("onnxruntime", "onnxruntime")

    def build(onnx: bytes, folder: Path) -> None:
        (folder / "model.onnx").write_bytes(onnx)

    def open_session(folder: Path) -> Session:
        session = ort.InferenceSession(str(folder / "model.onnx"), onnxruntime_options(ort),
                                       providers=["CPUExecutionProvider"])
        names = [item.name for item in session.get_inputs()]

        def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            return list(session.run(None, dict(zip(names, inputs, strict=True))))

        return run

    return Backend("onnxruntime", ort.__version__, "CPUExecutionProvider", ("model.onnx",), build, open_session)


def _openvino() -> Backend:
    ov = _module("openvino", "openvino")

    def build(onnx: bytes, folder: Path) -> None:
        source = folder / "exported.onnx"
        source.write_bytes(onnx)
        model = ov.convert_model(str(source))
        ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)
        source.unlink()

    def open_session(folder: Path) -> Session:
        core = ov.Core()
        compiled = core.compile_model(str(folder / "model.xml"), "CPU", openvino_config())
        request = compiled.create_infer_request()

        def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            # The inputs are read in place (the call returns before the caller can change them); each output
            # comes back as an array of its own (share_outputs=False), so it is not copied a second time.
            results = request.infer(list(inputs), share_inputs=True, share_outputs=False)
            return [np.asarray(results[output]) for output in compiled.outputs]

        return run

    return Backend("openvino", ov.get_version().split("-")[0], "CPU", ("model.xml", "model.bin"), build, open_session)
