"""Drawing on images (PIL): a model's detections, predictions against the ground truth, and the items behind a
confusion-matrix cell."""
