"""The weights manager against a real local HTTP server: good, truncated, corrupt, slow and missing files.

Every test points TORCH_HOME and EXPLORER_CACHE at tmp_path, so the real caches are never touched.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from explorer.weights import checksums
from explorer.weights.cache import ensure_weights
from explorer.weights.checksums import Checksum, checksum_from_filename, verify
from explorer.weights.errors import ChecksumError, DownloadError, LocalWeightsError, WeightsUnavailableError
from explorer.weights.sources import (
    WeightsSource,
    detectron_source,
    explorer_cache_dir,
    torch_hub_checkpoint_dir,
    torchvision_source,
)
from explorer.weights.transport import download, fetch_md5sum
from tests.deadlines import SUBPROCESS_S
from tests.local_http import LocalServer, private_weights_caches, serving

PAYLOAD = random.Random(0).randbytes(300_000)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
GOOD_NAME = f"tiny_rcnn_coco-{SHA256[:8]}.pth"
BAD_NAME = "tiny_rcnn_coco-00000000.pth"  # a prefix the payload's sha256 does not have
assert not SHA256.startswith("00000000")


class _Handler(BaseHTTPRequestHandler):
    """Serves the fixture files; the route decides how (or whether) the body arrives."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, body: bytes, *, length: int | None = None, content_type: str = "application/octet-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.close_connection = True
        route = self.path.split("/")[1]
        if self.path in (f"/tv/{GOOD_NAME}", f"/tv/{BAD_NAME}", "/d/123/model_final.pkl", "/d/nosum/model_final.pkl"):
            self._send(PAYLOAD, length=len(PAYLOAD))
        elif self.path == "/d/123/model_final.pkl.md5sum":
            self._send(f"{MD5}  model_final.pkl\n".encode(), length=len(MD5) + 17, content_type="text/plain")
        elif route == "truncated":  # promises the whole file, sends half, hangs up
            self._send(PAYLOAD[: len(PAYLOAD) // 2], length=len(PAYLOAD))
        elif route == "nolength":  # no Content-Length: the body ends when the connection closes
            self._send(PAYLOAD)
        elif route == "drip":  # every piece arrives well within the read timeout, the whole is slow
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            for start in range(0, len(PAYLOAD), len(PAYLOAD) // 10):
                self.wfile.write(PAYLOAD[start : start + len(PAYLOAD) // 10])
                self.wfile.flush()
                if self.server.stopping.wait(0.05):
                    return
        elif route == "slow":
            self.server.stopping.wait(5)
            self._send(PAYLOAD, length=len(PAYLOAD))
        else:
            self.send_error(404)


class _Server(LocalServer):
    hits: list[str]


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server, _Handler) as srv:
        srv.hits = []
        yield srv


@pytest.fixture(autouse=True)
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_weights_caches(tmp_path, monkeypatch)
    return tmp_path


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _tv_source(server: _Server, name: str = GOOD_NAME) -> WeightsSource:
    return torchvision_source(server.url(f"/tv/{name}"), "tiny_rcnn COCO_V1")


# --------------------------------------------------------------------------------------------------- places


def test_cache_dirs_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert torch_hub_checkpoint_dir() == tmp_path / "torch" / "hub" / "checkpoints"
    assert explorer_cache_dir() == tmp_path / "explorer"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert torch_hub_checkpoint_dir() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("EXPLORER_CACHE")
    assert torch_hub_checkpoint_dir() == Path.home() / ".cache" / "torch" / "hub" / "checkpoints"
    assert explorer_cache_dir() == Path.home() / ".cache" / "detectron-zoo-explorer"


def test_hash_prefix_is_read_as_torch_hub_reads_it() -> None:
    assert checksum_from_filename("maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth") == Checksum("sha256-prefix", "bf2d0c1e")
    assert checksum_from_filename("fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth").value == "907ea3f9"
    assert checksum_from_filename("model_final.pkl") is None
    source = torchvision_source("https://download.pytorch.org/models/retinanet_resnet50_fpn_coco-eeacb38b.pth", "x")
    assert source.path == torch_hub_checkpoint_dir() / "retinanet_resnet50_fpn_coco-eeacb38b.pth"
    assert source.checksum == Checksum("sha256-prefix", "eeacb38b")


def test_same_rules_as_torch_hub() -> None:
    """Guards against drift: torch's own regex and directory (imported only here; it takes a second or two)."""
    import torch.hub

    assert checksums.HASH_REGEX.pattern == torch.hub.HASH_REGEX.pattern
    assert torch_hub_checkpoint_dir() == Path(torch.hub.get_dir()) / "checkpoints"


def test_detectron_files_get_a_folder_per_model() -> None:
    url = "https://dl.fbaipublicfiles.com/detectron/35998355/x/coco_2014_train%3Acoco_2014_val/rpn/model_final.pkl"
    source = detectron_source(url, "35998355", "RPN R-50-C4 1x")
    assert source.path == explorer_cache_dir() / "detectron" / "35998355" / "model_final.pkl"
    assert source.checksum is None and source.checksum_url == url + ".md5sum"
    assert detectron_source(url, "35998355", "x", md5=MD5.upper()).checksum == Checksum("md5", MD5)
    with pytest.raises(ValueError, match="unusable"):
        detectron_source(url, "../etc", "x")


# --------------------------------------------------------------------------------------------------- downloads


def test_good_file_lands_atomically_with_progress(server: _Server) -> None:
    source = _tv_source(server)
    calls: list[tuple[int, int | None]] = []
    path = ensure_weights(source, progress=lambda done, total: calls.append((done, total)))
    assert path == source.path and path.read_bytes() == PAYLOAD
    assert _files(source.cache_dir) == [GOOD_NAME]
    assert calls[0] == (0, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(total == len(PAYLOAD) for _, total in calls)


def test_truncated_download_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "dl" / GOOD_NAME
    with pytest.raises(DownloadError, match=f"cut off: got {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"):
        download(server.url(f"/truncated/{GOOD_NAME}"), dest, checksum=checksum_from_filename(GOOD_NAME))
    assert _files(dest.parent) == []


def test_wrong_checksum_leaves_nothing_that_looks_valid(server: _Server) -> None:
    source = _tv_source(server, BAD_NAME)
    with pytest.raises(ChecksumError) as caught:
        ensure_weights(source)
    assert (caught.value.expected, caught.value.actual) == ("00000000", SHA256)
    assert "failed its sha256 prefix check (expected 00000000" in str(caught.value)
    assert _files(source.cache_dir) == []


def test_slow_server_times_out_quickly(server: _Server, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"Timed out after 0\.5 s \(timeout\)"):
        download(server.url("/slow/x.pth"), tmp_path / "x.pth", checksum=None, timeout=0.5)
    assert time.monotonic() - start < 2
    assert _files(tmp_path) == []


def test_overall_time_limit(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="ran past max_seconds"):
        download(server.url("/drip/x.pth"), tmp_path / "x.pth", checksum=None, timeout=5, max_seconds=0.15)
    assert _files(tmp_path) == []


def test_unwritable_cache_is_a_download_error(server: _Server, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where a directory should be")
    with pytest.raises(DownloadError, match="Could not save"):
        download(server.url(f"/tv/{GOOD_NAME}"), tmp_path / "file" / GOOD_NAME, checksum=None)


def test_http_404_is_a_clear_message(server: _Server, tmp_path: Path) -> None:
    url = server.url("/nowhere/x-1234abcd.pth")
    with pytest.raises(DownloadError, match=f"^HTTP 404 for {url}$") as caught:
        download(url, tmp_path / "x.pth", checksum=None)
    assert caught.value.status == 404
    source = torchvision_source(url, "x COCO_V1")
    with pytest.raises(WeightsUnavailableError, match=f"could not be downloaded \\(HTTP 404 for {url}\\)"):
        ensure_weights(source)


def test_size_limit_from_header_and_from_stream(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="larger than the checkpoint size limit"):
        download(server.url(f"/tv/{GOOD_NAME}"), tmp_path / "a.pth", checksum=None, max_bytes=1000)
    with pytest.raises(DownloadError, match="larger than the checkpoint size limit"):
        download(server.url("/nolength/b.pth"), tmp_path / "b.pth", checksum=None, max_bytes=1000)
    assert _files(tmp_path) == []


def test_unknown_length_still_reports_a_final_total(server: _Server, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    download(server.url("/nolength/c.pth"), tmp_path / "c.pth", checksum=Checksum("sha256", SHA256),
             progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, None) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_interrupt_during_the_stream_leaves_no_partial_file(server: _Server) -> None:
    source = _tv_source(server)

    def interrupt(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_weights(source, progress=interrupt)
    assert _files(source.cache_dir) == []


# --------------------------------------------------------------------------------------------------- cache, offline


def test_cached_file_is_used_without_the_network(server: _Server) -> None:
    source = _tv_source(server)
    ensure_weights(source)
    hits = len(server.hits)
    server.stop()
    checksums._verified.clear()  # as in a new process: the cached file is hashed again
    assert ensure_weights(source) == source.path
    assert ensure_weights(source, offline=True) == source.path
    assert len(server.hits) == hits


def test_concurrent_requests_for_one_file_download_it_once(server: _Server) -> None:
    """As several sweep actors on one machine do: one downloads, the others wait and use the cached file."""
    source = torchvision_source(server.url(f"/drip/{GOOD_NAME}"), "tiny_rcnn COCO_V1")  # slow enough to overlap
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(lambda _: ensure_weights(source), range(4)))
    assert paths == [source.path] * 4 and source.path.read_bytes() == PAYLOAD
    assert server.hits == [f"/drip/{GOOD_NAME}"]
    assert _files(source.cache_dir) == [GOOD_NAME]  # the lock files live elsewhere


def test_without_a_place_for_lock_files_the_download_still_works(server: _Server, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only or broken explorer cache must not block torchvision files, which live in torch.hub's cache."""
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("a file where the explorer cache should be")
    monkeypatch.setenv("EXPLORER_CACHE", str(not_a_folder))
    source = _tv_source(server)
    assert ensure_weights(source).read_bytes() == PAYLOAD


#: A process asking for one file: it says when it is ready, then waits for "go" so that all start together.
_FETCH_IN_A_PROCESS = """
import sys
from explorer.weights.cache import ensure_weights
from explorer.weights.sources import torchvision_source
print("ready", flush=True)
sys.stdin.readline()
print(ensure_weights(torchvision_source(sys.argv[1], "tiny_rcnn COCO_V1")), flush=True)
"""


def test_concurrent_processes_for_one_file_download_it_once(server: _Server) -> None:
    """As sweep actors do, in processes of their own: the inter-process lock lets one download (0.5 s of drip)."""
    url = server.url(f"/drip/{GOOD_NAME}")
    children = [subprocess.Popen([sys.executable, "-c", _FETCH_IN_A_PROCESS, url], cwd=Path(__file__).parents[1],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        assert [child.stdout.readline() for child in children] == ["ready\n"] * 3  # type: ignore[union-attr]
        for child in children:
            child.stdin.write("go\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
        outputs = [child.communicate(timeout=SUBPROCESS_S)[0] for child in children]
    finally:
        for child in children:
            child.kill()
    source = torchvision_source(url, "tiny_rcnn COCO_V1")
    assert [child.returncode for child in children] == [0] * 3 and outputs == [f"{source.path}\n"] * 3
    assert server.hits == [f"/drip/{GOOD_NAME}"] and source.path.read_bytes() == PAYLOAD


def test_corrupt_cached_file_is_moved_aside_and_downloaded_again(server: _Server) -> None:
    source = _tv_source(server)
    ensure_weights(source)
    source.path.write_bytes(PAYLOAD[:1000])  # e.g. a copy interrupted outside our control
    notices: list[str] = []
    assert ensure_weights(source, notice=notices.append).read_bytes() == PAYLOAD
    assert len(notices) == 1 and "failed its sha256 prefix check" in notices[0] and ".corrupt" in notices[0]
    assert _files(source.cache_dir) == [GOOD_NAME, f"{GOOD_NAME}.corrupt"]


def test_corrupt_cached_file_offline_is_not_used(server: _Server) -> None:
    source = _tv_source(server)
    ensure_weights(source)
    source.path.write_bytes(b"not a checkpoint")
    server.stop()
    with pytest.raises(WeightsUnavailableError, match="failed its sha256 prefix check") as caught:
        ensure_weights(source, offline=True, notice=lambda message: None)
    assert not source.path.exists() and str(source.path) in str(caught.value)


def test_offline_without_a_file_says_what_to_put_where(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _tv_source(server)
    monkeypatch.setenv("EXPLORER_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as caught:
        ensure_weights(source)
    assert str(caught.value) == (
        f"Weights for tiny_rcnn COCO_V1 are not cached and could not be downloaded (offline mode is on "
        f"(EXPLORER_OFFLINE=1)). Download {source.url} and save it as {source.path}, or pass --weights FILE."
    )
    assert server.hits == []


def test_unreachable_server_without_a_file(server: _Server) -> None:
    source = _tv_source(server)
    server.stop()
    with pytest.raises(WeightsUnavailableError, match="Could not reach") as caught:
        ensure_weights(source, local_hint="upload the file")
    assert source.url in str(caught.value) and str(source.path) in str(caught.value)
    assert str(caught.value).endswith(", or upload the file.")


def test_local_file_is_used_as_is_without_network(server: _Server, tmp_path: Path) -> None:
    source = _tv_source(server)
    server.stop()
    mine = tmp_path / "finetuned.pth"
    mine.write_bytes(b"user weights, not the zoo's")
    assert ensure_weights(source, local_path=mine) == mine
    with pytest.raises(LocalWeightsError, match="does not exist"):
        ensure_weights(source, local_path=tmp_path / "missing.pth")
    (tmp_path / "empty.pth").touch()
    with pytest.raises(LocalWeightsError, match="is empty"):
        ensure_weights(source, local_path=tmp_path / "empty.pth")


# --------------------------------------------------------------------------------------------------- md5


def test_md5sum_is_fetched_verified_and_kept_for_offline_checks(server: _Server) -> None:
    url = server.url("/d/123/model_final.pkl")
    assert fetch_md5sum(url) == MD5
    source = detectron_source(url, "123", "Mask R-50-FPN 1x")
    path = ensure_weights(source)
    verify(path, Checksum("md5", MD5))
    assert _files(source.cache_dir) == ["model_final.pkl", "model_final.pkl.md5sum"]
    server.stop()
    path.write_bytes(PAYLOAD[::-1])  # same size, wrong bytes: only the kept md5 can tell
    with pytest.raises(WeightsUnavailableError, match="failed its md5 check"):
        ensure_weights(source, offline=True, notice=lambda message: None)


def test_md5_mismatch_and_missing_md5sum(server: _Server, tmp_path: Path) -> None:
    (tmp_path / "f.pkl").write_bytes(PAYLOAD)
    with pytest.raises(ChecksumError, match="failed its md5 check") as caught:
        verify(tmp_path / "f.pkl", Checksum("md5", "0" * 32))
    assert caught.value.actual == MD5
    notices: list[str] = []
    source = detectron_source(server.url("/d/nosum/model_final.pkl"), "nosum", "x")
    assert ensure_weights(source, notice=notices.append).read_bytes() == PAYLOAD
    assert notices and "No md5sum is published" in notices[0]
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_md5sum(server.url("/d/nosum/model_final.pkl"))


def test_parse_md5sum_forms() -> None:
    assert checksums.parse_md5sum(f"{MD5}\n") == MD5
    assert checksums.parse_md5sum(f"{MD5.upper()}  model_final.pkl\n") == MD5
    with pytest.raises(ValueError):
        checksums.parse_md5sum("<html>Not Found</html>")
