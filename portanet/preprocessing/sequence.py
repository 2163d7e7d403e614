"""``keras.preprocessing.sequence``: the same ``pad_sequences`` as ``portanet.utils``."""

from ..data import pad_sequences

__all__ = ["pad_sequences"]
