"""Read a Detectron `model_final.pkl` without ever letting the pickle run code.

A pickle is a program: `pickle.load` imports and calls whatever globals the file names, so a hostile
"checkpoint" can run `os.system` while loading. Detectron checkpoints need far less: they are Python 2 pickles
(protocol 2, `cPickle.HIGHEST_PROTOCOL`) of ``{"blobs": {name: numpy array}, "cfg": yaml text}``, and
rebuilding numpy arrays needs only numpy's array/dtype/scalar reconstructors (plus `_codecs.encode`, which
Python 3 protocol-2 pickles use for raw bytes). `RestrictedUnpickler.find_class` hands out exactly those, wrapped
so that even they accept only the arguments numpy itself writes, and refuses every other global *before*
anything is called. `encoding="latin1"` turns Python 2 byte strings (array data, names) into text losslessly,
which numpy's `__setstate__` accepts.

The `cfg` text is returned as text and never parsed here (no yaml loader runs on untrusted input); the model's
settings come from the config table row the caller passes with the zoo row.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from explorer.models.detectron.errors import CheckpointFormatError, UnsafePickleError

_reconstruct: Callable[..., Any] = np.zeros(1).__reduce__()[0]
_scalar: Callable[..., Any] = np.float32(0).__reduce__()[0]
_frombuffer: Callable[..., Any] = np.zeros(1).__reduce_ex__(5)[0]
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: what network weights are made of


def _checked_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    """numpy's `_reconstruct`, but only for plain ndarrays (never an arbitrary subclass)."""
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"the pickle asks numpy to rebuild an array of type {subtype!r}; refusing")
    return _reconstruct(subtype, shape, dtype)


def _checked_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` as numpy's protocol-2 pickles use it: text to latin-1 bytes, nothing else."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1" or errors != "strict":
        raise UnsafePickleError(f"the pickle calls _codecs.encode with encoding {encoding!r}; only latin1 is allowed")
    return codecs.encode(text, "latin1")


#: (module, name) -> the object handed to the unpickler. numpy 1.x pickles say `numpy.core.*`, numpy 2 says
#: `numpy._core.*`; both map to the same functions without importing the deprecated `numpy.core` alias.
ALLOWED_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _checked_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS`; anything else raises `UnsafePickleError` unexecuted."""

    def __init__(self, file: BinaryIO, *, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.source} asks to load the Python global {module}.{name}, which a checkpoint of numpy arrays "
                "never needs; refusing to unpickle it (a pickle that names arbitrary globals can run code)."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source} uses pickle persistent ids ({str(pid)[:40]!r}); refusing")


@dataclass(frozen=True)
class DetectronCheckpoint:
    """The blobs of a Detectron checkpoint (name -> float32/int array) and its config text ('' if absent)."""

    blobs: dict[str, np.ndarray]
    cfg_text: str


def load_checkpoint(path: Path) -> DetectronCheckpoint:
    """Unpickle `path` with `RestrictedUnpickler` and check it is a dict of numeric arrays."""
    return _as_checkpoint(read_pickle(path), str(path))


def read_pickle(path: Path) -> Any:
    """Whatever `path` pickles, unpickled by `RestrictedUnpickler` (numpy arrays and plain containers only)."""
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            return RestrictedUnpickler(file, source=source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeError) as error:
        raise CheckpointFormatError(f"{source} is not a readable checkpoint (pickle): {error}") from error


def _as_checkpoint(data: Any, source: str) -> DetectronCheckpoint:
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{source} holds a {type(data).__name__}, not Detectron's dict of blobs")
    if "blobs" not in data and isinstance(data.get("model"), dict):
        raise CheckpointFormatError(f"{source} is a Detectron2 checkpoint (a 'model' dict of module names), not a "
                                    "Detectron (Caffe2) one of blobs: choose the Detectron2 model it belongs to")
    blobs = data.get("blobs", data if "cfg" not in data else None)  # very old files were the blob dict itself
    if not isinstance(blobs, dict):
        raise CheckpointFormatError(f"{source} has no 'blobs' dict")
    cfg = data.get("cfg", "")
    cfg_text = cfg.decode("latin1") if isinstance(cfg, bytes) else cfg if isinstance(cfg, str) else ""
    return DetectronCheckpoint(blobs=numeric_arrays(blobs, source), cfg_text=cfg_text)


def numeric_arrays(blobs: dict[Any, Any], source: str) -> dict[str, np.ndarray]:
    """Blob (or parameter) name -> array; `None` entries (Detectron writes them for absent preserved blobs) are
    dropped."""
    arrays: dict[str, np.ndarray] = {}
    for key, value in blobs.items():
        name = key.decode("latin1") if isinstance(key, bytes) else key
        if not isinstance(name, str):
            raise CheckpointFormatError(f"{source} has a blob named {key!r}, not a string")
        if value is None:
            continue
        try:
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
        except (ValueError, TypeError) as error:  # ragged or absurdly nested lists
            raise CheckpointFormatError(f"{source}: blob {name} is not an array ({error})") from error
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise CheckpointFormatError(f"{source}: blob {name} has dtype {array.dtype}, not a numeric array")
        arrays[name] = array
    return arrays
