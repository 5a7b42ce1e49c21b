"""Detectron2's networks on PyTorch, every module named as in Detectron2, so that a zoo checkpoint's parameter
names are our state dict's keys."""
