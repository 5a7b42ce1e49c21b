"""Analyses that explain where an evaluation's AP goes beyond COCOeval's own numbers (TIDE error types, keypoint
errors, the confusion matrix, per-image tables), built on `inputs` and `coco`; the next error analyses land here."""
