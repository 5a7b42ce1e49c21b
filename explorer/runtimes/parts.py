"""The parts of a runner's network a runtime runs: found by name, recorded on real inputs, exported, swapped in.

A family names the submodules of `runner.model` that take and return tensors (or lists / tuples / dicts of
them) in its runner's `runtime_parts`; a runner without that attribute offers its `backbone` if it has one,
the name torchvision and Detectron2 give the body. Everything between those parts stays in the family's
PyTorch code. A part is exported with the inputs it actually received on the check images (so its input
structure is known), with every axis dynamic except the channels, so one export serves every image size.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils import _pytree as pytree

from explorer.runtimes.backends import Session
from explorer.runtimes.errors import NotExportableError

DEFAULT_PARTS: tuple[str, ...] = ("backbone",)
OPSET = 17


def part_names(runner: Any) -> tuple[str, ...]:
    """The dotted submodule names of `runner.model` a runtime may run, present in this model."""
    model = getattr(runner, "model", None)
    if not isinstance(model, nn.Module):
        raise NotExportableError(f"{runner.spec.name}: its runner holds no PyTorch network to export")
    names = tuple(getattr(runner, "runtime_parts", DEFAULT_PARTS))
    present = tuple(name for name in names if _submodule(model, name) is not None)
    if not present:
        raise NotExportableError(f"{runner.spec.name}: its family names no network part a runtime can run "
                                 f"(looked for {', '.join(names) or 'none'})")
    return present


def _submodule(model: nn.Module, name: str) -> nn.Module | None:
    module: Any = model
    for attribute in name.split("."):
        module = getattr(module, attribute, None)
        if module is None:
            return None
    return module if isinstance(module, nn.Module) else None


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attribute = name.rpartition(".")
    parent = _submodule(model, parent_name) if parent_name else model
    assert parent is not None
    setattr(parent, attribute, module)


@dataclass
class Recorded:
    """The first call of one part on the check images: its arguments (as a pytree), the flat eager outputs and
    the output's structure."""

    args: tuple[Any, ...]
    outputs: list[torch.Tensor]
    out_spec: pytree.TreeSpec


@contextmanager
def recording(model: nn.Module, names: tuple[str, ...]) -> Iterator[dict[str, Recorded]]:
    """Record the first call of each named part while the block runs the model; parts never called are absent."""
    recorded: dict[str, Recorded] = {}
    handles = []
    for name in names:
        module = _submodule(model, name)
        assert module is not None

        def hook(_module: nn.Module, args: tuple[Any, ...], output: Any, name: str = name) -> None:
            if name not in recorded:
                flat, spec = pytree.tree_flatten(output)
                recorded[name] = Recorded(pytree.tree_map(_detach, args), [_detach(value) for value in flat], spec)

        handles.append(module.register_forward_hook(hook))
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def _detach(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class _Flat(nn.Module):
    """A part with flat tensor inputs and a flat tuple of outputs, as ONNX wants them."""

    def __init__(self, part: nn.Module, in_spec: pytree.TreeSpec) -> None:
        super().__init__()
        self.part = part
        self.in_spec = in_spec

    def forward(self, *flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        args = pytree.tree_unflatten(list(flat), self.in_spec)
        return tuple(pytree.tree_flatten(self.part(*args))[0])


def export_onnx(model: nn.Module, name: str, recorded: Recorded) -> bytes:
    """The part as ONNX bytes (TorchScript exporter, opset 17), every axis dynamic but the channels."""
    part = _submodule(model, name)
    assert part is not None
    flat, in_spec = pytree.tree_flatten(recorded.args)
    if not all(isinstance(value, torch.Tensor) for value in flat):
        raise NotExportableError(f"part {name!r} takes arguments that are not tensors "
                                 f"({', '.join(sorted({type(v).__name__ for v in flat}))})")
    outputs = recorded.outputs
    input_names = [f"in{i}" for i in range(len(flat))]
    output_names = [f"out{i}" for i in range(len(outputs))]
    dynamic = {label: _dynamic_axes(label, tensor) for label, tensor in
               [*zip(input_names, flat, strict=True), *zip(output_names, outputs, strict=True)]}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings are about shapes we mark dynamic
            torch.onnx.export(_Flat(part, in_spec).eval(), tuple(flat), buffer, dynamo=False, opset_version=OPSET,
                              input_names=input_names, output_names=output_names, dynamic_axes=dynamic,
                              do_constant_folding=True)
    except Exception as error:  # the exporter's errors are many types; one line of why is what the user needs
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise NotExportableError(f"part {name!r} cannot be exported to ONNX: {first}") from error
    return _checked(name, buffer.getvalue())


def _checked(name: str, onnx_bytes: bytes) -> bytes:
    """The ONNX bytes after onnx's own checker passed them (a malformed graph is named here, not deep in a runtime)."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load_model_from_string(onnx_bytes))
    except onnx.checker.ValidationError as error:
        first = (str(error).strip().splitlines() or ["invalid graph"])[0]
        raise NotExportableError(f"part {name!r} exported to an invalid ONNX graph: {first}") from error
    return onnx_bytes


def _dynamic_axes(label: str, tensor: torch.Tensor) -> dict[int, str]:
    """Every axis but the channels (axis 1 of an image-like tensor) is free; names are unique per tensor, since a
    runtime takes two axes of the same name to be the same size."""
    return {axis: f"{label}_{axis}" for axis in range(tensor.dim()) if not (axis == 1 and tensor.dim() >= 3)}


class RuntimePart(nn.Module):
    """Stands in for an exported part: flattens its arguments, calls the runtime, rebuilds the output structure."""

    def __init__(self, name: str, session: Session, out_spec: pytree.TreeSpec) -> None:
        super().__init__()
        self.part_name = name
        self.session = session
        self.out_spec = out_spec

    def forward(self, *args: Any) -> Any:
        flat = pytree.tree_flatten(args)[0]
        device = flat[0].device if flat else torch.device("cpu")
        arrays = [np.ascontiguousarray(value.detach().cpu().float().numpy()) for value in flat]
        outputs = [torch.from_numpy(np.asarray(value)).to(device) for value in self.session(arrays)]
        return pytree.tree_unflatten(outputs, self.out_spec)


def output_difference(part: RuntimePart, recorded: Recorded) -> float:
    """The largest difference between the part's runtime and eager outputs on its recorded inputs, relative to the
    largest eager value (so it reads the same for logits and for pixel coordinates)."""
    flat = pytree.tree_flatten(part(*recorded.args))[0]
    worst = 0.0
    for got, eager in zip(flat, recorded.outputs, strict=True):
        if eager.numel() == 0:
            continue
        scale = max(float(eager.abs().max()), 1e-6)
        worst = max(worst, float((got.float() - eager.float()).abs().max()) / scale)
    return worst


def swap_parts(model: nn.Module, sessions: dict[str, RuntimePart]) -> dict[str, nn.Module]:
    """Put the runtime parts in place; returns the eager modules they replaced (to put back with `restore`)."""
    originals = {}
    for name, part in sessions.items():
        original = _submodule(model, name)
        assert original is not None
        originals[name] = original
        _set_submodule(model, name, part)
    return originals


def restore(model: nn.Module, originals: dict[str, nn.Module]) -> None:
    for name, module in originals.items():
        _set_submodule(model, name, module)


def state_digest(model: nn.Module, name: str, update: Callable[[bytes], None]) -> None:
    """Feed the part's weights (names, dtypes, shapes, bytes) to a hash: the export's weights content key."""
    part = _submodule(model, name)
    assert part is not None
    for key, tensor in part.state_dict().items():
        update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
