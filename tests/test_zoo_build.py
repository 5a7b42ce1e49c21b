"""zoo_data/ is generated: rebuilding it from the reference pages reproduces the committed files byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.zoo.build import build_files
from explorer.zoo.paths import ZOO_DATA_DIR
from tests.conftest import REFERENCE_DIR, needs_reference


@pytest.fixture(scope="module")
def rebuilt() -> dict[str, str]:
    return build_files(REFERENCE_DIR)


@needs_reference
def test_regeneration_reproduces_committed_files(rebuilt: dict[str, str]) -> None:
    committed = {path.name for path in ZOO_DATA_DIR.iterdir() if path.is_file()}
    assert committed == set(rebuilt), "zoo_data/ has files the build does not make (or lacks some)"
    for name, text in rebuilt.items():
        on_disk = (ZOO_DATA_DIR / name).read_bytes()
        assert on_disk == text.encode("utf-8"), f"zoo_data/{name} is stale: run `python -m explorer build-zoo`"


@needs_reference
def test_build_is_deterministic(rebuilt: dict[str, str]) -> None:
    assert build_files(REFERENCE_DIR) == rebuilt


@needs_reference
def test_no_value_is_a_dash_or_a_fake_zero(rebuilt: dict[str, str]) -> None:
    import csv
    import io

    for name in ("detectron.csv", "detectron2.csv", "torchvision.csv"):
        rows = list(csv.DictReader(io.StringIO(rebuilt[name])))
        assert rows, name
        for row in rows:
            assert "-" not in row.values(), (name, row["model_id"])
            for column in ("box_ap", "mask_ap", "kp_ap", "prop_ar", "infer_s"):
                assert row[column] == "" or float(row[column]) > 0, (name, row["model_id"], column)


@needs_reference
def test_every_detectron2_row_has_its_config_record(rebuilt: dict[str, str]) -> None:
    """detectron2_configs.csv is part of the regenerated folder: one record per config a Detectron2 row downloads."""
    import csv
    import io

    from explorer.zoo.sources.detectron2_configs import config_of_model_url

    rows = list(csv.DictReader(io.StringIO(rebuilt["detectron2.csv"])))
    records = list(csv.DictReader(io.StringIO(rebuilt["detectron2_configs.csv"])))
    assert len(rows) == len(records) == 45
    assert sorted(config_of_model_url(row["model_url"]) for row in rows) == [r["config"] for r in records]
    for row, record in zip(sorted(rows, key=lambda r: config_of_model_url(r["model_url"])), records, strict=True):
        assert record["config"].endswith("/" + row["config"])  # the row's config stem, under its folder


@needs_reference
def test_build_zoo_command_writes_the_build(rebuilt: dict[str, str], tmp_path, capsys, monkeypatch) -> None:
    """`explorer build-zoo` builds from --reference and writes what the build makes (the build shared with the tests
    above, which check it against the committed files, instead of a third run of it)."""
    from explorer.cli.main import main

    asked: list[Path] = []
    monkeypatch.setattr("explorer.zoo.build.build_files", lambda reference: asked.append(reference) or rebuilt)
    out = tmp_path / "zoo_data"
    assert main(["build-zoo", "--reference", str(REFERENCE_DIR), "--out", str(out)]) == 0
    assert asked == [REFERENCE_DIR]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == {
        name: text.encode("utf-8") for name, text in rebuilt.items()}
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{out / name}: {rebuilt[name].count(chr(10))} lines" for name in sorted(rebuilt)]


def test_build_zoo_command_refuses_a_folder_without_the_reference_pages(tmp_path, capsys) -> None:
    from explorer.cli.main import main

    (tmp_path / "detectron").mkdir()
    assert main(["build-zoo", "--reference", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path} is not a reference folder: it has no detectron2/ (the zoo pages the build "
                   "reads)\n")
    assert not (tmp_path / "out").exists()
