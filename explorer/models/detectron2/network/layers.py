"""Convolutions with an optional norm, named as Detectron2 names them (`<conv>.weight`, `<conv>.norm.*`).

Detectron2 wraps `nn.Conv2d` so that a conv owns its norm as the child `norm`; the zoo checkpoints store
`conv1.weight`, `conv1.norm.weight`, `conv1.norm.running_var`, ... Our `Conv2d` has the same children, so
a checkpoint's names are our state dict's keys. At test time every norm of these configs (FrozenBN, BN,
SyncBN, NaiveSyncBN) is `x * weight / sqrt(running_var + eps) + bias - running_mean * ...`: `Norm` computes
exactly that, and `fold_norms` moves it into the conv before it for speed (inference only).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORM_EPS = 1e-5  # FrozenBatchNorm2d's and BatchNorm2d's default, which every zoo config keeps
NORMS = ("FrozenBN", "BN", "SyncBN", "NaiveSyncBN")


class Norm(nn.Module):
    """A batch norm at test time: four buffers, an affine transform with the running statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels) - NORM_EPS)

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.weight * (self.running_var + NORM_EPS).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift()
        return x * scale.view(1, -1, 1, 1).to(x.dtype) + shift.view(1, -1, 1, 1).to(x.dtype)


def make_norm(norm: str, channels: int) -> Norm | None:
    if not norm:
        return None
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r} is not supported at test time (known: {', '.join(NORMS)})")
    return Norm(channels)


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` with an optional `norm` child and ReLU; a conv with a norm has no bias, as in Detectron2."""

    def __init__(self, dim_in: int, dim_out: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, norm: str = "", relu: bool = False,
                 bias: bool | None = None) -> None:
        super().__init__(dim_in, dim_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                         bias=(not norm) if bias is None else bias)
        self.norm = make_norm(norm, dim_out)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        return F.relu_(x) if self.relu else x

    @torch.no_grad()
    def fold(self) -> None:
        """Fold the norm into weight and bias (the state dict then loses the norm's keys)."""
        if self.norm is None:
            return
        scale, shift = self.norm.scale_shift()  # new tensors: the loaded state dict is left as it was
        self.weight = nn.Parameter(self.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
        bias = shift if self.bias is None else self.bias * scale + shift
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.norm = None


def fold_norms(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, Conv2d):
            module.fold()
