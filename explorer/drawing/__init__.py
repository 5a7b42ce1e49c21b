"""Drawing on images (PIL): a model's detections, predictions against the ground truth, and the items behind a
confusion-matrix cell; `labels` holds what they share (line widths, label font and colours)."""
