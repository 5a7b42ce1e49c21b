"""A hand-made COCO set whose operating point and calibration are worked out by hand (see tests/test_operating_point.py
and tests/test_calibration.py for the arithmetic).

One 200x100 image. Category "a" (id 1): three objects; its detections, by score: 0.9 exactly on object 1,
0.8 on background, 0.7 on object 2 at IoU 0.6 (a true positive at IoU 0.5, not at 0.75), 0.6 a duplicate of
object 1, 0.3 exactly on object 3. Category "b" (id 2): one object and a crowd region; 0.95 inside the crowd
(ignored), 0.5 exactly on the object, 0.4 on background.
"""

from __future__ import annotations

from typing import Any

OBJECTS_A = ([10.0, 10.0, 20.0, 20.0], [50.0, 10.0, 20.0, 20.0], [100.0, 10.0, 20.0, 20.0])
OBJECT_B = [150.0, 50.0, 20.0, 20.0]
CROWD_B = [100.0, 60.0, 40.0, 30.0]


def ground_truth() -> dict[str, Any]:
    annotations = [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": box, "area": 400.0, "iscrowd": 0}
                   for k, box in enumerate(OBJECTS_A)]
    annotations.append({"id": 4, "image_id": 1, "category_id": 2, "bbox": OBJECT_B, "area": 400.0, "iscrowd": 0})
    annotations.append({"id": 5, "image_id": 1, "category_id": 2, "bbox": CROWD_B, "area": 1200.0, "iscrowd": 1})
    return {"images": [{"id": 1, "file_name": "one.jpg", "width": 200, "height": 100}],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


def results() -> list[dict[str, Any]]:
    def det(category: int, box: list[float], score: float) -> dict[str, Any]:
        return {"image_id": 1, "category_id": category, "bbox": box, "score": score}

    return [det(1, OBJECTS_A[0], 0.9), det(1, [10.0, 60.0, 20.0, 20.0], 0.8), det(1, [50.0, 10.0, 20.0, 12.0], 0.7),
            det(1, OBJECTS_A[0], 0.6), det(1, OBJECTS_A[2], 0.3),
            det(2, [105.0, 65.0, 20.0, 20.0], 0.95), det(2, OBJECT_B, 0.5), det(2, [0.0, 80.0, 10.0, 10.0], 0.4)]
