"""COCOeval and what it computes: the hotcoco / pycocotools backends, the numbers read from their arrays, the COCO
error breakdown (its extra runs), and `evaluate()` with its request and result dataclasses. Imports `inputs`,
never `analyses`."""
