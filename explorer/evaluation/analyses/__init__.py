"""Analyses that explain an evaluation's errors: breakdown (Hoiem-style), TIDE error types, keypoint errors, confusion
matrix, per-image tables."""
