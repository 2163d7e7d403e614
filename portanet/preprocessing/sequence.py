"""``keras.preprocessing.sequence``: the same ``pad_sequences`` as ``portanet.utils``."""

from ..utils.sequence import pad_sequences

__all__ = ["pad_sequences"]
