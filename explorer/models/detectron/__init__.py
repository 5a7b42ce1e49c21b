"""Detectron's 12_2017 model zoo (Caffe2 `model_final.pkl` checkpoints) rebuilt on PyTorch and torchvision ops.

Modules, one job each (torch is imported only by the ones that build or run a network):

* `coco`, `errors`, `arch` (config row -> `DetectronArch`), `pickle_safe` (restricted unpickler), `anchors`:
  plain Python / numpy, safe to import from the zoo pages;
* `layers`, `resnet`, `fpn`, `rpn`, `heads`, `retinanet`, `model`: the network, every tensor named after the
  Caffe2 blob it is loaded from;
* `boxes`, `preprocess`, `postprocess`, `pipeline`, `tta`: Detectron's test-time computations;
* `convert` (blobs -> state dict, with the cache of converted checkpoints), `loading` (spec -> runner),
  `runner` (the catalog's `Runner`), `family` (the catalog's `ModelFamily`), `cli` (`convert`, `verify`).

DIFFERENCES.md lists every place where this port deliberately or unavoidably differs from Detectron.
"""
