"""The fixed images every export is checked on: generated, so no file ships and every run sees the same pixels.

Two images of different aspect ratios (landscape and portrait) check that one export serves both sizes. They
are smooth colour fields with a few solid shapes, so a published model finds edges and objects-like blobs
rather than white noise; with random weights anything yields detections.
"""

from __future__ import annotations

import numpy as np

SIZES: tuple[tuple[int, int], ...] = ((480, 640), (560, 416))  # (height, width)


def check_images(seed: int = 22) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for height, width in SIZES:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.stack([128 + 100 * np.sin(x / (37 + 10 * c) + y / (53 - 7 * c) + c) for c in range(3)], axis=-1)
        for _ in range(6):
            top, left = rng.integers(0, height - 60), rng.integers(0, width - 60)
            tall, wide = rng.integers(40, height // 2), rng.integers(40, width // 2)
            base[top:top + tall, left:left + wide] = rng.integers(0, 256, 3)
        images.append(np.clip(base, 0, 255).astype(np.uint8))
    return images
