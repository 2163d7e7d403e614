"""Keras 3's ``keras.preprocessing`` namespace: ``preprocessing.sequence.pad_sequences``.

The preprocessing *layers* (Normalization, ...) are in ``portanet.layers``.
"""

from . import sequence

__all__ = ["sequence"]
