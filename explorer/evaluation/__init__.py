"""COCO evaluation of detection results: pycocotools' numbers, per category, and the analyses of where AP is lost.

Three layers, each importing only the ones before it: `inputs` (untrusted JSON and its checks, the ground truth
prepared for one IoU type, matching uploads to images), `coco` (COCOeval through hotcoco or pycocotools, the
numbers from its arrays, the COCO error breakdown, `evaluate()` and its request), and `analyses` (TIDE, keypoint
errors, the confusion matrix, per-image tables) built on the two. Import from the defining modules, e.g.
`from explorer.evaluation.coco.pipeline import evaluate`.
"""
