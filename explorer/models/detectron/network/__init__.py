"""Detectron's networks on PyTorch: ResNet/ResNeXt bodies, FPN, RPN, box/mask/keypoint heads, RetinaNet, anchors;
every tensor named after the Caffe2 blob it is loaded from."""
