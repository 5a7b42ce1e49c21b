"""Detectron2's model zoo (`model_final_*.pkl` checkpoints) rebuilt on PyTorch and torchvision ops."""
