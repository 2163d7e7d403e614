"""Data sets: the bundled 8x8 digits (no download) and Keras-style downloaders."""

from . import digits

__all__ = ["digits"]
