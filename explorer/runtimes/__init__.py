"""Run a zoo model's network under ONNX Runtime or OpenVINO instead of eager PyTorch, with its accuracy checked.

How: the heavy, tensor-in/tensor-out parts of a loaded runner's `nn.Module` (backbone, RPN head, box / mask /
keypoint heads; which ones a family names in its runner's `runtime_parts`) are exported to ONNX one by one and
swapped for a module that calls the runtime. Everything data-dependent around them (anchors, NMS, RoI pooling,
mask paste, keypoint decoding, test-time augmentation) stays in the family's own PyTorch code, so every model
a family runs can run under a runtime without family-specific export code, and the post-processing is the
same code the eager model runs. Each export is cached (`cache`), and checked against the eager model on fixed
images before it is used (`parity`); a failed check raises `ParityError`, never a silent fall-back.

Nothing here is imported by the zoo pages; `onnx`, `onnxruntime` and `openvino` are an optional extra
(`pip install .[deploy]`), imported only when a runtime is used.
"""

from __future__ import annotations

#: "torch" is eager PyTorch (no export); the others are the runtimes a model can be exported to.
RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "openvino")
EXPORT_RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")
#: How each runtime is named to a user.
RUNTIME_LABELS: dict[str, str] = {"torch": "PyTorch (eager)", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
