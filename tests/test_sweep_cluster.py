"""`explorer sweep --address` against a real Ray cluster that the test starts on this machine.

The head (`ray start --head --block`, two CPUs, its own temp folder and free ports) runs from an empty
folder with no path to this repository, so its workers can import `explorer` only from the package the
sweep ships with its runtime environment. Both ways in are exercised as a user runs them, in a separate
process: `HOST:PORT` (this process drives Ray Data) and `ray://HOST:PORT` (Ray Client; the driver runs as
a task in the cluster and relays progress). Skipped when Ray (the optional extra) is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.zoo.paths import REPO_ROOT

pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-sweep.txt")

MODEL = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
N_IMAGES = 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"the Ray head did not open port {port} in {timeout_s} s")


def ray_env() -> dict[str, str]:
    """No token authentication on this throw-away loopback cluster; nothing from this repo on the path."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "RAY_ADDRESS")}
    return {**env, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, int]]:
    """A Ray head on 127.0.0.1: GCS port and Ray Client port. Stopped (its whole process group) afterwards."""
    root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths have a length limit
    (root / "cwd").mkdir()
    ports = {"gcs": free_port(), "client": free_port()}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(ports["gcs"]),
         "--ray-client-server-port", str(ports["client"]), "--num-cpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", str(root / "ray")],
        cwd=root / "cwd", env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        wait_for_port(ports["gcs"], head)
        wait_for_port(ports["client"], head)
        yield ports
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster_images")
    for i in range(N_IMAGES):
        pixels = np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"im{i}.png")
    return folder


def sweep(address: str, images: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "explorer", "sweep", "--models", MODEL, "--images", str(images), "--out",
               str(out), "--address", address, "--random-weights", "--min-size", "96", "--max-size", "128",
               "--batch-size", "2", "--shard-size", "2", "--workers", "2"]
    return subprocess.run(command, cwd=REPO_ROOT, env={**ray_env(), "EXPLORER_CACHE": str(out / "cache")},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_sweep_runs_on_a_cluster_given_its_address(cluster: dict[str, int], images: Path, tmp_path: Path,
                                                   scheme: str) -> None:
    port = cluster["client"] if scheme else cluster["gcs"]
    done = sweep(f"{scheme}127.0.0.1:{port}", images, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{N_IMAGES} images, 0 skipped" in done.stdout and "3 shards run, 0 resumed" in done.stdout
    # progress reached the user's terminal: the model's bar ended at every image
    assert re.search(rf"{re.escape(MODEL)}: 100%\|[^\r\n]*\| {N_IMAGES}/{N_IMAGES} \[", done.stderr)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary.loc[0, "images"] == N_IMAGES and summary.loc[0, "workers"] == 2
    shards = sorted((tmp_path / "out").glob("*/shards/shard-*.json"))
    assert len(shards) == 3


def test_unreachable_cluster_is_one_clear_error(images: Path, tmp_path: Path) -> None:
    done = sweep(f"127.0.0.1:{free_port()}", images, tmp_path / "out")  # nothing listens there
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: could not join the Ray cluster at 127.0.0.1:")
    assert "Traceback" not in done.stderr


def test_bad_input_seen_in_the_cluster_is_one_clear_error(cluster: dict[str, int], tmp_path: Path) -> None:
    """With ray:// the images are listed inside the cluster; a wrong folder still ends as one line, exit 2."""
    done = sweep(f"ray://127.0.0.1:{cluster['client']}", tmp_path / "no-such-folder", tmp_path / "out")
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the sweep stopped in the cluster: --images ") and "is not a folder" in last
    assert "Traceback" not in done.stderr
