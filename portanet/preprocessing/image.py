"""Keras 3's ``keras.preprocessing.image`` namespace: the names Keras 3.15 keeps there
(``array_to_img``, ``img_to_array``, ``load_img``, ``save_img``, ``smart_resize``); they live
in ``portanet.utils.image_utils``."""

from ..utils.image_utils import array_to_img, img_to_array, load_img, save_img, smart_resize

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
