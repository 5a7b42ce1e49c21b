"""The restricted unpickler: real Detectron layouts load, anything that would run code is refused unexecuted."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from explorer.models.detectron.checkpoint.pickle_safe import RestrictedUnpickler, load_checkpoint
from explorer.models.detectron.errors import CheckpointFormatError, UnsafePickleError
from explorer.weights.errors import WeightsError
from tests.detectron_factory import CFG_TEXT, python2_pickle, write_pickle

BLOBS = {"conv1_w": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "res_conv1_bn_s": np.ones(2, np.float32),
         "iter": np.array([3], np.int64)}


class _RunsCommand:
    """A "checkpoint" whose unpickling calls os.system (the classic pickle exploit)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def _same(blobs: dict[str, np.ndarray]) -> None:
    assert set(blobs) == set(BLOBS)
    for name, array in BLOBS.items():
        assert blobs[name].dtype == array.dtype and np.array_equal(blobs[name], array)


def test_python2_detectron_pickles_load(tmp_path: Path) -> None:
    path = tmp_path / "model_final.pkl"
    path.write_bytes(python2_pickle(BLOBS))
    checkpoint = load_checkpoint(path)
    _same(checkpoint.blobs)
    assert checkpoint.cfg_text == CFG_TEXT


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_arrays_load(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"blobs": BLOBS, "cfg": "x"}, protocol=protocol))
    _same(load_checkpoint(path).blobs)


def test_code_executing_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _RunsCommand(marker)}, "cfg": ""}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system") as caught:
        load_checkpoint(path)
    assert not marker.exists()
    assert isinstance(caught.value, WeightsError)  # the CLI and the page report it as one line


@pytest.mark.parametrize("payload", [
    b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.",
    b"\x80\x02c__builtin__\neval\nX\x04\x00\x00\x001+1\x85R.",
    b"\x80\x02csubprocess\nPopen\n.",
    b"\x80\x02cnumpy\nload\n.",
    b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R.",
])
def test_other_globals_and_misused_allowed_ones_are_refused(payload: bytes) -> None:
    with pytest.raises(UnsafePickleError):
        RestrictedUnpickler(io.BytesIO(payload), source="test").load()


def test_object_arrays_and_non_checkpoints_are_format_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"x": "text"}}, protocol=2))
    with pytest.raises(CheckpointFormatError, match="blob x"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(CheckpointFormatError, match="not Detectron's dict"):
        load_checkpoint(path)
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(CheckpointFormatError, match="not a readable"):
        load_checkpoint(path)


def test_generated_checkpoints_round_trip(tmp_path: Path) -> None:
    path = write_pickle(tmp_path / "m.pkl", BLOBS)
    checkpoint = load_checkpoint(path)
    _same(checkpoint.blobs)
    assert "BBOX_REG_WEIGHTS" in checkpoint.cfg_text
