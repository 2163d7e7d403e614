"""Keras 3's ``keras.preprocessing`` namespace: ``preprocessing.sequence.pad_sequences``.

The preprocessing *layers* (Normalization, ...) are in ``portanet.layers``.
"""

from . import sequence
from . import image
from ..utils.image_utils import image_dataset_from_directory

__all__ = ["sequence"]
__all__ += ["image", "image_dataset_from_directory"]
