"""Fuzzing the checkpoint path: malformed and malicious weights files through `load_runner`, as the page calls it.

`.pkl` files go to a Detectron spec (RPN R-50-C4, the smallest Detectron model), `.pth` files to a torchvision
spec (SSDLite). Every file must end in either a loaded model (odd but legal files) or a clear error: a
`WeightsError` (Detectron's errors derive from it) or `WeightsMismatchError`, whose message names the file or the
blob. No pickle may run code: every payload would write a marker file (or delete a sentinel folder), and neither
may happen. After each category a valid checkpoint still loads. Seeded, so a failure reproduces.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from explorer.engine import runners as engine
from explorer.engine.runners import RANDOM_WEIGHTS
from explorer.models.catalog import ModelSpec, spec_for_uid
from explorer.models.detectron.checkpoint.convert import FORMAT, cache_path
from explorer.models.detectron.config import detectron_config
from explorer.models.detectron.errors import UnsafePickleError
from explorer.models.torchvision_zoo import WeightsMismatchError
from explorer.weights.errors import WeightsError
from explorer.zoo.table import load_zoo
from tests.detectron_factory import CFG_TEXT, checkpoint, model_shapes, python2_pickle
from tests.model_factory import torchvision_spec

SEED = 20261128
CONFIG = "rpn_R-50-C4_1x"
CLEAR = (WeightsError, WeightsMismatchError)
PAYLOAD_MODULE = "zoo_fuzz_payload"  # importing it writes the marker: for import_module / __import__ payloads



@dataclass
class Env:
    root: Path
    marker: Path
    sentinel: Path

    def untouched(self) -> bool:
        return not self.marker.exists() and self.sentinel.is_dir()


@dataclass
class Case:
    kind: str
    name: str
    data: bytes | Callable[[Path], None]
    expect: str = "error"  # "error", "ok", or "unsafe" (must be UnsafePickleError)
    names: tuple[str, ...] = ()  # blob names the message may name instead of the file


# --------------------------------------------------------------------------------------------------- payloads


def _payloads(env: Env) -> list[tuple[str, str, bytes, tuple[Callable[..., Any], tuple[Any, ...]] | None]]:
    """(module, name, protocol-0 argument tuple, (callable, args) for pickle.dumps or None)."""
    m = str(env.marker)
    code = f"open('{m}','w').write('x')"
    from numpy.testing._private import utils as np_utils

    items: list[tuple[str, str, bytes, tuple[Callable[..., Any], tuple[Any, ...]] | None]] = [
        ("os", "system", f"(Vtouch {m}\nt".encode(), (os.system, (f"touch {m}",))),
        ("posix", "system", f"(Vtouch {m}\nt".encode(), None),
        ("nt", "system", f"(Vtouch {m}\nt".encode(), None),
        ("os", "popen", f"(Vtouch {m}\nt".encode(), (os.popen, (f"touch {m}",))),
        ("subprocess", "Popen", f"((Vtouch\nV{m}\nlt".encode(), (subprocess.Popen, (["touch", m],))),
        ("subprocess", "getoutput", f"(Vtouch {m}\nt".encode(), (subprocess.getoutput, (f"touch {m}",))),
        ("builtins", "eval", f"(V{code}\nt".encode(), (eval, (code,))),
        ("builtins", "exec", f"(V{code}\nt".encode(), (exec, (code,))),
        ("__builtin__", "eval", f"(V{code}\nt".encode(), None),
        ("builtins", "__import__", f"(V{PAYLOAD_MODULE}\nt".encode(), (__import__, (PAYLOAD_MODULE,))),
        ("importlib", "import_module", f"(V{PAYLOAD_MODULE}\nt".encode(), None),
        ("shutil", "rmtree", f"(V{env.sentinel}\nt".encode(), (shutil.rmtree, (str(env.sentinel),))),
        ("numpy", "load", f"(V{env.root / 'x.npy'}\nt".encode(), (np.load, (str(env.root / "x.npy"),))),
        ("numpy.lib.npyio", "load", f"(V{env.root / 'x.npy'}\nt".encode(), None),
        ("numpy.core.multiarray", "_reconstruct_evil", b"(t", None),
    ]
    if hasattr(np_utils, "runstring"):
        items.append(("numpy.testing._private.utils", "runstring", f"(V{code}\n(dt".encode(),
                      (np_utils.runstring, (code, {}))))
    return items


class _Reduce:
    def __init__(self, call: tuple[Callable[..., Any], tuple[Any, ...]]) -> None:
        self.call = call

    def __reduce__(self) -> tuple[Any, ...]:
        return self.call


def _call(module: str, name: str, args: bytes) -> bytes:
    return f"c{module}\n{name}\n".encode() + args + b"R"


def _nested(inner: bytes) -> bytes:
    """`{"blobs": {"conv1_w": <inner>}, "cfg": ""}` in protocol 0: the payload hides inside a plausible file."""
    return b"(dVblobs\n(dVconv1_w\n" + inner + b"ssVcfg\nV\ns."


# --------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tv_spec() -> ModelSpec:
    return torchvision_spec("SSDLite320_MobileNet_V3_Large_Weights.COCO_V1")


@pytest.fixture(scope="module")
def tv_state(tv_spec: ModelSpec) -> dict[str, torch.Tensor]:
    return engine.load_runner(tv_spec, "cpu", RANDOM_WEIGHTS).model.state_dict()


@pytest.fixture(scope="module")
def d_spec() -> ModelSpec:
    table = load_zoo(["detectron"])
    assert table.at["detectron:35998355", "config"] == CONFIG
    return spec_for_uid(table, "detectron:35998355").with_sizes(96, 128)


@pytest.fixture(scope="module")
def d_blobs() -> dict[str, np.ndarray]:
    """The valid RPN R-50-C4 blobs, made once; broken variants are derived from them."""
    return checkpoint(CONFIG, with_leftovers=False)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    (tmp_path / "payload").mkdir()
    marker = tmp_path / "EXECUTED"
    (tmp_path / "payload" / f"{PAYLOAD_MODULE}.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "payload"))
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep").write_text("must survive")
    np.save(tmp_path / "x.npy", np.zeros(3))
    return Env(tmp_path, marker, sentinel)


def _write(case: Case, folder: Path) -> Path:
    path = folder / case.name
    if callable(case.data):
        case.data(path)
    else:
        path.write_bytes(case.data)
    return path


def _attempt(spec: ModelSpec, path: Path) -> tuple[BaseException | None, float]:
    started = time.perf_counter()
    try:
        engine.load_runner(spec, "cpu", path)
    except Exception as error:
        return error, time.perf_counter() - started
    return None, time.perf_counter() - started


def _clear(error: BaseException | None, case: Case, path: Path) -> bool:
    if not isinstance(error, CLEAR) or not str(error).strip():
        return False
    message = str(error)
    return path.name in message or any(name in message for name in case.names)


def _check(spec: ModelSpec, case: Case, env: Env, outcomes: Counter) -> None:
    path = _write(case, env.root)
    error, elapsed = _attempt(spec, path)
    sys.modules.pop(PAYLOAD_MODULE, None)
    assert env.untouched(), f"{case.kind} {case.name} RAN CODE while loading"
    assert elapsed < 30, f"{case.kind} {case.name} took {elapsed:.1f} s"
    if case.expect == "ok":
        assert error is None, f"{case.kind} {case.name} (legal) failed: {error!r}"
        outcomes[f"{case.kind}: loaded"] += 1
    else:
        assert _clear(error, case, path), f"{case.kind} {case.name}: unclear {type(error).__name__}: {error}"
        if case.expect == "unsafe":
            assert isinstance(error, UnsafePickleError), f"{case.kind} {case.name}: {error!r}"
        outcomes[f"{case.kind}: clear error"] += 1
    path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------- .pkl cases


def _small_blobs(blobs: dict[str, np.ndarray], count: int = 6) -> dict[str, np.ndarray]:
    return {name: blobs[name] for name in sorted(blobs, key=lambda n: blobs[n].size)[:count]}


def _converted(state: dict[str, Any], **extra: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        torch.save({"format": FORMAT, "config": CONFIG, "source_size": -1, "source_mtime_ns": -1,
                    "state_dict": state, **extra}, path)
    return write


def pkl_cases(rng: np.random.Generator, env: Env, blobs: dict[str, np.ndarray],
              converted_state: dict[str, torch.Tensor]) -> Iterator[Case]:
    for module, name, args, call in _payloads(env):
        yield Case("code-running pickle", f"x_{module}_{name}_bare.pkl", b"(" + _call(module, name, args) + b".",
                   "unsafe")
        yield Case("code-running pickle", f"x_{module}_{name}_nested.pkl", _nested(_call(module, name, args)),
                   "unsafe")
        if call is not None:
            value = {"blobs": {"conv1_w": _Reduce(call)}, "cfg": CFG_TEXT}
            yield Case("code-running pickle", f"x_{module}_{name}_p2.pkl", pickle.dumps(value, protocol=2), "unsafe")
    small = _small_blobs(blobs)
    structures: list[Any] = [
        [np.zeros(2)], (1, 2), 42, None, "blobs", b"\x00\x01", {"cfg": CFG_TEXT}, {"blobs": [np.zeros(1)]},
        {"blobs": "conv1_w"}, {"blobs": None, "cfg": ""}, {"blobs": {"conv1_w": "not an array"}},
        {"blobs": {"conv1_w": None}}, {"blobs": {"conv1_w": {"nested": np.zeros(1)}}},
        {"blobs": {"conv1_w": np.array(["a", 1], dtype=object)}}, {"blobs": {"conv1_w": np.zeros(2, complex)}},
        {"blobs": {"conv1_w": np.zeros(2, dtype=[("x", "f4")])}}, {"blobs": {7: np.zeros(1)}},
        {"blobs": {"conv1_w": 10**400}}, {"blobs": {}}, {}, {"blobs": {"blobs": {"blobs": small}}},
        {"blobs": small, "cfg": 12345}, {"blobs": {"conv1_w": [[1.0, 2.0], [3.0, 4.0]]}},
    ]
    for i, value in enumerate(structures):
        yield Case("wrong structure", f"s{i}.pkl", pickle.dumps(value, protocol=2), names=tuple(model_shapes(CONFIG)))
    yield Case("ragged list blob", "ragged.pkl", pickle.dumps({"blobs": {"conv1_w": [[1], [1, 2]]}}, protocol=2))
    deep = b"\x80\x02}(X\x05\x00\x00\x00blobs}(X\x07\x00\x00\x00conv1_w" + b"(" * 100 + b"]" + b"l" * 100 + b"uu."
    yield Case("ragged list blob", "deep.pkl", deep)
    valid_small = [pickle.dumps({"blobs": small, "cfg": CFG_TEXT}, protocol=2), python2_pickle(small)]
    for i in range(40):
        data = valid_small[i % 2]
        yield Case("truncated pickle", f"t{i}.pkl", data[: int(rng.integers(0, len(data)))])
    for i in range(16):
        head = [b"", b"\x80\x02", b"\x80\x04", b"(d"][i % 4]
        yield Case("random bytes", f"r{i}.pkl", head + rng.bytes(int(rng.integers(1, 400))))
    yield Case("empty file", "empty.pkl", b"")
    yield Case("zip garbage", "zip0.pkl", b"PK\x03\x04" + rng.bytes(300))
    yield Case("zip garbage", "zip1.pkl", b"PK\x03\x04")
    yield Case("zip garbage", "zip2.pkl", lambda p: torch.save({"w": _Reduce((os.system, (f"touch {env.marker}",)))},
                                                               p), "error")
    yield Case("zip garbage", "zip3.pkl", _converted({"conv1_w": torch.zeros(1)}))
    yield Case("zip garbage", "zip4.pkl", _converted({}, config="e2e_mask_rcnn_R-50-FPN_1x"))
    yield Case("converted file, non-tensor state", "conv_ints.pkl", _converted(dict.fromkeys(converted_state, 1)))
    no_weights = {k: v for k, v in converted_state.items()}
    yield Case("converted file with a bad bbox_reg_weights", "conv_nobbox.pkl", _converted(no_weights))
    yield Case("converted file with a bad bbox_reg_weights", "conv_strbbox.pkl",
               _converted(no_weights, bbox_reg_weights="abcd"))
    # Blob dicts derived from the valid checkpoint: small files where the check fails before shapes matter.
    needed = sorted(model_shapes(CONFIG))
    for i, drop in enumerate([["conv_rpn_w"], ["rpn_bbox_pred_b", "conv1_w"], needed[:20]]):
        kept = {k: v.reshape(-1)[:1] for k, v in blobs.items() if k not in drop}
        yield Case("missing blobs", f"miss{i}.pkl", pickle.dumps({"blobs": kept}, protocol=2), names=tuple(drop))
    for i, odd in enumerate([np.array(["s", "t"], dtype=object), np.array([object()] * 2, dtype=object)]):
        yield Case("object-dtype blob", f"obj{i}.pkl", pickle.dumps({"blobs": {**small, "conv1_w": odd}}, protocol=2),
                   names=("conv1_w",))
    # Full-size variants: every blob present, one thing wrong (these write ~70 MB each, so only a few).
    reshaped = {**blobs, "conv_rpn_w": blobs["conv_rpn_w"].reshape(1024, 1024, 9)}
    yield Case("wrong shapes", "shape0.pkl", lambda p: _dump(p, reshaped), names=("conv_rpn_w",))
    transposed = {**blobs, "rpn_bbox_pred_w": np.ascontiguousarray(blobs["rpn_bbox_pred_w"].T)}
    yield Case("wrong shapes", "shape1.pkl", lambda p: _dump(p, transposed), names=("rpn_bbox_pred_w",))
    yield Case("unknown extra blobs", "extra0.pkl", lambda p: _dump(p, {**blobs, "totally_unknown_w": np.zeros(3)}),
               names=("totally_unknown_w",))
    yield Case("odd but legal", "float64.pkl", lambda p: _dump(p, {**blobs, "conv1_w": blobs["conv1_w"].astype(
        np.float64)}), "ok")


def _dump(path: Path, blobs: dict[str, np.ndarray]) -> None:
    path.write_bytes(pickle.dumps({"blobs": blobs, "cfg": CFG_TEXT}, protocol=2))


# --------------------------------------------------------------------------------------------------- .pth cases


def pth_cases(rng: np.random.Generator, env: Env, state: dict[str, torch.Tensor], valid: bytes) -> Iterator[Case]:
    for module, name, args, call in _payloads(env)[::5]:
        if call is not None:
            yield Case("exec via torch.save", f"x_{name}.pth", lambda p, c=call: torch.save({"w": _Reduce(c)}, p))
        yield Case("raw exec pickle", f"raw_{module}_{name}.pth", b"\x80\x02" + _call(module, name, args) + b".")
    yield Case("pickled global", "lambda.pth", lambda p: torch.save({"w": os.getcwd}, p))
    for i in range(4):
        yield Case("random bytes", f"r{i}.pth", rng.bytes(int(rng.integers(1, 300))))
    yield Case("empty file", "empty.pth", b"")
    for i, cut in enumerate([4, len(valid) // 2, len(valid) - 30]):
        yield Case("zip garbage", f"z{i}.pth", valid[:cut])
    yield Case("zip garbage", "z3.pth", b"PK\x03\x04" + rng.bytes(200))
    first = next(iter(state))
    wrong: list[Any] = [
        [1, 2], None, "weights", 3, {}, {"not_a_key": torch.zeros(2)}, dict.fromkeys(state, 1),
        {k: {"nested": v} for k, v in state.items()}, {k: torch.zeros(1) for k in state},
        {k: v for k, v in state.items() if k != first}, {**state, "extra.weight": torch.zeros(3)},
        {**state, first: state[first].flatten()}, {**state, first: "a string"},
    ]
    for i, value in enumerate(wrong):
        yield Case("wrong keys / shapes / values", f"w{i}.pth", lambda p, v=value: torch.save(v, p),
                   names=(first, "extra.weight", "not_a_key"))


# --------------------------------------------------------------------------------------------------- tests


def _fuzz(spec: ModelSpec, valid: Path, cases: Iterator[Case], env: Env) -> tuple[int, Counter]:
    """Every hostile case through the engine; the valid checkpoint loads before each kind and at the end."""
    outcomes: Counter = Counter()
    total, kind = 0, None
    for case in cases:
        if case.kind != kind:
            kind = case.kind
            assert engine.load_runner(spec, "cpu", valid) is not None, f"valid checkpoint failed before {kind}"
        _check(spec, case, env, outcomes)
        total += 1
    assert engine.load_runner(spec, "cpu", valid) is not None
    return total, outcomes


def test_fuzz_detectron_checkpoints(d_spec: ModelSpec, d_blobs: dict[str, np.ndarray], env: Env, capsys) -> None:
    rng = np.random.default_rng(SEED)
    valid = env.root / "valid_model_final.pkl"
    _dump(valid, d_blobs)
    assert engine.load_runner(d_spec, "cpu", valid) is not None  # converts once; later controls use the cache
    converted_state = torch.load(cache_path(valid), weights_only=True)["state_dict"]
    total, outcomes = _fuzz(d_spec, valid, pkl_cases(rng, env, d_blobs, converted_state), env)
    assert env.untouched()
    _report(capsys, "Detectron .pkl", total, outcomes)
    assert total >= 100
    assert outcomes["code-running pickle: clear error"] >= 40


def test_fuzz_torchvision_checkpoints(tv_spec: ModelSpec, tv_state: dict[str, torch.Tensor], env: Env,
                                      capsys) -> None:
    rng = np.random.default_rng(SEED + 1)
    valid = env.root / "valid-00000000.pth"
    torch.save(tv_state, valid)
    total, outcomes = _fuzz(tv_spec, valid, pth_cases(rng, env, tv_state, valid.read_bytes()), env)
    _report(capsys, "torchvision .pth", total, outcomes)
    assert total >= 25


def _report(capsys: Any, label: str, total: int, outcomes: Counter) -> None:
    clear = sum(v for k, v in outcomes.items() if k.endswith("clear error"))
    loaded = sum(v for k, v in outcomes.items() if k.endswith("loaded"))
    with capsys.disabled():
        print(f"\ncheckpoint fuzzing ({label}): {total} files, {clear} clear errors, {loaded} loaded (legal), "
              "0 code executed")


def test_unreadable_pth_is_a_clear_error(tv_spec: ModelSpec, env: Env) -> None:
    """Regression: torch.load failures (not a zip, truncated, code-carrying) were raw UnpicklingError/RuntimeError."""
    rng = np.random.default_rng(SEED + 1)
    unreadable = ("exec via torch.save", "raw exec pickle", "random bytes", "zip garbage", "pickled global")
    for case in pth_cases(rng, env, {"w": torch.zeros(1)}, b"PK\x03\x04" + bytes(100)):
        if case.kind in unreadable:
            path = _write(case, env.root)
            error, _ = _attempt(tv_spec, path)
            assert _clear(error, case, path), f"{case.name}: {type(error).__name__}: {str(error)[:80]}"


def test_ragged_list_blob_is_a_clear_error(d_spec: ModelSpec, env: Env) -> None:
    """Regression: np.asarray on a ragged list blob raised a raw ValueError."""
    path = env.root / "ragged.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": [[1], [1, 2]]}}, protocol=2))
    error, _ = _attempt(d_spec, path)
    assert _clear(error, Case("", path.name, b""), path), repr(error)


def test_malformed_converted_file_is_a_clear_error(d_spec: ModelSpec, env: Env) -> None:
    """Regression: a converted (zip) file with non-tensor state values raised AttributeError."""
    from explorer.models.detectron.checkpoint.convert import build_empty

    keys = build_empty(detectron_config(d_spec).arch).state_dict()
    path = env.root / "conv_ints.pkl"
    _converted(dict.fromkeys(keys, 1))(path)
    error, _ = _attempt(d_spec, path)
    assert _clear(error, Case("", path.name, b""), path), repr(error)
