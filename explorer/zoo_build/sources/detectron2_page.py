"""Parse the Detectron2 model zoo pages (MODEL_ZOO.md, Detectron1-Comparisons.md) into zoo rows and notes.

Both pages are Markdown with embedded HTML tables. We keep only the COCO tables that are comparable with
the other zoos (detection, RPN, Mask R-CNN, the LSJ Mask R-CNN baselines, keypoints) and the single table
of the Detectron1 comparisons page; panoptic, LVIS, Cityscapes/VOC and the "Other Settings" ablations are
left out on purpose.

Design choices, each there to catch a page change rather than silently mis-read it:

* tables are found by their section heading; a missing heading, or a section without exactly one table,
  raises `ValueError`;
* cells are mapped to columns by the table's own header, and an unknown header raises;
* rows are read with `html.parser`, so a row that lacks its closing `</tr>` is still one row;
* type and backbone come from the config stem in the model URL (the Name cell is terse: RetinaNet rows
  say "R50", the comparisons rows say "Faster R-CNN"), and are cross-checked against the Name cell and
  the model id wherever those say something;
* hardware, GPU count, schedule lengths and the inference batch size are read from the page's prose by
  regex, never typed in here, and parsing fails loudly when the prose no longer states them.

Numbers are kept exactly as printed; a missing value is "". The LSJ table gives training time in s/im,
a different unit from every other table's s/iter, so that figure goes to the row's notes, not to
`train_s_per_iter`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from explorer.tasks import METRICS, task_named
from explorer.zoo.schema import TYPE_TASK, ZooRow, empty_row

ZOO = "detectron2"

#: Section heading on MODEL_ZOO.md -> our short table name, in page order.
MODEL_ZOO_SECTIONS: dict[str, str] = {
    "Faster R-CNN": "Faster R-CNN",
    "RetinaNet": "RetinaNet",
    "RPN & Fast R-CNN": "RPN & Fast R-CNN",
    "COCO Instance Segmentation Baselines with Mask R-CNN": "Mask R-CNN",
    "New baselines using Large-Scale Jitter and Longer Training Schedule": "Mask R-CNN (LSJ)",
    "COCO Person Keypoint Detection Baselines with Keypoint R-CNN": "Keypoint R-CNN",
}
COMPARISONS_TABLE = "Detectron1 comparisons"
#: Tables whose section heading says the numbers are for people ("COCO Person Keypoint Detection ...").
PERSON_TABLES: frozenset[str] = frozenset(table for heading, table in MODEL_ZOO_SECTIONS.items()
                                          if "Person" in heading.split())
LSJ_TABLE = "Mask R-CNN (LSJ)"
TABLES: tuple[str, ...] = (*MODEL_ZOO_SECTIONS.values(), COMPARISONS_TABLE)

#: Model types each table may hold; anything else means the page (or our reading of it) changed.
TABLE_TYPES: dict[str, frozenset[str]] = {
    "Faster R-CNN": frozenset({"Faster"}),
    "RetinaNet": frozenset({"RetinaNet"}),
    "RPN & Fast R-CNN": frozenset({"RPN", "Fast"}),
    "Mask R-CNN": frozenset({"Mask"}),
    LSJ_TABLE: frozenset({"Mask"}),
    "Keypoint R-CNN": frozenset({"Kps"}),
    COMPARISONS_TABLE: frozenset({"Faster", "Mask", "Kps"}),
}

#: Header cell text (tags dropped, whitespace collapsed) -> our field. Fields starting with "_" are
#: handled specially and never copied into the row as they are.
HEADER_FIELDS: dict[str, str] = {
    "Name": "_name",
    "lr sched": "lr_schedule",
    "epochs": "_epochs",
    "train time (s/iter)": "train_s_per_iter",
    "train time (s/im)": "_train_s_per_im",
    "inference time (s/im)": "infer_s",
    "train mem (GB)": "train_mem_gb",
    "box AP": "box_ap",
    "mask AP": "mask_ap",
    "kp. AP": "kp_ap",
    "prop. AR": "prop_ar",
    "AR@1000": "prop_ar",
    "model id": "model_id",
    "download": "_links",
}
_REQUIRED_FIELDS: tuple[str, ...] = ("_name", "infer_s", "model_id", "_links")

#: Download link label -> our column.
LINK_COLUMNS: dict[str, str] = {"model": "model_url", "metrics": "metrics_url"}

#: Config stem prefix -> Detectron's model type vocabulary.
STEM_TYPES: dict[str, str] = {
    "faster_rcnn_": "Faster",
    "fast_rcnn_": "Fast",
    "retinanet_": "RetinaNet",
    "rpn_": "RPN",
    "mask_rcnn_": "Mask",
    "keypoint_rcnn_": "Kps",
}

#: Detectron2's one ResNeXt-101 on these pages is the 32x8d model (its ImageNet-pretrained weights list
#: only X-101-32x8d), while the Name cells just say "X101".
X101_CARDINALITY = "32x8d"

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MODEL_ID = re.compile(r"\d+")
_HEADING = re.compile(r"^#{2,4}[ \t]+(.+?)[ \t]*:?[ \t]*$", re.MULTILINE)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TABLE_HTML = re.compile(r"<table\b.*?</table>", re.DOTALL | re.IGNORECASE)
_MODEL_URL_PATH = re.compile(r"/(?P<stem>[^/]+)/(?P<model_id>\d+)/model_final_[0-9a-f]+\.pkl$")
_STEM_RESNET = re.compile(
    r"_(?P<kind>[RX])_(?P<depth>\d+)(?:_(?P<card>\d+x\d+d))?_(?P<neck>C4|DC5|FPN)(?:_|$)"
)
_STEM_REGNET = re.compile(r"_regnet(?P<xy>[xy])_(?P<gf>\d+)gf(?:_dds)?_(?P<neck>FPN)(?:_|$)")
_NAME_RESNET = re.compile(r"\b(?P<kind>[RX])[-_]?(?P<depth>\d+)(?:[-_](?P<neck>C4|DC5|FPN))?\b")
_NAME_REGNET = re.compile(r"\bregnet(?P<xy>[xy])[-_](?P<gf>\d+)gf(?:[-_]dds)?(?:[-_](?P<neck>FPN))?\b", re.I)
_TTA_NAME = re.compile(r"test-time aug|\bTTA\b", re.IGNORECASE)


# ---- HTML tables -------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One `<td>`: its visible text and its links as (label, href), in order."""

    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class HtmlTable:
    """Header texts and body rows of one HTML table."""

    headers: list[str]
    rows: list[list[Cell]]


def _clean(text: str) -> str:
    """Visible text with non-breaking spaces and runs of whitespace collapsed to one space."""
    return " ".join(text.replace("\xa0", " ").split())


class _TableParser(HTMLParser):
    """Collects `<th>` texts and `<td>` cells per `<tr>`.

    A row ends at its `</tr>`, or at the next `<tr>` / the end of the table when the closing tag is
    missing, so a forgotten `</tr>` never merges two rows.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headers: list[str] = []
        self.rows: list[list[Cell]] = []
        self._row: list[Cell] | None = None
        self._cell_parts: list[str] | None = None
        self._cell_links: list[tuple[str, str]] = []
        self._header_parts: list[str] | None = None
        self._link_href: str | None = None
        self._link_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._close_row()
            self._row = []
        elif tag == "td":
            self._close_cell()
            if self._row is None:
                self._row = []
            self._cell_parts, self._cell_links = [], []
        elif tag == "th":
            self._header_parts = []
        elif tag == "a" and self._cell_parts is not None:
            self._link_href, self._link_parts = dict(attrs).get("href") or "", []
        elif tag == "br":
            self.handle_data(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._close_cell()
        elif tag == "th" and self._header_parts is not None:
            self.headers.append(_clean("".join(self._header_parts)))
            self._header_parts = None
        elif tag == "a" and self._link_href is not None:
            self._cell_links.append((_clean("".join(self._link_parts)), self._link_href))
            self._link_href = None
        elif tag in ("tr", "tbody", "table"):
            self._close_row()

    def handle_data(self, data: str) -> None:
        if self._header_parts is not None:
            self._header_parts.append(data)
        elif self._cell_parts is not None:
            self._cell_parts.append(data)
            if self._link_href is not None:
                self._link_parts.append(data)

    def close(self) -> None:
        super().close()
        self._close_row()

    def _close_cell(self) -> None:
        if self._cell_parts is not None and self._row is not None:
            self._row.append(Cell(_clean("".join(self._cell_parts)), self._cell_links))
        self._cell_parts, self._cell_links, self._link_href = None, [], None

    def _close_row(self) -> None:
        self._close_cell()
        if self._row:
            self.rows.append(self._row)
        self._row = None


def parse_html_table(table_html: str) -> HtmlTable:
    """Headers and rows of one `<table>`; every row must have one cell per header."""
    parser = _TableParser()
    parser.feed(table_html)
    parser.close()
    for row in parser.rows:
        if len(row) != len(parser.headers):
            raise ValueError(f"row with {len(row)} cells under {len(parser.headers)} headers: "
                             f"{[cell.text for cell in row]}")
    return HtmlTable(parser.headers, parser.rows)


# ---- locating the tables -----------------------------------------------------------------------------------


def _sections(page: str) -> dict[str, str]:
    """Heading text (trailing colon dropped) -> body up to the next heading, for ## to #### headings.

    HTML comments are removed first: the page keeps generator commands in them, which are not content.
    """
    text = _HTML_COMMENT.sub("", page)
    heads = list(_HEADING.finditer(text))
    ends = [head.start() for head in heads[1:]] + [len(text)]
    sections: dict[str, str] = {}
    for head, end in zip(heads, ends, strict=True):
        title = head.group(1).strip()
        if title in sections:
            raise ValueError(f"Detectron2 page: heading {title!r} appears twice")
        sections[title] = text[head.end() : end]
    return sections


def _only_table(text: str, where: str) -> str:
    tables = _TABLE_HTML.findall(text)
    if len(tables) != 1:
        raise ValueError(f"Detectron2 page: expected one table in {where}, found {len(tables)}")
    return tables[0]


def find_tables(model_zoo_md: str, comparisons_md: str) -> dict[str, str]:
    """Our table name -> that table's HTML, for every table we read; raises if one is missing."""
    sections = _sections(model_zoo_md)
    tables: dict[str, str] = {}
    for heading, table in MODEL_ZOO_SECTIONS.items():
        if heading not in sections:
            raise ValueError(f"Detectron2 MODEL_ZOO.md: section {heading!r} not found (table {table!r})")
        tables[table] = _only_table(sections[heading], f"section {heading!r}")
    tables[COMPARISONS_TABLE] = _only_table(comparisons_md, "Detectron1-Comparisons.md")
    return tables


# ---- one row -----------------------------------------------------------------------------------------------


def page_value(text: str) -> str:
    """The page leaves a cell empty (or writes "-") for a missing value; we write the empty string."""
    return "" if text in ("", "-") else text


def _number(text: str, what: str) -> str:
    value = page_value(text)
    if value and not _NUMBER.fullmatch(value):
        raise ValueError(f"{what}: expected a number, got {text!r}")
    return value


def config_from_url(url: str) -> tuple[str, str]:
    """(config stem, model id) from a download URL shaped `.../<stem>/<model id>/model_final_<md5>.pkl`."""
    match = _MODEL_URL_PATH.search(urlsplit(url).path)
    if match is None:
        raise ValueError(f"model URL not shaped .../<config>/<model id>/model_final_<md5>.pkl: {url!r}")
    return match.group("stem"), match.group("model_id")


def type_from_config(stem: str) -> str:
    """Detectron's type word ("Faster", "Kps", ...) from the config stem's architecture prefix."""
    for prefix, kind in STEM_TYPES.items():
        if stem.startswith(prefix):
            return kind
    raise ValueError(f"config {stem!r}: unknown architecture prefix")


def backbone_from_config(stem: str) -> str:
    """Detectron-style backbone from a config stem: 'X_101_32x8d_FPN' -> 'X-101-32x8d-FPN'."""
    if resnet := _STEM_RESNET.search(stem):
        card = f"-{resnet['card']}" if resnet["card"] else ""
        return f"{resnet['kind']}-{resnet['depth']}{card}-{resnet['neck']}"
    if regnet := _STEM_REGNET.search(stem):
        return f"RegNet{regnet['xy'].upper()}-{regnet['gf']}GF-{regnet['neck']}"
    raise ValueError(f"config {stem!r}: no backbone found")


def backbone_from_name(name: str) -> str:
    """Detectron-style backbone from a Name cell ("R50-C4", "X101-FPN", "R101"); "" when it names none.

    The result may lack the neck ("R-50" for RetinaNet's "R50"); callers compare it as a prefix.
    """
    if resnet := _NAME_RESNET.search(name):
        card = f"-{X101_CARDINALITY}" if (resnet["kind"], resnet["depth"]) == ("X", "101") else ""
        neck = f"-{resnet['neck']}" if resnet["neck"] else ""
        return f"{resnet['kind']}-{resnet['depth']}{card}{neck}"
    if regnet := _NAME_REGNET.search(name):
        neck = f"-{regnet['neck'].upper()}" if regnet["neck"] else ""
        return f"RegNet{regnet['xy'].upper()}-{regnet['gf']}GF{neck}"
    return ""


def _check_backbone(name: str, backbone: str, model_id: str) -> None:
    """The Name cell, where it names a backbone, must agree with the one read from the config."""
    named = backbone_from_name(name)
    if named and backbone != named and not backbone.startswith(named + "-"):
        raise ValueError(f"{model_id}: Name cell {name!r} says {named}, the config says {backbone}")


def _links(cell: Cell, model_id: str) -> dict[str, str]:
    links: dict[str, str] = {}
    for label, href in cell.links:
        column = LINK_COLUMNS.get(label)
        if column is None:
            raise ValueError(f"{model_id}: unknown download link {label!r}")
        links[column] = href
    if "model_url" not in links:
        raise ValueError(f"{model_id}: no model link")
    return links


def _read_cells(headers: list[str], cells: list[Cell]) -> tuple[dict[str, str], Cell]:
    """Field -> cell text by the table's own header, and the download cell."""
    values: dict[str, str] = {}
    links = Cell()
    for header, cell in zip(headers, cells, strict=True):
        column = HEADER_FIELDS[header]
        if column == "_links":
            links = cell
        else:
            values[column] = cell.text
    return values, links


def parse_row(headers: list[str], cells: list[Cell], table: str) -> ZooRow:
    """One page row as a zoo row with the page's own facts; `finish_row` adds the page-wide ones.

    The row also carries a private "_train_s_per_im" (the LSJ table's s/im training time, which has no
    column of its own); `finish_row` moves it into the notes and drops it.
    """
    values, links = _read_cells(headers, cells)
    model_id = values["model_id"]
    if not _MODEL_ID.fullmatch(model_id):
        raise ValueError(f"{table}: bad model id {model_id!r}")
    row = empty_row()
    row.update(zoo=ZOO, table=table, model_id=model_id, name=values["_name"])
    row["tta"] = "true" if _TTA_NAME.search(values["_name"]) else "false"
    for column in ("train_s_per_iter", "infer_s", "train_mem_gb", *METRICS):
        row[column] = _number(values.get(column, ""), f"{model_id} {column}")
    row["infer_s_gpu"] = row["infer_s"]  # one figure for the whole model: no GPU/CPU split
    row["_train_s_per_im"] = _number(values.get("_train_s_per_im", ""), f"{model_id} train time (s/im)")
    row["lr_schedule"] = _schedule(values, model_id)
    row.update(_links(links, model_id))
    stem, url_id = config_from_url(row["model_url"])
    if url_id != model_id:
        raise ValueError(f"{table}: model id {model_id} but its model URL says {url_id}")
    if row["lr_schedule"] and f"_{row['lr_schedule']}" not in stem:
        raise ValueError(f"{model_id}: schedule {row['lr_schedule']!r} not in config {stem!r}")
    row["config"] = stem
    row["type"] = type_from_config(stem)
    if row["type"] not in TABLE_TYPES[table]:
        raise ValueError(f"{table}: unexpected {row['type']} model {model_id}")
    row["backbone"] = backbone_from_config(stem)
    _check_backbone(values["_name"], row["backbone"], model_id)
    row["task"] = TYPE_TASK[row["type"]]
    metric = task_named(row["task"]).metric
    if not row[metric]:
        raise ValueError(f"{model_id}: a {row['type']} row without {metric}")
    return row


def _schedule(values: dict[str, str], model_id: str) -> str:
    """'1x' / '3x' as printed; the LSJ table prints epochs instead, written '100ep' like its configs."""
    if "_epochs" in values:
        epochs = values["_epochs"]
        if not epochs.isdigit():
            raise ValueError(f"{model_id}: bad epoch count {epochs!r}")
        return f"{epochs}ep"
    return page_value(values.get("lr_schedule", ""))


def parse_table(table_html: str, table: str) -> list[ZooRow]:
    """Every row of one table, in page order."""
    parsed = parse_html_table(table_html)
    unknown = [header for header in parsed.headers if header not in HEADER_FIELDS]
    if unknown:
        raise ValueError(f"{table}: unknown header(s) {unknown}")
    fields = {HEADER_FIELDS[header] for header in parsed.headers}
    missing = [name for name in _REQUIRED_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"{table}: no column for {missing}")
    if not parsed.rows:
        raise ValueError(f"{table}: table has no rows")
    return [parse_row(parsed.headers, cells, table) for cells in parsed.rows]


# ---- page-wide facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageFacts:
    """Facts stated once in MODEL_ZOO.md's prose and applied to every row."""

    hardware: str
    train_gpus: int
    inference_batch: int
    train_set: str
    eval_set: str
    schedule_epochs: dict[str, int]  # "1x" -> 12: the page gives these as approximate ("~12")
    lsj_epoch_images: int
    ims_per_batch: int | None  # only when the page states images per batch on N GPUs
    ims_per_gpu: int | None
    year: int  # when the baselines were trained and timed


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise ValueError(f"Detectron2 MODEL_ZOO.md no longer states {what} (looked for /{pattern}/)")
    return found


def _images_per_gpu(text: str, gpus: int) -> tuple[int | None, int | None]:
    """(images per batch, per GPU) when the page says e.g. "16 images ... on 8 GPUs"; else (None, None)."""
    found = re.search(r"\b(\d+) images (?:per (?:batch|iteration) )?(?:on|across|over) (\d+) GPUs", text)
    if found is None:
        return None, None
    images, on_gpus = int(found.group(1)), int(found.group(2))
    if on_gpus != gpus or images % on_gpus:
        raise ValueError(f"page says {images} images on {on_gpus} GPUs, which does not fit {gpus} GPUs")
    return images, images // on_gpus


def parse_page_facts(model_zoo_md: str) -> PageFacts:
    """Hardware, datasets, schedules and batch sizes, parsed from the page's prose."""
    text = " ".join(_HTML_COMMENT.sub("", model_zoo_md).split())
    hardware = _search(r"servers with (\d+) NVIDIA (\w+) GPUs", text, "the training/timing hardware")
    gpus = int(hardware.group(1))
    batch = _search(r"with batch size (\d+)", text, "the inference batch size")
    datasets = _search(r"trained on `(\w+)` and evaluated on `(\w+)`", text, "the train/eval datasets")
    epochs = {sched: int(n) for sched, n in re.findall(r"\b(\d+x)\b[^()]{0,40}\(~(\d+) COCO epochs\)", text)}
    if not epochs:
        raise ValueError("Detectron2 MODEL_ZOO.md no longer states the schedules' lengths in COCO epochs")
    lsj = _search(r"one epoch consists of training on (\d+) COCO images", text, "the LSJ epoch size")
    ims_per_batch, ims_per_gpu = _images_per_gpu(text, gpus)
    year = _search(r"baselines trained with detectron2 in [\w-]+, (\d{4})", text, "when the baselines were trained")
    return PageFacts(
        hardware=hardware.group(2),
        train_gpus=gpus,
        inference_batch=int(batch.group(1)),
        train_set=datasets.group(1),
        eval_set=datasets.group(2),
        schedule_epochs=dict(sorted(epochs.items())),
        lsj_epoch_images=int(lsj.group(1)),
        ims_per_batch=ims_per_batch,
        ims_per_gpu=ims_per_gpu,
        year=int(year.group(1)),
    )


def detectron_reported_ap(comparisons_md: str) -> dict[str, str]:
    """Model -> the AP Detectron reports for the same setup ("box 37.7, mask 33.9"), from the page's list."""
    figure = r"(?:(?:box|mask|keypoint) )?\d+\.\d"
    pattern = rf"^\* ([\w -]+): Detectron's AP is ({figure}(?:, {figure})*)"
    found = re.findall(pattern, comparisons_md, re.MULTILINE)
    return dict(sorted(found))


# ---- notes in our words ------------------------------------------------------------------------------------


def table_notes(facts: PageFacts, rows: list[ZooRow], comparisons_md: str) -> dict[str, list[str]]:
    """Per-table notes: what each table's numbers cover, in our words, with the page's numbers."""
    lsj_epochs = sorted({int(r["lr_schedule"].removesuffix("ep")) for r in rows if r["table"] == LSJ_TABLE})
    eval_set = facts.eval_set
    notes: dict[str, list[str]] = {
        "Faster R-CNN": [
            f"Box AP on COCO {eval_set}.",
            "FPN: ResNet with a feature pyramid; C4: ResNet conv4 features with a conv5 box head; "
            "DC5: ResNet with dilated conv5.",
        ],
        "RetinaNet": [f"One-stage detector with an FPN backbone; box AP on COCO {eval_set}."],
        "RPN & Fast R-CNN": [
            "RPN rows report the proposals' average recall (prop. AR); the page does not say at how many "
            "proposals per image.",
            f"The Fast R-CNN row reports box AP on COCO {eval_set}.",
        ],
        "Mask R-CNN": [f"Box and mask AP on COCO {eval_set}."],
        LSJ_TABLE: [
            "Mask R-CNN trained from random initialisation with large-scale jitter, for "
            f"{', '.join(map(str, lsj_epochs))} epochs of {facts.lsj_epoch_images} images each.",
            "Training time is printed per image (s/im), not per iteration, so it is in each row's notes "
            "rather than in train_s_per_iter; no training memory is given.",
        ],
        "Keypoint R-CNN": [f"Box AP and keypoint AP on COCO {eval_set} person keypoints."],
        COMPARISONS_TABLE: [
            "Configs that mimic Detectron's settings (no scale augmentation, smooth L1 box loss, the older "
            "RoIAlign and sampling ratio), for a like-for-like accuracy comparison with the Detectron zoo.",
            *[f"Detectron's published AP for its {model}: {figures}."
              for model, figures in detectron_reported_ap(comparisons_md).items()],
        ],
    }
    return notes


def row_note(row: ZooRow, facts: PageFacts) -> str:
    """A short sentence on what this row's numbers cover (timing protocol, units, metric)."""
    parts = [f"Inference is seconds per image at batch size {facts.inference_batch} on {facts.hardware}, "
             "timed inside detectron2's own evaluation loop."]
    if row["train_s_per_iter"]:
        parts.append("Training time is the average s/iter over the whole run.")
    if row["_train_s_per_im"]:
        parts.append(f"Training time is printed as {row['_train_s_per_im']} s/im, not s/iter.")
    if row["prop_ar"]:
        parts.append("prop. AR is the proposals' average recall.")
    if row["table"] == COMPARISONS_TABLE:
        parts.append("Trained with Detectron-like settings for comparison with Detectron.")
    return " ".join(parts)


def _label(row: ZooRow) -> str:
    """A short label, unique within the zoo: the page's Name cells repeat ("R50-FPN" is in four tables)."""
    label = f"{row['type']} {row['backbone']} {row['lr_schedule']}"
    if row["table"] == LSJ_TABLE:
        label += " LSJ"
    if row["table"] == COMPARISONS_TABLE:
        label += " (Detectron1 settings)"
    return label + (" TTA" if row["tta"] == "true" else "")


def finish_row(row: ZooRow, facts: PageFacts) -> ZooRow:
    """Page-wide facts, the label and the notes; drops the private fields used while parsing."""
    row["hardware"] = facts.hardware
    row["train_gpus"] = str(facts.train_gpus)
    row["ims_per_gpu"] = "" if facts.ims_per_gpu is None else str(facts.ims_per_gpu)
    row["name"] = _label(row)
    row["notes"] = row_note(row, facts)
    row["metric_scope"] = metric_scope(row)
    return {column: row[column] for column in empty_row()}


def metric_scope(row: ZooRow) -> str:
    """'person' for the Keypoint R-CNN rows: their section is the person keypoint baselines, and the
    Detectron1 comparison's keypoint row uses the same person-only dataset (its AP is set beside Detectron's
    person-only figures). Every other row is scored over all COCO categories."""
    return "person" if row["table"] in PERSON_TABLES or row["type"] == "Kps" else "coco"


def _check_unique(rows: list[ZooRow]) -> None:
    for key in (("model_id", "tta"), ("name",)):
        values = [tuple(row[k] for k in key) for row in rows]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"Detectron2 pages: duplicate {key} among rows: {duplicates}")


def _schedules(facts: PageFacts, rows: list[ZooRow]) -> dict[str, dict[str, object]]:
    """Schedule -> length facts for every schedule a row uses; the page states no iteration counts."""
    schedules: dict[str, dict[str, object]] = {}
    for schedule in sorted({row["lr_schedule"] for row in rows if row["lr_schedule"]}):
        if schedule.endswith("ep"):
            entry: dict[str, object] = {
                "epochs": int(schedule.removesuffix("ep")),
                "epochs_approximate": False,
                "images_per_epoch": facts.lsj_epoch_images,
            }
        elif schedule in facts.schedule_epochs:
            entry = {"epochs": facts.schedule_epochs[schedule], "epochs_approximate": True}
        else:
            raise ValueError(f"Detectron2 MODEL_ZOO.md gives no length for schedule {schedule!r}")
        entry["iterations"] = None
        entry["ims_per_batch"] = None if schedule.endswith("ep") else facts.ims_per_batch
        schedules[schedule] = dict(sorted(entry.items()))
    return schedules


def parse_notes(facts: PageFacts, rows: list[ZooRow], comparisons_md: str) -> dict[str, object]:
    """The zoo's notes: hardware, common settings in our words, schedule lengths, per-table notes."""
    epochs = ", ".join(f"{sched} about {n}" for sched, n in facts.schedule_epochs.items())
    common = [
        f"Trained and timed on servers with {facts.train_gpus} NVIDIA {facts.hardware} GPUs.",
        f"Trained on COCO {facts.train_set}, evaluated on COCO {facts.eval_set}.",
        "Default training augmentation adds scale jitter to horizontal flipping, so these numbers are "
        "not directly comparable with Detectron's; the Detectron1 comparisons table uses Detectron-like "
        "settings.",
        f"Schedule lengths in COCO epochs: {epochs}.",
        f"Inference time: seconds per image at batch size {facts.inference_batch}, timed with detectron2's "
        "own evaluation loop; deployment-tuned code would be faster.",
        "Training time is averaged over the whole run and refreshed with newer software, so it can differ "
        "from the metrics files.",
        "Each download's file name carries a prefix of its md5.",
    ]
    if facts.ims_per_gpu is not None:
        common.append(f"{facts.ims_per_batch} images per batch on {facts.train_gpus} GPUs "
                      f"({facts.ims_per_gpu} per GPU).")
    tables = table_notes(facts, rows, comparisons_md)
    return {
        "hardware": facts.hardware,
        "year": facts.year,
        "train_gpus": facts.train_gpus,
        "inference_batch_size": facts.inference_batch,
        "common_settings": common,
        "schedules": _schedules(facts, rows),
        "tables": {name: tables[name] for name in TABLES},
    }


def parse_detectron2_zoo(model_zoo_md: str, comparisons_md: str) -> tuple[list[ZooRow], dict[str, object]]:
    """Rows (in page order) and notes of the Detectron2 model zoo pages."""
    facts = parse_page_facts(model_zoo_md)
    raw: list[ZooRow] = []
    for table, table_html in find_tables(model_zoo_md, comparisons_md).items():
        raw.extend(parse_table(table_html, table))
    notes = parse_notes(facts, raw, comparisons_md)
    rows = [finish_row(row, facts) for row in raw]
    _check_unique(rows)
    link_fast_rcnn_proposals(rows)
    return rows, notes


def link_fast_rcnn_proposals(rows: list[ZooRow]) -> None:
    """Fast R-CNN rows run on precomputed proposals: point each at the RPN row of its table and backbone.

    Their published time excludes proposal generation; the link lets `infer_s_e2e` add it back.
    """
    for row in rows:
        if row["type"] != "Fast":
            continue
        sources = [r for r in rows if r["type"] == "RPN" and r["table"] == row["table"]
                   and r["backbone"] == row["backbone"]]
        if len(sources) > 1:
            raise ValueError(f"{row['model_id']}: several RPN rows with backbone {row['backbone']}; which one?")
        if sources:  # none: the page names no RPN for it, and the row keeps its published time only
            row["proposals_model_id"] = sources[0]["model_id"]
