"""Detectron's test-time computations: preprocessing, postprocessing (NMS, mask paste, keypoints), the inference
pipeline and test-time augmentation."""
