"""The Sweeps page reads only sweeps: folders under EXPLORER_SWEEPS_ROOT, files inside their own sweep folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.sweep.served import (
    SweepAccessError,
    file_in_sweep,
    load_summary,
    open_sweep_folder,
    served_meta,
    sweeps_root,
)
from explorer.sweep.summary import SUMMARY_NAME, register_sweep, write_summary
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S

SECRET_COLUMN = "server_secret"


def sweep(out: Path, per_category: str = "") -> Path:
    rows = [{"model_uid": "torchvision:A", "model_name": "A", "device_name": "cpu", "images": 4, "median_s": 0.1,
             "weights": "random", "per_category": per_category}]
    write_summary(out, rows, {"images": 4, "batch_size": 1, "workers": 1})
    return out


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sweeps root with one good sweep; beside it (outside) a sweep-shaped folder holding a private CSV."""
    served = tmp_path / "root"
    monkeypatch.setenv("EXPLORER_SWEEPS_ROOT", str(served))
    sweep(served / "good")
    secret = sweep(tmp_path / "private")
    pd.DataFrame({SECRET_COLUMN: ["do not show"]}).to_csv(secret / "secret.csv", index=False)
    return served


def page(typed: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page("explorer/pages/sweeps.py").run()
    if typed is not None:
        at.text_input(key="sweep_folder").set_value(typed).run()
    assert not at.exception, at.exception
    return at


def shown_columns(at: AppTest) -> set[str]:
    return {column for frame in at.dataframe for column in frame.value.columns}


def errors(at: AppTest) -> str:
    return " ".join(error.value for error in at.error)


@pytest.mark.parametrize("typed", ["{outside}", "{root}/../private", "../private", "{root}/link", "link"])
def test_folders_outside_the_root_are_refused_however_they_are_typed(root: Path, typed: str) -> None:
    (root / "link").symlink_to(root.parent / "private", target_is_directory=True)
    at = page(typed.format(outside=root.parent / "private", root=root))
    assert "outside the sweeps root" in errors(at)
    assert "summary" not in " ".join(frame.value.to_csv() for frame in at.dataframe)  # nothing read from there
    assert not any("torchvision:A" in frame.value.to_csv() for frame in at.dataframe)


def test_a_folder_under_the_root_opens_by_absolute_or_relative_path(root: Path) -> None:
    for typed in (str(root / "good"), "good", "good/../good"):
        at = page(typed)
        assert not at.error and at.selectbox(key="sweep_choice").value == str((root / "good").resolve())
        assert any("torchvision:A" in frame.value.to_csv() for frame in at.dataframe)


def test_a_summary_pointing_outside_its_sweep_is_not_followed(root: Path) -> None:
    sweep(root / "crafted", per_category="../../private/secret.csv")
    at = page("crafted")
    assert "outside its sweep folder" in errors(at)
    assert SECRET_COLUMN not in shown_columns(at)


def test_a_per_category_file_inside_the_sweep_is_shown(root: Path) -> None:
    folder = sweep(root / "evaluated", per_category="A/per_category.csv")
    (folder / "A").mkdir()
    pd.DataFrame({"category": ["person"], "ap": [40.0]}).to_csv(folder / "A" / "per_category.csv", index=False)
    at = page("evaluated")
    assert not at.error and "category" in shown_columns(at)


def test_registered_sweeps_outside_the_root_are_not_listed(root: Path) -> None:
    register_sweep(root.parent / "private")
    at = page()
    assert not at.selectbox  # nothing to choose: the only registered sweep lies outside
    assert any("1 registered sweep(s) outside the sweeps root" in caption.value for caption in at.caption)
    register_sweep(root / "good")
    assert page().selectbox(key="sweep_choice").options == [str((root / "good").resolve())]


def test_a_summary_without_median_s_is_a_clear_message(root: Path) -> None:
    folder = root / "old"
    folder.mkdir()
    pd.DataFrame({"model_uid": ["torchvision:A"], "model_name": ["A"]}).to_csv(folder / SUMMARY_NAME, index=False)
    at = page("old")
    assert "lacks the columns" in errors(at) and "median_s" in errors(at)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x00\x81", b'model_uid,median_s\n"unclosed,1\n'])
def test_a_malformed_summary_is_a_clear_message(root: Path, content: bytes) -> None:
    folder = root / "broken"
    folder.mkdir()
    (folder / SUMMARY_NAME).write_bytes(content)
    at = page("broken")
    assert "summary" in errors(at)


# ---- library -----------------------------------------------------------------------------------------------

def test_the_default_root_is_in_the_explorer_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EXPLORER_SWEEPS_ROOT", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    assert sweeps_root() == (tmp_path / "cache" / "sweeps").resolve()


def test_library_refusals(root: Path) -> None:
    assert open_sweep_folder("good") == (root / "good").resolve()
    for typed in ("", "/", "..", str(root.parent / "private"), "missing"):
        with pytest.raises(SweepAccessError):
            open_sweep_folder(typed)
    good = root / "good"
    assert file_in_sweep(good, "m/per_category.csv") == (good / "m" / "per_category.csv").resolve()
    for escape in ("../x.csv", "/etc/passwd", "m/../../x.csv"):
        with pytest.raises(SweepAccessError, match="outside its sweep folder"):
            file_in_sweep(good, escape)
    meta, refused = served_meta(good, {"model_dirs": {"a": "a_dir", "b": "../../elsewhere"}, "shards": 2})
    assert meta == {"model_dirs": {"a": "a_dir"}, "shards": 2} and len(refused) == 1 and "model b" in refused[0]
    assert list(load_summary(good)["model_uid"]) == ["torchvision:A"]


def test_the_sweep_command_says_when_its_output_will_not_be_served(root: Path, capsys) -> None:
    from explorer.cli.sweep import note_if_not_served

    note_if_not_served(root / "new-sweep")
    assert capsys.readouterr().err == ""
    note_if_not_served(root.parent / "elsewhere")
    assert "outside the sweeps root" in capsys.readouterr().err
