"""Regenerate `zoo_data/` from the reference pages and torchvision's installed metadata.

Run `python -m explorer build-zoo` (optionally `--reference DIR --out DIR`; the command is explorer/cli/build_zoo.py).
The output is deterministic: running it twice, or on another machine with the same inputs and pinned torchvision,
gives byte-identical files, which `tests/test_zoo_build.py` checks. The app reads only the output.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from explorer.zoo.schema import ZOO_COLUMNS, ZooRow


def csv_text(rows: Iterable[dict[str, str]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a fixed column order and '\\n' line endings, so output is reproducible."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def _check_unique(rows: list[ZooRow], zoo: str) -> None:
    keys = [(row["model_id"], row["tta"]) for row in rows]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"{zoo}: duplicate (model_id, tta) rows: {duplicates}")


def build_files(reference_dir: Path) -> dict[str, str]:
    """File name -> text of every file in zoo_data/, built from the reference pages."""
    from explorer.zoo_build.complexity import COMPLEXITY_COLUMNS, complexity_rows, detectron2_complexity_rows
    from explorer.zoo_build.sources.detectron2_configs import CONFIG_COLUMNS as DETECTRON2_CONFIG_COLUMNS
    from explorer.zoo_build.sources.detectron2_configs import parse_detectron2_configs
    from explorer.zoo_build.sources.detectron2_page import parse_detectron2_zoo
    from explorer.zoo_build.sources.detectron_configs import CONFIG_COLUMNS, parse_detectron_configs
    from explorer.zoo_build.sources.detectron_page import parse_detectron_zoo
    from explorer.zoo_build.sources.torchvision_weights import parse_torchvision_weights, torchvision_version

    detectron_dir = reference_dir / "detectron"
    detectron2_dir = reference_dir / "detectron2"
    detectron_rows, detectron_notes = parse_detectron_zoo((detectron_dir / "MODEL_ZOO.md").read_text("utf-8"))
    detectron2_rows, detectron2_notes = parse_detectron2_zoo(
        (detectron2_dir / "MODEL_ZOO.md").read_text("utf-8"),
        (detectron2_dir / "Detectron1-Comparisons.md").read_text("utf-8"),
    )
    torchvision_rows = parse_torchvision_weights()
    configs = parse_detectron_configs(detectron_dir / "configs_12_2017_baselines")
    # one record per config a Detectron2 row downloads (a missing config file fails the build)
    detectron2_configs = parse_detectron2_configs([row["model_url"] for row in detectron2_rows],
                                                  detectron2_dir / "configs")

    tables = {"detectron": detectron_rows, "detectron2": detectron2_rows, "torchvision": torchvision_rows}
    for zoo, rows in tables.items():
        _check_unique(rows, zoo)
    missing = sorted({row["config"] for row in detectron_rows} - {c["config"] for c in configs})
    if missing:
        raise ValueError(f"Detectron rows name configs with no yaml: {missing}")

    notes = {
        "detectron": detectron_notes,
        "detectron2": detectron2_notes,
        "torchvision": {
            "torchvision_version": torchvision_version(),
            "common_settings": [
                "Accuracy is COCO val2017 mAP as stated in torchvision's weights metadata.",
                "torchvision publishes no inference or training time for these weights.",
            ],
        },
    }
    files = {f"{zoo}.csv": csv_text(rows, ZOO_COLUMNS) for zoo, rows in tables.items()}
    files["detectron_configs.csv"] = csv_text(configs, CONFIG_COLUMNS)
    files["detectron2_configs.csv"] = csv_text(detectron2_configs, DETECTRON2_CONFIG_COLUMNS)
    counted = complexity_rows(detectron_rows, configs) + detectron2_complexity_rows(detectron2_rows, detectron2_configs)
    files["complexity.csv"] = csv_text(counted, COMPLEXITY_COLUMNS)
    files["notes.json"] = json.dumps(notes, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def write_files(files: dict[str, str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8", newline="")

