"""COCO matching and metrics: pycocotools / faster-coco-eval backends, `evaluate()`, the result dataclasses, and the
category-parallel runner."""
