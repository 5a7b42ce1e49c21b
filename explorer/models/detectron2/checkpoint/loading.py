"""A Detectron2 zoo checkpoint as a state dict for `Detectron2Model`, checked before any tensor is loaded.

Detectron2's zoo files are pickles of ``{"model": {module name: numpy array}, "__author__": ...,
"matching_heuristics": ...}``; the names are Detectron2's module names, which are ours, so the mapping is the
identity. Keys the network does not hold are explained by one rule each or refused:

* `*.num_batches_tracked`: the step counter of BN/SyncBN layers (LSJ rows), unused at test time;
* `pixel_mean`, `pixel_std`: the model's normalisation buffers, which the config table also gives;
* `*anchor_generator.cell_anchors.*`: anchors, recomputed from the config.

The pickle is read by the Detectron port's restricted unpickler (numpy arrays only; nothing else is ever
called). A Detectron (Caffe2) file, an LSJ file for a non-LSJ row, or any checkpoint whose names or shapes
differ from the architecture's gets one message naming the first parameter that does not fit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.models.detectron.checkpoint.pickle_safe import numeric_arrays, read_pickle
from explorer.models.detectron.errors import CheckpointFormatError as DetectronFormatError
from explorer.models.detectron2.errors import CheckpointFormatError, CheckpointMismatchError
from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.network.model import Detectron2Model, fold_model

IGNORED = re.compile(r"(^|\.)num_batches_tracked$|^pixel_(mean|std)$|(^|\.)anchor_generator\.cell_anchors\.\d+$")
LSJ_SIGNS = re.compile(r"\.num_batches_tracked$|^proposal_generator\.rpn_head\.conv\.conv0\.")


@dataclass(frozen=True)
class Detectron2Weights:
    """The state dict of `Detectron2Model(config)` from a checkpoint, and how long reading it took."""

    config: str
    state_dict: dict[str, torch.Tensor]
    seconds: float = 0.0


def read_model_arrays(path: Path) -> dict[str, np.ndarray]:
    """The `model` dict of a Detectron2 pkl (name -> numeric array), or CheckpointFormatError saying what it is."""
    source = str(path)
    try:
        data = read_pickle(path)
    except DetectronFormatError as error:
        raise CheckpointFormatError(str(error).replace("not a readable checkpoint",
                                                       "not a readable Detectron2 checkpoint")) from error
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{source} holds a {type(data).__name__}, not Detectron2's "
                                    "{'model': {name: array}} dict")
    if "blobs" in data and "model" not in data:
        raise CheckpointFormatError(f"{source} is a Detectron (Caffe2) checkpoint of blobs, not a Detectron2 one: "
                                    "choose the Detectron model it belongs to")
    model = data.get("model")
    if not isinstance(model, dict):
        raise CheckpointFormatError(f"{source} has no 'model' dict of parameters (keys: "
                                    f"{', '.join(map(str, list(data)[:5]))})")
    try:
        return numeric_arrays(model, source)
    except DetectronFormatError as error:
        raise CheckpointFormatError(str(error)) from error


def build_empty(config: NetConfig) -> Detectron2Model:
    """The architecture's shapes without allocating weights."""
    with torch.device("meta"):
        return Detectron2Model(config)


def check_arrays(arrays: Mapping[str, Any], config: NetConfig, source: str,
                 model: Detectron2Model | None = None) -> dict[str, str]:
    """Names and shapes only: raise CheckpointMismatchError naming the first parameter that does not fit."""
    expected = (model if model is not None else build_empty(config)).state_dict()
    present = {name for name in arrays if not IGNORED.search(name)}
    if not config.lsj and any(LSJ_SIGNS.search(name) for name in arrays):
        raise CheckpointMismatchError(f"{source} is a checkpoint of an LSJ (large-scale jitter) model, whose BN "
                                      f"layers and heads differ from {config.config}'s; choose the LSJ row it "
                                      "belongs to")
    for name, tensor in expected.items():
        if name not in arrays:
            raise CheckpointMismatchError(f"{source} does not fit {config.config}: it has no parameter {name} "
                                          f"{tuple(tensor.shape)} (is it the checkpoint of another model?)")
        if tuple(arrays[name].shape) != tuple(tensor.shape):
            raise CheckpointMismatchError(f"{source} does not fit {config.config}: {name} is "
                                          f"{tuple(arrays[name].shape)}, expected {tuple(tensor.shape)}")
    extra = sorted(present - set(expected))
    if extra:
        raise CheckpointMismatchError(f"{source} does not fit {config.config}: it has parameter {extra[0]} "
                                      f"{tuple(arrays[extra[0]].shape)}, which this architecture does not have"
                                      + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    return {name: name for name in expected}


def load_weights(path: Path, config: NetConfig) -> Detectron2Weights:
    """Read, check and convert a Detectron2 pkl for `config`."""
    started = time.perf_counter()
    arrays = read_model_arrays(Path(path))
    model = build_empty(config)
    check_arrays(arrays, config, str(path), model)
    state = {name: torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32))
             for name in model.state_dict()}
    return Detectron2Weights(config.config, state, time.perf_counter() - started)


def build_model(config: NetConfig, weights: Detectron2Weights | None, device: str, *,
                fold: bool = True) -> Detectron2Model:
    """`Detectron2Model(config)` on `device` from `weights` (None: random initialisation), norms folded."""
    if weights is None:
        model = Detectron2Model(config)
    else:
        model = build_empty(config)
        model.load_state_dict(weights.state_dict, strict=True, assign=True)
    model = model.eval().requires_grad_(False)
    if fold:
        fold_model(model)
    return model.to(device)
