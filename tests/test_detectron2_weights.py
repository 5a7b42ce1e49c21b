"""Detectron2 checkpoints (no published checksum): the first download's size and sha256 are recorded and checked.

A local HTTP server on 127.0.0.1 plays dl.fbaipublicfiles.com; every test has its own caches.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from explorer.weights.cache import ensure_weights
from explorer.weights.errors import ChecksumError, WeightsError, WeightsUnavailableError
from explorer.weights.recorded import RecordError, read_record, record_path
from explorer.weights.sources import WeightsSource, detectron2_source, explorer_cache_dir
from tests.local_http import LocalServer, private_weights_caches, serving

PAYLOAD = random.Random(2).randbytes(200_000)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
ROUTE = "/detectron2/COCO-Detection/faster_rcnn_R_50_FPN_1x/137257794/model_final_b275ba.pkl"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.close_connection = True
        if self.path != ROUTE:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.payload)))
        self.end_headers()
        self.wfile.write(self.server.payload)


class _Server(LocalServer):
    hits: list[str]
    payload: bytes


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server, _Handler) as srv:
        srv.hits, srv.payload = [], PAYLOAD
        yield srv


@pytest.fixture(autouse=True)
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_weights_caches(tmp_path, monkeypatch)


def _source(server: _Server) -> WeightsSource:
    return detectron2_source(server.url(ROUTE), "137257794", "Faster R-50-FPN 1x (Detectron2)")


def _quiet(message: str) -> None:
    pass


def test_the_first_download_is_recorded_beside_the_file(server: _Server) -> None:
    source = _source(server)
    assert source.path == explorer_cache_dir() / "detectron2" / "137257794" / "model_final_b275ba.pkl"
    assert source.checksum is None and source.checksum_url is None  # nothing published to fetch first
    assert ensure_weights(source).read_bytes() == PAYLOAD
    assert record_path(source.path).read_text() == f"{SHA256}  {len(PAYLOAD)}  model_final_b275ba.pkl\n"
    assert read_record(source.path).size == len(PAYLOAD)
    assert server.hits == [ROUTE]
    assert ensure_weights(source) == source.path and server.hits == [ROUTE]  # cached and checked, not fetched


def test_a_changed_cached_copy_is_refused_offline(server: _Server) -> None:
    source = _source(server)
    ensure_weights(source)
    source.path.write_bytes(PAYLOAD[::-1])  # same size, other bytes: only the recorded sha256 can tell
    with pytest.raises(WeightsUnavailableError, match="failed its sha256 check against the record of its first "
                                                     f"download \\(expected {SHA256}"):
        ensure_weights(source, offline=True, notice=_quiet)
    assert not source.path.exists() and source.path.with_name(source.path.name + ".corrupt").exists()


def test_a_truncated_cached_copy_is_refused_by_its_size_and_fetched_again(server: _Server) -> None:
    source = _source(server)
    ensure_weights(source)
    source.path.write_bytes(PAYLOAD[:1000])
    notices: list[str] = []
    assert ensure_weights(source, notice=notices.append).read_bytes() == PAYLOAD  # the server still has the same
    assert len(notices) == 1 and f"is 1000 bytes, not the {len(PAYLOAD)} recorded" in notices[0]
    assert server.hits == [ROUTE, ROUTE]


def test_a_republished_file_is_not_quietly_pinned_again(server: _Server) -> None:
    source = _source(server)
    ensure_weights(source)
    source.path.write_bytes(b"x" * len(PAYLOAD))
    server.payload = PAYLOAD[::-1]  # the server now serves other bytes under the same URL
    with pytest.raises(ChecksumError) as caught:
        ensure_weights(source, notice=_quiet)
    message = str(caught.value)
    assert "recorded at this file's first download" in message and "delete that record" in message
    assert caught.value.expected == SHA256 and isinstance(caught.value, WeightsError)
    assert not source.path.exists() and read_record(source.path).sha256 == SHA256  # nothing half-trusted is left


def test_a_file_saved_by_hand_is_recorded_at_its_first_read(server: _Server) -> None:
    source = _source(server)
    server.stop()
    source.path.parent.mkdir(parents=True)
    source.path.write_bytes(PAYLOAD)  # as WeightsUnavailableError tells an offline user to do
    notices: list[str] = []
    assert ensure_weights(source, offline=True, notice=notices.append) == source.path
    assert "Recorded the size and sha256" in notices[0] and read_record(source.path).sha256 == SHA256
    source.path.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(WeightsUnavailableError, match="failed its sha256 check"):
        ensure_weights(source, offline=True, notice=_quiet)


def test_an_unreadable_record_is_a_clear_error(server: _Server) -> None:
    source = _source(server)
    ensure_weights(source)
    record_path(source.path).write_text("<html>not a record</html>")
    with pytest.raises(RecordError, match="is not a '<sha256>  <size>  <file>' line; delete it") as caught:
        ensure_weights(source)
    assert isinstance(caught.value, WeightsError)


def test_offline_without_a_file_says_what_to_put_where(server: _Server) -> None:
    source = _source(server)
    with pytest.raises(WeightsUnavailableError) as caught:
        ensure_weights(source, offline=True)
    assert f"Download {source.url} and save it as {source.path}" in str(caught.value)
    assert server.hits == []


def test_the_size_limit_holds_before_anything_is_recorded(server: _Server) -> None:
    source = _source(server)
    with pytest.raises(WeightsUnavailableError, match="limit"):
        ensure_weights(source, max_bytes=1000)
    assert not source.path.exists() and read_record(source.path) is None


def test_progress_is_reported(server: _Server) -> None:
    seen: list[tuple[int, int | None]] = []
    ensure_weights(_source(server), progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
