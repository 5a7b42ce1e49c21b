"""Detectron's 12_2017 model zoo (Caffe2 `model_final.pkl` checkpoints) rebuilt on PyTorch and torchvision ops.

`network` builds the models (every tensor named after the Caffe2 blob it is loaded from), `inference` runs
Detectron's test-time steps on them, and `checkpoint` reads and converts `model_final.pkl`; the family (specs
without torch, for the zoo pages) and the runner sit at the top. DIFFERENCES.md lists every place where this port
deliberately or unavoidably differs from Detectron.
"""
