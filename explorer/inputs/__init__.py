"""Untrusted inputs from users: image decoding, server image folders, the files `predict` reads, and uploaded
weights."""
