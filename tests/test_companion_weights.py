"""The RPN companion of a Fast R-CNN row (run on precomputed proposals) is fetched like any checkpoint.

The spec declares both files (`ModelSpec.weights_files`) and `explorer.weights.model_files.fetch_model_files` fetches
them for every caller (the engine's load, the sweep driver's prefetch): the companion's download obeys
EXPLORER_MAX_CHECKPOINT_MB and reports progress to the caller's callback, as the main checkpoint's does; a
local HTTP server stands in for the zoo's file host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from explorer.engine.runners import load_runner
from explorer.models.catalog import ModelSpec, spec_for_uid
from explorer.models.detectron.config import detectron_config
from explorer.weights.errors import WeightsError, WeightsUnavailableError
from explorer.weights.model_files import fetch_model_files
from explorer.weights.sources import detectron_source
from explorer.zoo.table import load_zoo
from tests.local_http import LocalServer, private_weights_caches, serving

FAST_RCNN, RPN = "detectron:36225147", "detectron:35998814"
PAYLOAD = b"rpn checkpoint bytes " * 2000  # 42 kB


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)


def fast_spec_with_local_rpn(server: LocalServer) -> ModelSpec:
    """The Fast R-CNN row's spec, its RPN companion's weights served by `server` (with the right md5)."""
    fast = spec_for_uid(load_zoo(["detectron"]), FAST_RCNN)
    config = detectron_config(fast)
    rpn = config.proposals
    assert rpn is not None and rpn.uid == RPN
    source = detectron_source(server.url("35998814/model_final.pkl"), rpn.model_id, rpn.name,
                              md5=hashlib.md5(PAYLOAD).hexdigest())
    served = dataclasses.replace(config, proposals=dataclasses.replace(rpn, weights=source))
    return dataclasses.replace(fast, family_config=served)


def served_fast_spec(server: LocalServer) -> ModelSpec:
    """The Fast R-CNN spec with both its own and its RPN companion's weights served by `server`."""
    spec = fast_spec_with_local_rpn(server)
    own = detectron_source(server.url("36225147/model_final.pkl"), spec.model_id, spec.name,
                           md5=hashlib.md5(PAYLOAD).hexdigest())
    return dataclasses.replace(spec, weights=own)


def rpn_path(spec: ModelSpec) -> Path:
    proposals = detectron_config(spec).proposals
    assert proposals is not None and proposals.weights is not None
    return proposals.weights.path


@pytest.fixture
def main_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small local file as the Fast R-CNN model's own weights (never read: the tests stop before)."""
    private_weights_caches(tmp_path, monkeypatch)
    path = tmp_path / "fast_rcnn.pkl"
    path.write_bytes(b"not a real checkpoint")
    return path


def test_an_oversize_companion_is_refused(main_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_MAX_CHECKPOINT_MB", str(len(PAYLOAD) / 2 / 1e6))
    with serving(LocalServer, Handler) as server:
        spec = fast_spec_with_local_rpn(server)
        with pytest.raises(WeightsUnavailableError, match="checkpoint size limit"):
            load_runner(spec, "cpu", main_weights)
        assert not rpn_path(spec).exists()


def test_the_companion_download_reports_progress(main_weights: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with serving(LocalServer, Handler) as server:
        spec = fast_spec_with_local_rpn(server)
        with pytest.raises(WeightsError):  # the main file is no checkpoint; the companion came first
            load_runner(spec, "cpu", main_weights, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert rpn_path(spec).read_bytes() == PAYLOAD


def test_one_cli_progress_bar_draws_every_file_of_a_load() -> None:
    """The CLI passes one callback for a whole load; the companion's download must be drawn too."""
    import io

    from explorer.cli.progress import download_bar

    out = io.StringIO()
    report = download_bar(stream=out)
    for done, total in [(0, 2_000_000), (2_000_000, 2_000_000), (0, 3_000_000), (3_000_000, 3_000_000)]:
        report(done, total)
    bars = out.getvalue().split("\n")[:-1]  # tqdm ends each finished bar with a newline
    assert len(bars) == 2 and all("100%" in bar.split("\r")[-1] for bar in bars)
    assert [re.findall(r"\S+/\S+ \[", bar.split("\r")[-1]) for bar in bars] == [["2.00M/2.00M ["], ["3.00M/3.00M ["]]



class BigCompanionHandler(Handler):
    """Serves the RPN companion's file at three times the size of every other file."""

    def do_GET(self) -> None:
        body = PAYLOAD * 3 if RPN.split(":")[1] in self.path else PAYLOAD
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_fast_rcnn_spec_declares_its_companions_file() -> None:
    spec = spec_for_uid(load_zoo(["detectron"]), FAST_RCNN)
    files = spec.weights_files()
    assert [file.uid for file in files] == [FAST_RCNN, RPN]
    assert files[0].source == spec.weights and files[1].source.path == rpn_path(spec)


def test_the_sweep_plan_keeps_the_companion_in_the_spec() -> None:
    from explorer.sweep.plan import select_specs

    (spec,) = select_specs(load_zoo(), models=[FAST_RCNN.split(":")[1]], min_size=96)
    assert [file.uid for file in spec.weights_files()] == [FAST_RCNN, RPN]


def test_fetch_model_files_reports_progress_for_each_file_under_its_models_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_weights_caches(tmp_path, monkeypatch)
    seen: list[tuple[str, int, int | None]] = []
    with serving(LocalServer, Handler) as server:
        spec = served_fast_spec(server)
        paths = fetch_model_files(spec, progress=lambda name: lambda done, total: seen.append((name, done, total)))
    assert list(paths) == [FAST_RCNN, RPN] and paths[RPN] == rpn_path(spec)
    assert all(path.read_bytes() == PAYLOAD for path in paths.values())
    companion = detectron_config(spec).proposals
    assert companion is not None and companion.name != spec.name
    for name in (spec.name, companion.name):
        mine = [(done, total) for who, done, total in seen if who == name]
        assert mine and mine[0] == (0, len(PAYLOAD)) and mine[-1] == (len(PAYLOAD), len(PAYLOAD)), name


def test_fetch_model_files_refuses_an_oversize_companion_even_with_a_local_main_file(main_weights: Path) -> None:
    with serving(LocalServer, Handler) as server:
        spec = fast_spec_with_local_rpn(server)
        with pytest.raises(WeightsUnavailableError, match="checkpoint size limit"):
            fetch_model_files(spec, local_path=main_weights, max_bytes=len(PAYLOAD) // 2)
    assert not rpn_path(spec).exists()


def test_the_sweep_driver_refuses_an_oversize_companion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's prefetch fetches the model's own file, then refuses the companion's (over the limit)."""
    from explorer.sweep.run import prefetch_weights

    private_weights_caches(tmp_path, monkeypatch)
    monkeypatch.setenv("EXPLORER_MAX_CHECKPOINT_MB", str(len(PAYLOAD) * 2 / 1e6))
    with serving(LocalServer, BigCompanionHandler) as server:
        spec = served_fast_spec(server)
        with pytest.raises(WeightsUnavailableError, match="checkpoint size limit"):
            prefetch_weights(spec)
    assert spec.weights is not None and spec.weights.path.read_bytes() == PAYLOAD
    assert not rpn_path(spec).exists()


def test_the_sweep_driver_fetches_the_companion_with_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.sweep.run import prefetch_weights

    private_weights_caches(tmp_path, monkeypatch)
    seen: list[str] = []
    with serving(LocalServer, Handler) as server:
        spec = served_fast_spec(server)
        paths = prefetch_weights(spec, lambda name: lambda done, total: seen.append(name))
    assert paths == [spec.weights.path, rpn_path(spec)] and rpn_path(spec).read_bytes() == PAYLOAD
    assert set(seen) == {spec.name, detectron_config(spec).proposals.name}
