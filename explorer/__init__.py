"""Detectron Zoo Explorer: choose an object-detection model from the published zoos and see it work."""

__version__ = "0.1.0"
