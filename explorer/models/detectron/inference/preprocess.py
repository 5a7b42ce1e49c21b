"""Detectron's input blob (utils/blob.py: get_image_blob) from an RGB uint8 image.

BGR channel order, Detectron's pixel means subtracted and no division by a std (the Caffe2 ImageNet models
were trained on 0..255 BGR input), the shorter side scaled to the test scale unless the longer side would
then exceed the max size, bilinear resizing exactly as cv2.resize(fx=fy=scale) does it (output size rounded,
sampling positions from the scale itself), and zero padding (after mean subtraction) at the bottom and right
to a multiple of the coarsest FPN stride.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.models.detectron.network.rpn import ImageInfo


@dataclass(frozen=True)
class ImageBlob:
    """The network input (1, 3, H, W), its im_info (the padded size), the original and the resized size."""

    data: torch.Tensor
    info: ImageInfo
    orig_height: int
    orig_width: int
    resized_height: int
    resized_width: int

    @property
    def scale(self) -> float:
        return self.info.scale

    @property
    def unpadded_info(self) -> ImageInfo:
        """The im_info of Detectron's rpn_generator and RetinaNet blobs: the resized image before padding."""
        return ImageInfo(self.resized_height, self.resized_width, self.info.scale)


def image_scale(height: int, width: int, target: int, max_size: int) -> float:
    """target / shorter side, unless the longer side would round to more than max_size (prep_im_for_blob)."""
    scale = float(target) / float(min(height, width))
    if np.round(scale * max(height, width)) > max_size:
        scale = float(max_size) / float(max(height, width))
    return scale


def to_tensor(image: np.ndarray | torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """An RGB uint8 (H, W, 3) image as a float32 BGR (1, 3, H, W) tensor on `device`."""
    tensor = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    return tensor.to(device).permute(2, 0, 1).flip(0).unsqueeze(0).float()


def make_blob(bgr: torch.Tensor, pixel_means: tuple[float, ...], target: int, max_size: int, pad_stride: int,
              ) -> ImageBlob:
    """`bgr` is (1, 3, H, W) float in 0..255; returns the mean-subtracted, resized, padded input."""
    height, width = bgr.shape[-2:]
    scale = image_scale(height, width, target, max_size)
    means = torch.tensor(pixel_means, dtype=torch.float64, device=bgr.device).view(1, 3, 1, 1)
    centred = (bgr.double() - means).float()  # float32 -= float64 means: numpy subtracts in float64
    out_h, out_w = round(height * scale), round(width * scale)
    if (out_h, out_w) != (height, width) or scale != 1.0:
        centred = torch.ops.aten.upsample_bilinear2d(centred, [out_h, out_w], False, scale, scale)
    pad_h = int(math.ceil(out_h / pad_stride) * pad_stride) if pad_stride else out_h
    pad_w = int(math.ceil(out_w / pad_stride) * pad_stride) if pad_stride else out_w
    if (pad_h, pad_w) != (out_h, out_w):
        padded = centred.new_zeros((1, 3, pad_h, pad_w))
        padded[:, :, :out_h, :out_w] = centred
        centred = padded
    return ImageBlob(data=centred.contiguous(), info=ImageInfo(pad_h, pad_w, scale), orig_height=int(height),
                     orig_width=int(width), resized_height=int(out_h), resized_width=int(out_w))
