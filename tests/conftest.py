"""Shared fixtures, and a guard that fails any test that tries to reach the network beyond 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from explorer.zoo.paths import DEFAULT_REFERENCE_DIR

REFERENCE_DIR: Path = DEFAULT_REFERENCE_DIR
needs_reference = pytest.mark.skipif(
    not (REFERENCE_DIR / "detectron" / "MODEL_ZOO.md").exists(),
    reason=f"reference pages not found at {REFERENCE_DIR} (they sit beside the checkout in CI)",
)


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _isolated_caches(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Weights, measurements and uploads go to a temporary folder, never the user's real caches."""
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("EXPLORER_CACHE", str(root / "explorer"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))


class NetworkAccessError(RuntimeError):
    """Raised when a test tries to connect anywhere but this machine."""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never download: any connection to a non-loopback address fails the test loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        if not _is_local(address):
            raise NetworkAccessError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if not _is_local(address):
            raise NetworkAccessError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
