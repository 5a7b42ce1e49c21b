"""Detectron2 checkpoints (`model_final_*.pkl`): read with the restricted unpickler, checked name by name and
shape by shape against the architecture, and loaded into the network."""
