"""Generated COCO datasets and results for the evaluation tests and the evaluation benchmark.

Everything is made from a seed, so a test can state exactly what it expects. Objects in one image never overlap
(each sits in its own grid cell), so a detection equal to its ground truth matches it and nothing else, and a
perturbation changes only the matches the test meant to change.

The ground truth has what real COCO files have: non-contiguous category ids with supercategories (one category
never annotated), polygon masks, compressed-RLE masks, crowd regions as uncompressed RLE, small / medium / large
objects, and (for the keypoint set) person keypoints with visibility 0/1/2 and some people without any.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)

PERSON: dict[str, Any] = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES),
                          "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13]]}

#: A COCO-like category list: ids with gaps, two supercategories with two members each, and `toothbrush`
#: (id 90), which no generated annotation uses, so its metrics must come out absent (NaN).
CATEGORIES: list[dict[str, Any]] = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 2, "name": "bicycle", "supercategory": "vehicle"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 17, "name": "cat", "supercategory": "animal"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
]
ANNOTATED_CATEGORY_IDS: tuple[int, ...] = (1, 2, 3, 17, 18)
ABSENT_CATEGORY_ID = 90

#: 80 categories in 12 supercategories, for the val2017-scale benchmark set.
BENCH_SUPERCATEGORIES: tuple[str, ...] = ("person", "vehicle", "outdoor", "animal", "accessory", "sports",
                                          "kitchen", "food", "furniture", "electronic", "appliance", "indoor")

# Side lengths that put objects in COCO's three area ranges: < 32², 32²..96², > 96².
_SIDES = ((14, 28), (40, 90), (100, 150))


def octagon(box: list[float]) -> list[float]:
    """A polygon (x, y, x, y, ...) inscribed in `box` = [x, y, w, h], so masks differ from their boxes."""
    x, y, w, h = box
    cx, cy = w / 4, h / 4
    points = [(x + cx, y), (x + w - cx, y), (x + w, y + cy), (x + w, y + h - cy),
              (x + w - cx, y + h), (x + cx, y + h), (x, y + h - cy), (x, y + cy)]
    return [round(float(v), 2) for point in points for v in point]


def polygon_rle(polygon: list[float], height: int, width: int) -> dict[str, Any]:
    """Compressed RLE (counts as text, as in results files) of one polygon."""
    rle = mask_utils.merge(mask_utils.frPyObjects([polygon], height, width))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE (used for crowd regions): run lengths in column-major order, starting with 0s."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def ellipse_mask(box: list[float], height: int, width: int) -> np.ndarray:
    """A filled ellipse inside `box`, as a boolean (height, width) array."""
    x, y, w, h = box
    yy, xx = np.mgrid[0:height, 0:width]
    return (((xx + 0.5 - (x + w / 2)) / (w / 2)) ** 2 + ((yy + 0.5 - (y + h / 2)) / (h / 2)) ** 2) <= 1.0


def _mask_area(segmentation: Any, height: int, width: int) -> float:
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return float(mask_utils.area(rle))


def _keypoints(box: list[float], rng: np.random.Generator, visible: bool) -> tuple[list[float], int]:
    x, y, w, h = box
    values: list[float] = []
    count = 0
    for _ in KEYPOINT_NAMES:
        v = int(rng.choice([0, 1, 2], p=[0.2, 0.3, 0.5])) if visible else 0
        if v:
            values += [round(float(x + rng.uniform(0.1, 0.9) * w), 2),
                       round(float(y + rng.uniform(0.1, 0.9) * h), 2), v]
            count += 1
        else:
            values += [0, 0, 0]
    return values, count


def make_ground_truth(n_images: int = 12, seed: int = 0, *, keypoints: bool = False, crowd: bool = True,
                      width: int = 640, height: int = 480, per_image: tuple[int, int] = (2, 6)) -> dict[str, Any]:
    """A COCO annotation dict.

    `keypoints=True` makes a person_keypoints-style file (only the person category, with keypoint names; every
    annotation has keypoints and num_keypoints, every fifth person none). Otherwise the instances-style file
    with CATEGORIES: every third object's mask is compressed RLE (the rest polygons) and, with `crowd`, every
    fourth image has one crowd region as uncompressed RLE.
    """
    rng = np.random.default_rng(seed)
    categories = [copy.deepcopy(PERSON)] if keypoints else copy.deepcopy(CATEGORIES)
    category_ids = (1,) if keypoints else ANNOTATED_CATEGORY_IDS
    cols, rows = 4, 3
    cell_w, cell_h = width // cols, height // rows
    images, annotations = [], []
    for i in range(n_images):
        image_id = 1000 + 7 * i  # ids unlike indexes, as in COCO
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": width, "height": height})
        cells = rng.permutation(cols * rows)[: int(rng.integers(per_image[0], per_image[1] + 1))]
        for n, cell in enumerate(cells):
            size = _SIDES[(i + n) % 3]
            w, h = (float(rng.integers(size[0], min(size[1], cell_w - 4))) for _ in range(2))
            h = min(h, cell_h - 4)
            x = (cell % cols) * cell_w + float(rng.integers(1, max(2, cell_w - int(w) - 1)))
            y = (cell // cols) * cell_h + float(rng.integers(1, max(2, cell_h - int(h) - 1)))
            box = [x, y, w, h]
            ann_id = len(annotations) + 1
            category_id = category_ids[(i + n) % len(category_ids)]
            if not keypoints and ann_id % 3 == 0:
                rle = mask_utils.encode(np.asfortranarray(ellipse_mask(box, height, width).astype(np.uint8)))
                segmentation: Any = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
                box = [float(v) for v in mask_utils.toBbox(rle)]
            else:
                segmentation = [octagon(box)]
            ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": box,
                                   "area": _mask_area(segmentation, height, width), "iscrowd": 0,
                                   "segmentation": segmentation}
            if keypoints:
                ann["keypoints"], ann["num_keypoints"] = _keypoints(box, rng, visible=ann_id % 5 != 0)
            annotations.append(ann)
        if crowd and i % 4 == 3:
            free = [c for c in range(cols * rows) if c not in set(cells.tolist())]
            if free:
                cell = free[0]
                box = [(cell % cols) * cell_w + 2.0, (cell // cols) * cell_h + 2.0, cell_w - 6.0, cell_h - 6.0]
                mask = ellipse_mask(box, height, width)
                crowd_ann: dict[str, Any] = {
                    "id": len(annotations) + 1, "image_id": image_id,
                    "category_id": category_ids[i % len(category_ids)],
                    "bbox": [float(v) for v in mask_utils.toBbox(mask_utils.encode(np.asfortranarray(
                        mask.astype(np.uint8))))],
                    "area": float(mask.sum()), "iscrowd": 1, "segmentation": uncompressed_rle(mask)}
                if keypoints:
                    crowd_ann["keypoints"], crowd_ann["num_keypoints"] = [0] * 3 * len(KEYPOINT_NAMES), 0
                annotations.append(crowd_ann)
    return {"info": {"description": "generated by tests/coco_factory.py"}, "images": images,
            "annotations": annotations, "categories": categories}


def segmentation_rle(ann: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """A ground-truth annotation's mask as compressed RLE with text counts (the results-file form)."""
    segmentation = ann["segmentation"]
    height, width = image["height"], image["width"]
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        return {"size": list(segmentation["size"]), "counts": segmentation["counts"]}
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def perfect_results(gt: dict[str, Any], iou_type: str = "bbox", seed: int = 1) -> list[dict[str, Any]]:
    """One detection per (non-crowd) ground-truth object, exactly on it, with distinct scores.

    For keypoints only people with at least one labelled keypoint get a detection (the others are ignored by
    COCO's keypoint evaluation, and a detection on them would be neither right nor wrong).
    """
    rng = np.random.default_rng(seed)
    images = {image["id"]: image for image in gt["images"]}
    results = []
    for ann in gt["annotations"]:
        if ann.get("iscrowd", 0) or (iou_type == "keypoints" and ann.get("num_keypoints", 0) == 0):
            continue
        entry: dict[str, Any] = {"image_id": ann["image_id"], "category_id": ann["category_id"],
                                 "score": round(float(rng.uniform(0.5, 1.0)), 6)}
        if iou_type == "bbox":
            entry["bbox"] = list(ann["bbox"])
        elif iou_type == "segm":
            entry["segmentation"] = segmentation_rle(ann, images[ann["image_id"]])
        else:
            entry["keypoints"] = [v if i % 3 != 2 else 1 for i, v in enumerate(ann["keypoints"])]
        results.append(entry)
    return results


def bench_dataset(n_images: int = 5000, dets_per_image: int = 100, seed: int = 0,
                  width: int = 640, height: int = 480) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A val2017-scale instances set (about 7.3 objects per image, 80 categories, polygon masks, 1% crowds) and
    `dets_per_image` detections per image with a box and an RLE mask each.

    Detections are what a real detector's look like to the evaluator: a jittered hit on most objects (some with
    a confusable class from the same supercategory, some twice), and the rest background boxes of classes seen
    in the image, with scores spread from 0.05 to 1.
    """
    rng = np.random.default_rng(seed)
    categories = [{"id": k + 1 + k // 10, "name": f"class{k + 1}", "supercategory": BENCH_SUPERCATEGORIES[k % 12]}
                  for k in range(80)]
    category_ids = np.array([c["id"] for c in categories])
    same_super = {c["id"]: [d["id"] for d in categories if d["supercategory"] == c["supercategory"]]
                  for c in categories}
    images, annotations, results = [], [], []
    for i in range(n_images):
        image_id = 100000 + i
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": width, "height": height})
        n_obj = int(np.clip(rng.poisson(7.3), 1, 40))
        side = np.exp(rng.uniform(np.log(8), np.log(400), n_obj))
        aspect = np.exp(rng.uniform(-0.7, 0.7, n_obj))
        ws = np.minimum(side * aspect, width - 2)
        hs = np.minimum(side / aspect, height - 2)
        xs = rng.uniform(0, width - ws)
        ys = rng.uniform(0, height - hs)
        classes = rng.choice(category_ids, n_obj)
        boxes = [[round(float(x), 2), round(float(y), 2), round(float(w), 2), round(float(h), 2)]
                 for x, y, w, h in zip(xs, ys, ws, hs, strict=True)]
        polygons = [octagon(box) for box in boxes]
        rles = mask_utils.frPyObjects(polygons, height, width)
        areas = mask_utils.area(rles)
        for n in range(n_obj):
            crowd = rng.random() < 0.01
            segmentation: Any = [polygons[n]]
            if crowd:
                segmentation = uncompressed_rle(mask_utils.decode(rles[n]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(classes[n]),
                                "bbox": boxes[n], "area": float(areas[n]), "iscrowd": int(crowd),
                                "segmentation": segmentation})
        det_boxes, det_classes = [], []
        for n in range(n_obj):
            for _ in range(1 + int(rng.random() < 0.3)):
                if rng.random() < 0.85:
                    jitter = rng.normal(0, 0.08, 4) * np.array([ws[n], hs[n], ws[n], hs[n]])
                    x, y = xs[n] + jitter[0], ys[n] + jitter[1]
                    w, h = max(1.0, ws[n] + jitter[2]), max(1.0, hs[n] + jitter[3])
                    label = int(classes[n]) if rng.random() < 0.8 else int(rng.choice(same_super[int(classes[n])]))
                    det_boxes.append([x, y, w, h])
                    det_classes.append(label)
        seen = np.unique(classes)
        while len(det_boxes) < dets_per_image:
            w, h = (float(v) for v in np.exp(rng.uniform(np.log(8), np.log(300), 2)))
            det_boxes.append([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h])
            det_classes.append(int(rng.choice(seen) if rng.random() < 0.6 else rng.choice(category_ids)))
        det_boxes, det_classes = det_boxes[:dets_per_image], det_classes[:dets_per_image]
        clipped = [[round(max(0.0, x), 2), round(max(0.0, y), 2), round(min(w, width - max(0.0, x)), 2),
                    round(min(h, height - max(0.0, y)), 2)] for x, y, w, h in det_boxes]
        det_rles = mask_utils.frPyObjects([octagon(box) for box in clipped], height, width)
        scores = np.sort(rng.uniform(0.05, 1.0, len(clipped)))[::-1]
        for box, label, rle, score in zip(clipped, det_classes, det_rles, scores, strict=True):
            results.append({"image_id": image_id, "category_id": label, "bbox": box, "score": round(float(score), 5),
                            "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")}})
    gt = {"info": {"description": "val2017-scale set generated by tests/coco_factory.py"}, "images": images,
          "annotations": annotations, "categories": categories}
    return gt, results
