"""Detectron2's test-time input (data/transforms ResizeShortestEdge + GeneralizedRCNN.preprocess_image).

* resize: scale = short / min(h, w); the long side scaled likewise; if it exceeds max_size both are scaled by
  max_size / long; each size is then rounded with `int(x + 0.5)` (Detectron: `np.round` of the scale times
  the side, and the max-size test on the rounded side). The uint8 image is resized by PIL's bilinear filter,
  which is antialiased when shrinking (Detectron: cv2.resize, which is not), and stays uint8;
* normalise: (x - pixel_mean) / pixel_std in the config's channel order (BGR for every zoo row);
* pad: zeros at the bottom and right to a multiple of the backbone's size divisibility (32 for FPN; none for
  C4 and DC5), or to a fixed square when the config asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image


def output_size(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """ResizeShortestEdge.get_output_shape: (new height, new width)."""
    size = short * 1.0
    scale = size / min(height, width)
    new_h, new_w = (size, scale * width) if height < width else (scale * height, size)
    if max(new_h, new_w) > max_size:
        scale = max_size * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """ResizeTransform.apply_image for uint8 images: PIL bilinear."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class ModelInput:
    """The normalised, padded batch of one image and the sizes Detectron2 keeps with it."""

    tensor: torch.Tensor  # (1, 3, H_pad, W_pad)
    image_size: tuple[int, int]  # resized (height, width) before padding: ImageList.image_sizes
    original_size: tuple[int, int]


def model_input(rgb: np.ndarray, *, short: int, max_size: int, input_format: str, pixel_mean: tuple[float, ...],
                pixel_std: tuple[float, ...], size_divisibility: int, square_pad: int, device: str | torch.device,
                ) -> ModelInput:
    """An RGB uint8 (H, W, 3) image as Detectron2 feeds it to the network."""
    height, width = rgb.shape[:2]
    image = np.ascontiguousarray(rgb[:, :, ::-1]) if input_format == "BGR" else np.ascontiguousarray(rgb)
    new_h, new_w = output_size(height, width, short, max_size)
    image = resize(image, new_h, new_w)
    if not image.flags.writeable:
        image = image.copy()
    tensor = torch.from_numpy(image).to(device).permute(2, 0, 1).float()
    mean = torch.tensor(pixel_mean, dtype=torch.float32, device=tensor.device).view(3, 1, 1)
    std = torch.tensor(pixel_std, dtype=torch.float32, device=tensor.device).view(3, 1, 1)
    tensor = (tensor - mean) / std
    pad_h, pad_w = padded_size(new_h, new_w, size_divisibility, square_pad)
    batch = tensor.new_zeros((1, 3, pad_h, pad_w))
    batch[0, :, :new_h, :new_w] = tensor
    return ModelInput(batch, (new_h, new_w), (height, width))


def padded_size(height: int, width: int, size_divisibility: int, square_pad: int) -> tuple[int, int]:
    """ImageList.from_tensors: a square of `square_pad` if set, then up to a multiple of `size_divisibility`."""
    if square_pad > 0:
        height, width = max(square_pad, height), max(square_pad, width)
    if size_divisibility > 1:
        return (-(-height // size_divisibility) * size_divisibility, -(-width // size_divisibility) * size_divisibility)
    return height, width
