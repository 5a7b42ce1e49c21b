"""Detectron checkpoints: the restricted unpickler for `model_final.pkl`, blob -> state-dict conversion with its
cache, and spec -> runner loading."""
