"""Untrusted inputs from users: image decoding, server image folders and the files `predict` reads (uploaded
weights are weights: explorer.weights.uploads stores them)."""
