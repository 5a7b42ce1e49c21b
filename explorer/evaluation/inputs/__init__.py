"""The evaluation's untrusted inputs and their checks: JSON loading with a size cap, ground truth and results checks,
RLE checks, and matching uploaded images to annotation ids."""
