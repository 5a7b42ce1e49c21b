"""The RPN companion of a Fast R-CNN row (run on precomputed proposals) is fetched like any checkpoint.

Its download obeys EXPLORER_MAX_CHECKPOINT_MB and reports progress to the caller's callback, as the main
checkpoint's does; a local HTTP server stands in for the zoo's file host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from explorer.engine.runners import load_runner
from explorer.models.catalog import ModelSpec, spec_for
from explorer.weights.errors import WeightsError, WeightsUnavailableError
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
    table = load_zoo(["detectron"])
    fast = spec_for(table[table["uid"] == FAST_RCNN].iloc[0].to_dict())
    rpn: ModelSpec = fast.extra["proposals"]
    assert rpn.uid == RPN
    source = detectron_source(server.url("35998814/model_final.pkl"), rpn.model_id, rpn.name,
                              md5=hashlib.md5(PAYLOAD).hexdigest())
    return dataclasses.replace(fast, extra={**fast.extra, "proposals": dataclasses.replace(rpn, weights=source)})


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
        assert not spec.extra["proposals"].weights.path.exists()


def test_the_companion_download_reports_progress(main_weights: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with serving(LocalServer, Handler) as server:
        spec = fast_spec_with_local_rpn(server)
        with pytest.raises(WeightsError):  # the main file is no checkpoint; the companion came first
            load_runner(spec, "cpu", main_weights, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert spec.extra["proposals"].weights.path.read_bytes() == PAYLOAD


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
