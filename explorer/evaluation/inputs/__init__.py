"""The evaluation's untrusted inputs and their checks: JSON read with a size cap, the ground truth checked once and
prepared for one IoU type, results checked against it, and uploaded images matched to annotation ids."""
