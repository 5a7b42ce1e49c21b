"""Export a loaded runner's network parts to a runtime, check parity, and hand back a runner that uses them.

`export_runner(runner, runtime)` is the library call behind `explorer export`, `predict --runtime`,
`bench --runtime` and the Detections page's runtime choice (through `engine.runners.load_runner(...,
runtime=...)`, which loads the model first). Runtimes run on the CPU in fp32 here (TensorRT,
for CUDA GPUs, is not built: this project has had no GPU to check it on).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.detections import Detections
from explorer.models.catalog import ModelSpec, Runner
from explorer.runtimes import RUNTIME_LABELS
from explorer.runtimes.backends import Backend, backend_for
from explorer.runtimes.cache import cached_export, export_key, exports_root
from explorer.runtimes.check_images import check_images
from explorer.runtimes.errors import NotExportableError, ParityError
from explorer.runtimes.parity import DEFAULT_TOLERANCES, ParityReport, Tolerances, compare
from explorer.runtimes.records import write_record


@dataclass
class ExportInfo:
    """What was exported and how it checked out; shown by the CLI and the pages, stored with measurements."""

    runtime: str
    runtime_version: str
    execution_provider: str
    parts: tuple[str, ...]  # run by the runtime
    kept_in_torch: dict[str, str] = field(default_factory=dict)  # part -> one-line reason it stays eager
    built: tuple[str, ...] = ()  # parts exported now (the rest came from the cache)
    export_s: float = 0.0  # seconds spent exporting and converting now (0 when all came from the cache)
    folders: tuple[Path, ...] = ()
    parity: ParityReport | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)

    @property
    def label(self) -> str:
        return f"{RUNTIME_LABELS[self.runtime]} {self.runtime_version} ({self.execution_provider})"

    def lines(self) -> list[str]:
        """A few plain lines for the command line and the pages."""
        lines = [f"runtime: {self.label}", f"in the runtime: {', '.join(self.parts)}"]
        lines += [f"kept in PyTorch: {name}: {why}" for name, why in self.kept_in_torch.items()]
        lines.append("always in PyTorch: pre-processing, anchors, NMS, RoI pooling, mask paste, keypoint decoding "
                     "(data-dependent steps, the family's own code)")
        lines.append(f"exported now: {', '.join(self.built)} in {self.export_s:.1f} s" if self.built
                     else "export: from the cache")
        if self.parity is not None:
            lines.append(f"parity with PyTorch: passed ({self.parity.summary()}; tolerances: "
                         f"{self.tolerances.describe()})")
        return lines


class RuntimeRunner:
    """The catalog's Runner protocol over an eager runner whose network parts run in a runtime."""

    def __init__(self, runner: Runner, info: ExportInfo) -> None:
        self.inner = runner
        self.spec: ModelSpec = runner.spec
        self.device = runner.device
        self.categories = runner.categories
        self.runtime = info.runtime
        self.info = info

    def predict(self, images: list[Any], *, autocast: str | None = None) -> list[Detections]:
        if autocast is not None:
            raise NotExportableError(f"{RUNTIME_LABELS[self.runtime]} runs this model in fp32 on the CPU; "
                                     "autocast (fp16/bf16) is for eager PyTorch on a GPU")
        return self.inner.predict(images)


def export_runner(runner: Runner, runtime: str, *, images: list[np.ndarray] | None = None,
                  tolerances: Tolerances = DEFAULT_TOLERANCES, root: Path | None = None) -> RuntimeRunner:
    """Export `runner`'s parts (or take them from the cache), check parity on fixed images, return the runner.

    Raises RuntimeUnavailableError (package missing), NotExportableError (nothing exportable; the one-line why)
    or ParityError (the worst difference); the eager runner is left unchanged on any error.
    """

    backend = backend_for(runtime)
    if runner.device != "cpu":
        raise NotExportableError(f"{RUNTIME_LABELS[runtime]} runs on the CPU here; load the model on the CPU")
    try:
        exported = _export(runner, runtime, backend, images, tolerances, root)
    except (NotExportableError, ParityError) as error:
        write_record(runtime, runner.spec.uid, {"version": backend.version, "error": str(error)}, root)
        raise
    info = exported.info
    write_record(runtime, runner.spec.uid, {
        "version": info.runtime_version, "parts": list(info.parts), "kept": info.kept_in_torch,
        "parity": info.parity.summary() if info.parity is not None else ""}, root)
    return exported


#: The prefix of the parts of the proposal model a Fast R-CNN row runs first ("proposals.backbone", ...).
PROPOSALS = "proposals."


def _networks(runner: Runner, info: ExportInfo) -> list[tuple[str, Any, tuple[str, ...]]]:
    """(prefix, runner, part names) of each network a prediction runs: the runner's own and, for a Fast R-CNN row,
    its proposal model's (its `proposal_runner`), so that the whole prediction runs under the runtime and is timed
    as one setup. A proposal model with nothing to export stays in PyTorch, and the card says why."""
    from explorer.runtimes import parts as part_ops

    found = [("", runner, part_ops.part_names(runner))]
    inner = getattr(runner, "proposal_runner", None)
    if inner is not None:
        try:
            found.append((PROPOSALS, inner, part_ops.part_names(inner)))
        except NotExportableError as error:
            info.kept_in_torch[PROPOSALS.rstrip(".")] = str(error)
    return found


def _export(runner: Runner, runtime: str, backend: Backend, images: list[np.ndarray] | None,
            tolerances: Tolerances, root: Path | None) -> RuntimeRunner:
    from explorer.runtimes import parts as part_ops

    info = ExportInfo(runtime, backend.version, backend.execution_provider, parts=())
    networks = _networks(runner, info)
    images = images if images is not None else check_images()
    recorded: dict[str, dict[str, part_ops.Recorded]] = {}
    with ExitStack() as stack:
        for prefix, target, names in networks:
            recorded[prefix] = stack.enter_context(part_ops.recording(target.model, names))
        eager = runner.predict(images)
    started = time.perf_counter()
    runtime_parts = {prefix: _runtime_parts(prefix, target, names, recorded[prefix], backend, root, info)
                     for prefix, target, names in networks}
    if not runtime_parts[""]:
        reasons = "; ".join(f"{name}: {why}" for name, why in info.kept_in_torch.items())
        raise NotExportableError(f"{runner.spec.name} cannot run under {RUNTIME_LABELS[runtime]}: {reasons}")
    info.export_s = time.perf_counter() - started if info.built else 0.0
    originals = {prefix: part_ops.swap_parts(target.model, runtime_parts[prefix]) for prefix, target, _ in networks}

    def restore() -> None:
        for prefix, target, _ in networks:
            part_ops.restore(target.model, originals[prefix])

    try:
        report = compare(eager, runner.predict(images), tolerances)
        report.check_parts({prefix + name: part_ops.output_difference(part, recorded[prefix][name])
                            for prefix, parts in runtime_parts.items() for name, part in parts.items()}, tolerances)
    except BaseException:
        restore()
        raise
    info.parity, info.tolerances = report, tolerances
    if not report.passed:
        restore()
        raise ParityError(f"{runner.spec.name} under {info.label} differs from PyTorch: {report.failures[0]} "
                          f"({len(report.failures)} difference(s) beyond tolerance; {report.summary()})")
    return RuntimeRunner(runner, info)


def _runtime_parts(prefix: str, target: Any, names: tuple[str, ...], recorded: dict[str, Any], backend: Backend,
                   root: Path | None, info: ExportInfo) -> dict[str, Any]:
    """{part name: RuntimePart} of one network, each exported (or taken from the cache) and opened; the parts
    left in PyTorch go to `info.kept_in_torch` with their reason, the rest to `info.parts` (names `prefix`ed)."""
    from explorer.runtimes.parts import RuntimePart

    opened = {}
    for name in names:
        if name not in recorded:
            info.kept_in_torch[prefix + name] = "not called on the check images (no detection reached it)"
            continue
        try:
            graph = _graph_fields(target, name, target.model)  # hashes the part's weights: once, for both keys
            folder, now = cached_export(
                (root or exports_root()) / backend.runtime, _key(graph, backend.runtime, backend.version),
                backend.artifact_names, _builder(target.model, name, recorded[name], backend.build, graph))
        except NotExportableError as error:
            info.kept_in_torch[prefix + name] = str(error)
            continue
        info.parts += (prefix + name,)
        info.built += (prefix + name,) if now else ()
        info.folders += (folder,)
        opened[name] = RuntimePart(name, backend.open(folder), recorded[name].out_spec)
    return opened


def _key(graph: dict[str, object], runtime: str, version: str) -> str:
    """The disk cache key of a part built for one runtime: its graph's fields plus the runtime and its version."""
    return export_key({**graph, "runtime_version": version, "runtime": runtime})


def _graph_fields(runner: Runner, name: str, model: Any) -> dict[str, object]:
    """What determines a part's ONNX graph (the runtime does not): model, part, weights content, exporter, settings."""
    import torch

    from explorer.runtimes.parts import OPSET, state_digest

    digest = hashlib.sha256()
    state_digest(model, name, digest.update)
    spec = runner.spec
    return {"uid": spec.uid, "part": name, "weights": digest.hexdigest(), "torch": torch.__version__, "opset": OPSET,
            "preprocessing": spec.preprocessing, "test": spec.test, "runner": type(runner).__name__}


#: ONNX bytes exported inside `sharing_onnx()`, by graph key; None outside it (nothing is kept).
_shared_onnx: dict[str, bytes] | None = None


@contextmanager
def sharing_onnx() -> Iterator[None]:
    """Export each part's ONNX graph once for every runtime built inside the block (ONNX Runtime and OpenVINO of the
    same model: the exporter's trace is most of an export's time). The graph is keyed by everything its disk
    key holds but the runtime, plus the traced inputs' structure and shapes, so a graph is reused only for the same
    part with the same weights and settings; the bytes are dropped when the block ends."""
    global _shared_onnx
    outer = _shared_onnx
    _shared_onnx = {} if outer is None else outer
    try:
        yield
    finally:
        _shared_onnx = outer


def _builder(model: Any, name: str, recorded: Any, build: Callable[[bytes, Path], None],
             graph: dict[str, object]) -> Callable[[Path], None]:
    """Writes the part's runtime files into a folder; inside `sharing_onnx()`, from the ONNX graph an earlier
    runtime's build of the same part (same `graph` fields, see `_graph_fields`) traced."""
    from torch.utils import _pytree as pytree

    from explorer.runtimes.parts import export_onnx

    def onnx_bytes() -> bytes:
        if _shared_onnx is None:
            return export_onnx(model, name, recorded)
        flat, in_spec = pytree.tree_flatten(recorded.args)
        traced = [(tuple(value.shape), str(value.dtype)) if hasattr(value, "shape") else repr(value) for value in flat]
        key = export_key({**graph, "inputs": traced, "in_spec": str(in_spec)})
        if key not in _shared_onnx:
            _shared_onnx[key] = export_onnx(model, name, recorded)
        return _shared_onnx[key]

    def run(folder: Path) -> None:
        build(onnx_bytes(), folder)

    return run
