"""``keras.utils.bounding_boxes``: bounding-box formats, conversion, clipping, affine moves,
crop and pad, anchor deltas and IoU, as Keras 3.

The functions live in ``portanet/layers/bounding_boxes.py`` (the geometric image layers use
them, and layers may not import utils); this module is their public name.
"""

from ..layers.bounding_boxes import (affine_transform, clip_to_image_size, compute_ciou,
                                     compute_iou, convert_format, crop, decode_deltas_to_boxes,
                                     encode_box_to_deltas, pad)

__all__ = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou",
           "convert_format", "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]
