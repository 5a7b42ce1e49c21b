"""Detectron's test-time computations: box transforms, preprocessing, postprocessing (NMS, mask paste, keypoints), the
inference pipeline and test-time augmentation."""
