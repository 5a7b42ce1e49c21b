"""Parse the Detectron 12_2017 model zoo page (MODEL_ZOO.md) into zoo rows and notes.

The page is Markdown with embedded HTML tables, one per `### ` section, each wrapped in
`<!-- START ... TABLE -->` / `<!-- END ... TABLE -->` markers. Two quirks are handled on purpose:

* one row lacks its closing `</tr>` (and another has two), so rows are split on `<tr>` only;
* some download URLs are wrapped onto the next line inside the `href`, so whitespace is removed from URLs;
* the bells & whistles table has a second row, "[above without test-time aug.]", that carries only
  the inference time and APs of the same model evaluated without test-time augmentation; it inherits
  every other field from the row above and gets `tta = "false"` while the row above gets `"true"`.

Numbers are kept as the page prints them. Where the page writes "X + Y" for inference time, X is the
GPU part and Y the CPU part, and `infer_s` is their exact decimal sum.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal
from urllib.parse import unquote

from explorer.tasks import METRICS
from explorer.zoo.schema import TYPE_TASK, ZooRow, empty_row

ZOO = "detectron"

#: Page header cell text -> our column, in the order the page prints them.
_CELL_COLUMNS: tuple[str, ...] = (
    "backbone",
    "type",
    "lr_schedule",
    "ims_per_gpu",
    "train_mem_gb",
    "train_s_per_iter",
    "train_hours",
    "inference",  # split into infer_s_gpu / infer_s_cpu / infer_s
    "box_ap",
    "mask_ap",
    "kp_ap",
    "prop_ar",
    "model_id",
    "links",
)

#: Link label on the page -> our column.
_LINK_COLUMNS: dict[str, str] = {
    "model": "model_url",
    "boxes": "boxes_url",
    "masks": "masks_url",
    "kps": "kps_url",
    "1": "proposals_train_url",
    "2": "proposals_valminusminival_url",
    "3": "proposals_minival_url",
}

#: What each table's numbers cover, in our words, keyed by the section title on the page.
#: The page's own notes under each table say the same; these are the facts a reader of a single row needs.
TABLE_NOTES: dict[str, tuple[str, ...]] = {
    "RPN Proposal Baselines": (
        "Inference time covers RPN proposal generation only.",
        "prop. AR is average recall with 1000 proposals per image.",
    ),
    "Fast & Mask R-CNN Baselines Using Precomputed RPN Proposals": (
        "Runs on precomputed proposals from the RPN row with the same backbone.",
        "Inference time excludes proposal generation.",
    ),
    "End-to-End Faster & Mask R-CNN Baselines": (
        "RPN and detector trained jointly, end to end.",
        "Inference time is image to detections, proposal generation included.",
    ),
    "RetinaNet Baselines": (),
    "Mask R-CNN with Bells & Whistles": (
        "ResNeXt-152-32x8d-FPN backbone pretrained on ImageNet-5k; single model, not an ensemble.",
        "Trained with multi-scale jitter over scales 640-800.",
        "The TTA row tests at several scales with horizontal flips; the other row is the same model without TTA.",
    ),
    "Person-Specific RPN Baselines": (
        "Metrics are for the person category only.",
        "Inference time covers RPN proposal generation only.",
        "prop. AR is average recall with 1000 proposals per image.",
    ),
    "Keypoint-Only Mask R-CNN Baselines Using Precomputed RPN Proposals": (
        "Metrics are for the person category only.",
        "Runs on precomputed proposals from the person-only RPN row with the same backbone.",
        "Inference time excludes proposal generation.",
    ),
    "End-to-End Keypoint-Only Mask R-CNN Baselines": (
        "Metrics are for the person category only.",
        "RPN and detector trained jointly, end to end.",
        "Inference time is image to detections, proposal generation included.",
    ),
}


_WITHOUT_TTA_LABEL = "[above without test-time aug.]"

#: The page's own note under each person-only table ("*Metrics are for the person category only.*").
_PERSON_ONLY_NOTE = re.compile(r"Metrics are for the person category only", re.IGNORECASE)
_HEADING = re.compile(r"^#{2,4} ", re.MULTILINE)

_SECTION = re.compile(r"^### (.+?)\s*$", re.MULTILINE)
_TABLE = re.compile(r"<!-- START (.+?) TABLE -->(.*?)<!-- END \1 TABLE -->", re.DOTALL)
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.DOTALL)
_LINK = re.compile(r'<a href="([^"]+)">([^<]+)</a>')
_TAG = re.compile(r"<[^>]+>")
_CONFIG_IN_URL = re.compile(r"/12_2017_baselines/([^/]+?)\.yaml\.")


def cell_text(cell_html: str) -> str:
    """Visible text of a table cell: tags dropped, entities decoded, whitespace collapsed."""
    text = html.unescape(_TAG.sub("", cell_html)).replace("\xa0", " ")
    return " ".join(text.split())


def page_value(text: str) -> str:
    """The page writes "-" (or nothing) for a missing value; we write the empty string."""
    return "" if text in ("", "-") else text


def split_inference_time(text: str) -> tuple[str, str, str]:
    """'0.241 + 0.003' -> ('0.241', '0.003', '0.244'); '0.113' -> ('0.113', '', '0.113')."""
    if not text:
        return "", "", ""
    parts = [part.strip() for part in text.split("+")]
    if len(parts) == 1:
        return parts[0], "", parts[0]
    if len(parts) != 2:
        raise ValueError(f"unexpected inference time {text!r}")
    gpu, cpu = parts
    return gpu, cpu, str(Decimal(gpu) + Decimal(cpu))


def config_from_url(url: str) -> str:
    """The yaml stem embedded in every 12_2017 download URL, e.g. 'e2e_mask_rcnn_R-50-FPN_1x'."""
    match = _CONFIG_IN_URL.search(unquote(url))
    if not match:
        raise ValueError(f"no config name in URL {url!r}")
    return match.group(1)


def _links(cell_html: str) -> dict[str, str]:
    links: dict[str, str] = {}
    for wrapped_url, label in _LINK.findall(cell_html):
        url = "".join(wrapped_url.split())  # some hrefs on the page are broken across lines
        column = _LINK_COLUMNS.get(label.strip())
        if column is None:
            raise ValueError(f"unknown download link label {label!r}")
        links[column] = url
    return links


def _sections(page: str) -> list[tuple[str, str]]:
    """(section title, section body) for every `### ` section of the page."""
    heads = list(_SECTION.finditer(page))
    ends = [h.start() for h in heads[1:]] + [len(page)]
    return [(h.group(1), page[h.end() : end]) for h, end in zip(heads, ends, strict=True)]


def _row_cells(table_html: str) -> list[list[str]]:
    """Cells of each body row. Rows are split on '<tr>' because one row has no closing tag."""
    return [_CELL.findall(chunk) for chunk in table_html.split("<tr>")[1:]]


def metric_scope(section_body: str, table_end: int) -> str:
    """'person' when the notes printed right under the table (up to the next heading) say the metrics are
    for the person category only; 'coco' otherwise."""
    notes = section_body[table_end:]
    heading = _HEADING.search(notes)
    notes = notes[: heading.start()] if heading else notes
    return "person" if _PERSON_ONLY_NOTE.search(notes) else "coco"


def _parse_row(cells: list[str], table: str) -> ZooRow:
    if len(cells) != len(_CELL_COLUMNS):
        raise ValueError(f"{table}: expected {len(_CELL_COLUMNS)} cells, got {len(cells)}")
    values = dict(zip(_CELL_COLUMNS, cells, strict=True))
    row = empty_row()
    row["zoo"] = ZOO
    row["table"] = table
    for column in _CELL_COLUMNS:
        if column not in ("inference", "links"):
            row[column] = page_value(cell_text(values[column]))
    row["infer_s_gpu"], row["infer_s_cpu"], row["infer_s"] = split_inference_time(
        page_value(cell_text(values["inference"]))
    )
    row.update(_links(values["links"]))
    return row


def _inherit_without_tta(row: ZooRow, above: ZooRow) -> ZooRow:
    """The '[above without test-time aug.]' row: the model above, re-measured without TTA."""
    merged = dict(above)
    for column in ("infer_s_gpu", "infer_s_cpu", "infer_s", *METRICS):
        merged[column] = row[column]
    merged["tta"] = "false"
    for column in ("boxes_url", "masks_url", "kps_url"):
        merged[column] = ""  # the published result files are those of the TTA run
    return merged


def _finish(row: ZooRow, table: str, tta: bool) -> ZooRow:
    row["tta"] = row["tta"] or ("true" if tta else "false")
    row["config"] = config_from_url(row["model_url"])
    row["task"] = TYPE_TASK[row["type"]]
    row["hardware"] = "P100"
    row["train_gpus"] = "8"
    row["name"] = f"{row['type']} {row['backbone']} {row['lr_schedule']}" + (" TTA" if row["tta"] == "true" else "")
    if table == "Person-Specific RPN Baselines":
        row["name"] = row["name"].replace("RPN", "RPN person-only", 1)
    if table in PROPOSAL_SOURCES and row["type"] != "Fast":  # "Fast" already says it; Mask/Kps exist in both
        row["name"] += " (precomputed proposals)"
    row["notes"] = " ".join(TABLE_NOTES[table])
    return row


#: Tables whose rows run on precomputed proposals -> the table those proposals come from.
PROPOSAL_SOURCES: dict[str, str] = {
    "Fast & Mask R-CNN Baselines Using Precomputed RPN Proposals": "RPN Proposal Baselines",
    "Keypoint-Only Mask R-CNN Baselines Using Precomputed RPN Proposals": "Person-Specific RPN Baselines",
}


def link_proposal_sources(rows: list[ZooRow]) -> None:
    """Fill `proposals_model_id`: the page says each such row uses the RPN row with the same backbone."""
    for row in rows:
        source_table = PROPOSAL_SOURCES.get(row["table"])
        if source_table is None:
            continue
        sources = [r for r in rows if r["table"] == source_table and r["backbone"] == row["backbone"]]
        if len(sources) != 1:
            raise ValueError(f"{row['model_id']}: expected one {source_table} row for {row['backbone']}")
        row["proposals_model_id"] = sources[0]["model_id"]


def parse_tables(page: str) -> list[ZooRow]:
    """Every row of every table on the page, in page order."""
    rows: list[ZooRow] = []
    for title, body in _sections(page):
        match = _TABLE.search(body)
        if match is None:
            continue
        if title not in TABLE_NOTES:
            raise ValueError(f"unknown table section {title!r}: add its notes to TABLE_NOTES")
        table_rows: list[ZooRow] = []
        scope = metric_scope(body, match.end())
        for cells in _row_cells(match.group(2)):
            row = _parse_row(cells, title)
            if row["backbone"] == _WITHOUT_TTA_LABEL:
                table_rows.append(_inherit_without_tta(row, table_rows[-1]))
                table_rows[-2]["tta"] = "true"
            else:
                table_rows.append(row)
        for row in table_rows:
            row["metric_scope"] = scope
        rows.extend(table_rows)
    rows = [_finish(row, row["table"], row["tta"] == "true") for row in rows]
    link_proposal_sources(rows)
    return rows


def _match(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise ValueError(f"the Detectron page no longer states /{pattern}/")
    return found


def parse_notes(page: str) -> dict[str, object]:
    """Hardware, software and schedule facts from the page's common settings, in our words."""
    hw = _match(r"with (\d+) NVIDIA Tesla (\w+) GPU accelerators \(with (\d+)GB GPU memory, CUDA ([\d.]+), "
                r"and cuDNN ([\d.]+)\)", page)
    gpus, gpu, gpu_mem, cuda, cudnn = hw.groups()
    schedule_1x = _match(r"\*\*1x\*\*: For minibatch size (\d+), .*? LR of ([\d.]+) .*? after (\d+)k and (\d+)k "
                         r"iterations and finally terminates at (\d+)k iterations\. This schedules results in "
                         r"([\d.]+) epochs over the ([\d,]+) images", page)
    batch, lr, step1, step2, iters, epochs, images = schedule_1x.groups()
    s1x = _match(r"\*\*s1x\*\*.*?reduces the LR by \* 0\.1 at (\d+)k and (\d+)k iterations, "
                 r"finally ending after (\d+)k iterations", page)
    warmup = _match(r"also use a (\d+) iteration linear learning rate warm up", page).group(1)
    year = _match(r"trained with Detectron, primarily in late \w+ (\d{4})", page).group(1)
    n_images = int(images.replace(",", ""))
    n_batch = int(batch)

    def schedule(iterations_k: int, steps_k: tuple[int, int]) -> dict[str, object]:
        iterations = iterations_k * 1000
        return {
            "iterations_at_batch_16": iterations,
            "lr_steps_at_batch_16": [s * 1000 for s in steps_k],
            "epochs": round(iterations * n_batch / n_images, 2),
        }

    return {
        "hardware": gpu,
        "year": int(year),
        "train_gpus": int(gpus),
        "gpu_memory_gb": int(gpu_mem),
        "cuda": cuda,
        "cudnn": cudnn,
        "common_settings": [
            f"Trained and timed on servers with {gpus} NVIDIA Tesla {gpu} GPUs ({gpu_mem} GB each), "
            f"CUDA {cuda}, cuDNN {cudnn}.",
            f"Synchronous SGD on {gpus} GPUs with 1 or 2 images per GPU (the im/gpu column).",
            "Training augmentation is horizontal flipping only; testing uses no test-time augmentation "
            "unless a row says so.",
            f"Trained on coco_2017_train ({n_images:,} images), evaluated on coco_2017_val.",
            'Inference time "X + Y": X is the GPU part, Y the (unoptimised) CPU part, in seconds per image.',
            "Each download URL has its md5 at the same URL with '.md5sum' appended.",
        ],
        "schedules": {
            "1x": {**schedule(int(iters), (int(step1), int(step2))), "base_lr_at_batch_16": float(lr)},
            "2x": {**schedule(2 * int(iters), (2 * int(step1), 2 * int(step2))), "base_lr_at_batch_16": float(lr)},
            "s1x": {
                **schedule(int(s1x.group(3)), (int(s1x.group(1)), int(s1x.group(2)))),
                "base_lr_at_batch_16": float(lr),
            },
        },
        "schedule_epochs_stated": {"1x": float(epochs)},
        "warmup_iterations": int(warmup),
        "dataset_train_images": n_images,
        "keypoint_settings": [
            "Keypoint models train with multi-scale jitter and only on images with annotated people.",
            "Keypoint metrics are for the person category only.",
        ],
        "tables": {title: list(notes) for title, notes in TABLE_NOTES.items()},
    }


def parse_detectron_zoo(page: str) -> tuple[list[ZooRow], dict[str, object]]:
    """Rows and notes of the Detectron 12_2017 baselines page."""
    return parse_tables(page), parse_notes(page)
