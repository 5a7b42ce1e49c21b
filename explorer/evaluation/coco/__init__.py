"""COCOeval and what it computes: the pycocotools / faster-coco-eval backends, run in-process or over worker
processes by category, the numbers read from their arrays, the COCO error breakdown (its extra runs), and
`evaluate()` with its result dataclasses. Imports `inputs`, never `analyses`."""
