"""The Sweeps page following a sweep under way (or stopped), from its folder alone (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.sweep.summary import register_sweep, sweep_progress, write_meta, write_summary
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S

MODELS = {"torchvision:A": "torchvision_A", "torchvision:B": "torchvision_B"}


@pytest.fixture(autouse=True)
def _sweeps_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's sweep folder is its tmp_path: serve it (the page opens only sweeps under the root)."""
    monkeypatch.setenv("EXPLORER_SWEEPS_ROOT", str(tmp_path))


def started_sweep(out: Path, shards_of: dict[str, int]) -> dict:
    """A sweep folder as `run_sweep` leaves it mid-way: the plan, and some shard files per model."""
    meta = {"images": 12, "batch_size": 2, "workers": 2, "shards": 3, "model_dirs": MODELS,
            "models": list(MODELS), "created": "2026-11-27T10:00:00+00:00"}
    write_meta(out, meta)
    for uid, count in shards_of.items():
        shard_dir = out / MODELS[uid] / "shards"
        shard_dir.mkdir(parents=True)
        for index in range(count):
            (shard_dir / f"shard-{index:05d}.json").write_text("{}")
    (out / MODELS["torchvision:A"] / "shards" / "shard-00009.json").write_text("{}")  # stale: not in this plan
    return meta


def progress_tables(at: AppTest) -> list[pd.DataFrame]:
    return [frame.value for frame in at.dataframe if "shards_written" in frame.value.columns]


def page() -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page("explorer/pages/sweeps.py").run()
    assert not at.exception
    return at


def test_progress_counts_only_the_plans_shards(tmp_path: Path) -> None:
    meta = started_sweep(tmp_path, {"torchvision:A": 2})
    table = sweep_progress(tmp_path, meta)
    assert table.to_dict("records") == [
        {"model_uid": "torchvision:A", "shards_written": 2, "shards_planned": 3, "status": "running or stopped"},
        {"model_uid": "torchvision:B", "shards_written": 0, "shards_planned": 3, "status": "waiting"},
    ]
    assert sweep_progress(tmp_path, {}).empty  # an older sweep.json without a plan: nothing to show


def test_page_lists_a_sweep_before_its_first_model_finishes(tmp_path: Path) -> None:
    started_sweep(tmp_path, {"torchvision:A": 2})
    register_sweep(tmp_path)
    at = page()
    assert at.selectbox(key="sweep_choice").value == str(tmp_path.resolve())
    [shown] = progress_tables(at)
    assert list(shown["shards_written"]) == [2, 0] and list(shown["status"]) == ["running or stopped", "waiting"]
    assert any("No model of this sweep is finished yet" in info.value for info in at.info)
    assert not at.error


@pytest.mark.parametrize("finished_b", [False, True])
def test_page_shows_progress_beside_a_partial_summary_until_every_model_is_done(tmp_path: Path,
                                                                                finished_b: bool) -> None:
    meta = started_sweep(tmp_path, {"torchvision:A": 3, "torchvision:B": 3 if finished_b else 1})
    rows = [{"model_uid": uid, "model_name": uid, "device_name": "cpu", "images": 12, "median_s": 0.1,
             "weights": "random"} for uid in (MODELS if finished_b else ["torchvision:A"])]
    write_summary(tmp_path, rows, meta)
    register_sweep(tmp_path)
    at = page()
    tables = progress_tables(at)
    if finished_b:
        assert tables == []  # nothing left to follow
    else:
        assert list(tables[0]["status"]) == ["done", "running or stopped"]
    summary = next(frame.value for frame in at.dataframe if "shards_written" not in frame.value.columns)
    assert isinstance(summary, pd.DataFrame) and len(summary) == len(rows)
    assert json.loads((tmp_path / "sweep.json").read_text())["shards"] == 3
