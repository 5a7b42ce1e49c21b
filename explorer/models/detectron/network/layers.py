"""Layers that know which Caffe2 blobs fill them.

Every layer with weights is built with the blob prefix Detectron gives it (`res2_0_branch2a`, `fpn_res5_2_sum`,
`conv5_mask`, ...), and `blob_names()` maps each of its tensors to the blob that fills it. The converter walks
the model and fills every tensor that way; nothing else maps names, so the network definition and the
checkpoint layout cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import nn


class BlobConv(nn.Conv2d):
    """A convolution filled from `<blob>_w` (and `<blob>_b` when it has a bias); Caffe2's layout is torch's."""

    def __init__(self, blob: str, dim_in: int, dim_out: int, kernel: int, *, stride: int = 1, pad: int = 0,
                 dilation: int = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__(dim_in, dim_out, kernel, stride=stride, padding=pad, dilation=dilation, groups=groups,
                         bias=bias)
        self.blob = blob

    def blob_names(self) -> dict[str, str]:
        return {"weight": f"{self.blob}_w", **({"bias": f"{self.blob}_b"} if self.bias is not None else {})}


class BlobConvTranspose(nn.ConvTranspose2d):
    """A transposed convolution; Caffe2 stores its weight (dim_in, dim_out, k, k), as torch does."""

    def __init__(self, blob: str, dim_in: int, dim_out: int, kernel: int, *, stride: int, pad: int) -> None:
        super().__init__(dim_in, dim_out, kernel, stride=stride, padding=pad)
        self.blob = blob

    def blob_names(self) -> dict[str, str]:
        return {"weight": f"{self.blob}_w", "bias": f"{self.blob}_b"}


class BlobLinear(nn.Linear):
    """Caffe2's FC: weight (dim_out, dim_in) over the flattened (C, H, W) input, as torch's Linear."""

    def __init__(self, blob: str, dim_in: int, dim_out: int) -> None:
        super().__init__(dim_in, dim_out)
        self.blob = blob

    def blob_names(self) -> dict[str, str]:
        return {"weight": f"{self.blob}_w", "bias": f"{self.blob}_b"}


class AffineChannel(nn.Module):
    """Detectron's frozen batch norm: y = x * scale + bias per channel, from `<blob>_s` and `<blob>_b`.

    The ImageNet batch-norm statistics were folded into scale and bias before detection training, and
    Detectron never updates them, so there is no mean, variance or epsilon to apply.
    """

    def __init__(self, blob: str, dim: int) -> None:
        super().__init__()
        self.blob = blob
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("bias", torch.zeros(dim))

    def blob_names(self) -> dict[str, str]:
        return {"scale": f"{self.blob}_s", "bias": f"{self.blob}_b"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias.view(1, -1, 1, 1), x, self.scale.view(1, -1, 1, 1))


class ConvAffine(nn.Module):
    """Detectron's ConvAffine: a bias-free conv `<prefix>` followed by AffineChannel `<prefix>_bn`."""

    def __init__(self, prefix: str, dim_in: int, dim_out: int, kernel: int, *, stride: int = 1, pad: int = 0,
                 dilation: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = BlobConv(prefix, dim_in, dim_out, kernel, stride=stride, pad=pad, dilation=dilation,
                             groups=groups, bias=False)
        self.affine = AffineChannel(f"{prefix}_bn", dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.affine(self.conv(x))

    def fold(self) -> None:
        """Fold the affine into the conv (weight * scale, bias) for inference: same function, one pass less."""
        fold_affine_into(self.conv, self.affine)
        self.affine = nn.Identity()  # type: ignore[assignment]


@torch.no_grad()
def fold_affine_into(conv: nn.Conv2d, affine: AffineChannel) -> None:
    """conv(x) * scale + bias == conv'(x) with weight * scale (per output channel) and bias `bias`."""
    conv.weight.mul_(affine.scale.view(-1, 1, 1, 1).to(conv.weight.dtype))
    conv.bias = nn.Parameter(affine.bias.detach().clone().to(conv.weight.dtype), requires_grad=False)


def fold_affines(model: nn.Module) -> None:
    """Fold every ConvAffine (and anything else exposing `fold()`) of an inference model."""
    for module in list(model.modules()):
        fold = getattr(module, "fold", None)
        if fold is not None:
            fold()


def blob_map(model: nn.Module) -> dict[str, str]:
    """state_dict key -> the Caffe2 blob that fills it, for every blob-named layer of `model`."""
    mapping: dict[str, str] = {}
    for prefix, module in model.named_modules():
        names = getattr(module, "blob_names", None)
        if names is None:
            continue
        for local, blob in names().items():
            mapping[f"{prefix}.{local}" if prefix else local] = blob
    return mapping


def bias_free_convs(model: nn.Module) -> set[str]:
    """Blob prefixes of convolutions without a bias: a `<prefix>_b` blob in a checkpoint is never read."""
    return {module.blob for module in model.modules() if isinstance(module, BlobConv) and module.bias is None}
