"""Detectron2's test-time path: resize, normalisation and padding, proposal selection, box/mask/keypoint
post-processing, and scaling back to the original image."""
