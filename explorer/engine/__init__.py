"""The inference engine: device choice, the bounded model cache, one inference queue per device, and batched
prediction over files.

Importing this package imports no torch; its modules import torch only where they run a model.
"""
