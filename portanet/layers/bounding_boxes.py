"""Bounding boxes as Keras 3 has them (keras/src/layers/preprocessing/image_preprocessing/
bounding_boxes: converters.py, bounding_box.py, iou.py), written with ``portanet.ops``, so
they run on every backend; ``pn.utils.bounding_boxes`` re-exports the public functions.

Formats (case-insensitive): ``"xyxy"`` [left, top, right, bottom], ``"yxyx"``,
``"xywh"`` [left, top, width, height], ``"center_xywh"`` [center x, center y, width, height],
``"center_yxhw"``, and the relative forms ``"rel_xyxy"``, ``"rel_yxyx"``, ``"rel_xywh"``,
``"rel_center_xywh"`` (coordinates divided by the image width and height). Boxes are arrays of
shape ``(N, 4)`` or ``(batch, N, 4)``, or Keras's dict ``{"boxes": ..., "labels": ...}``.

The second half holds the box math of the geometric image layers (each layer's
``transform_bounding_boxes(bounding_boxes, transformation, training)`` calls one function
here with Keras's transformation dict), and the two mixins that give those layers Keras's
``bounding_box_format`` argument and dict inputs ``{"images", "bounding_boxes", "labels"}``.
Where Keras 3.15.1's layer math has quirks (RandomRotation reads the boxes as xyxy whatever
the format; RandomPerspective returns xyxy; RandomCrop subtracts the row offset from x), the
numbers here are Keras's, so boxes agree with Keras for the same transformation.
"""

import math
import numbers

from .. import backend as _backend
from .. import config as _config
from .. import ops as O

__all__ = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou",
           "convert_format", "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
                     "rel_yxyx", "rel_xywh", "rel_center_xywh")


def _split4(boxes):
    return O.split(boxes, 4, axis=-1)


def _cat(parts):
    return O.concatenate(parts, axis=-1)


def _check_format(value, name, owner, allowed=SUPPORTED_FORMATS):
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{owner}: {name}={value!r}; expected one of {allowed}")
    return value.lower()


def _tensor(value, name, owner):
    if isinstance(value, dict):
        raise ValueError(f"{owner}: {name} is a dict; expected an array of boxes")
    t = O.convert_to_tensor(value)
    if len(t.shape) == 0 or t.shape[-1] != 4:
        raise ValueError(f"{owner}: {name} has shape {tuple(t.shape)}; expected a last "
                         f"dimension of 4 ((N, 4) or (batch, N, 4))")
    return t


# ----------------------------------------------------------------------------- to/from xyxy
def _to_xyxy(fmt, boxes, height, width):
    a, b, c, d = _split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat([b, a, d, c])
    if fmt == "xywh":
        return _cat([a, b, a + c, b + d])
    if fmt in ("center_xywh", "center_yxhw"):
        cx, cy, w, h = (a, b, c, d) if fmt == "center_xywh" else (b, a, d, c)
        half_w, half_h = w / 2.0, h / 2.0
        return _cat([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    if fmt == "rel_xyxy":
        return _cat([a * width, b * height, c * width, d * height])
    if fmt == "rel_yxyx":
        return _cat([b * width, a * height, d * width, c * height])
    if fmt == "rel_xywh":
        return _cat([a * width, b * height, (a + c) * width, (b + d) * height])
    # rel_center_xywh
    half_w, half_h = c / 2.0, d / 2.0
    return _cat([(a - half_w) * width, (b - half_h) * height, (a + half_w) * width,
                 (b + half_h) * height])


def _from_xyxy(fmt, boxes, height, width):
    x1, y1, x2, y2 = _split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat([y1, x1, y2, x2])
    if fmt == "xywh":
        return _cat([x1, y1, x2 - x1, y2 - y1])
    if fmt in ("center_xywh", "center_yxhw"):
        cx = x1 + ((x2 - x1) / 2.0)
        cy = y1 + ((y2 - y1) / 2.0)
        w, h = x2 - x1, y2 - y1
        return _cat([cx, cy, w, h] if fmt == "center_xywh" else [cy, cx, h, w])
    if fmt in ("rel_xyxy", "rel_yxyx"):
        rx1, ry1 = O.divide(x1, width), O.divide(y1, height)
        rx2, ry2 = O.divide(x2, width), O.divide(y2, height)
        return _cat([rx1, ry1, rx2, ry2] if fmt == "rel_xyxy" else [ry1, rx1, ry2, rx2])
    if fmt == "rel_xywh":
        return _cat([x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height])
    # rel_center_xywh
    return _cat([(x1 + ((x2 - x1) / 2.0)) / width, (y1 + ((y2 - y1) / 2.0)) / height,
                 (x2 - x1) / width, (y2 - y1) / height])


def _size(value, dtype):
    """An image height or width: a Python number stays one, an array is cast to ``dtype``."""
    if value is None or isinstance(value, numbers.Real):
        return None if value is None else float(value)
    return O.cast(value, dtype)


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts bounding boxes between formats (Keras's
    ``keras.utils.bounding_boxes.convert_format``).

    Args:
        boxes: an array of shape ``(..., 4)``, or a dict with ``"boxes"`` (converted in place,
            as Keras; the dict is returned).
        source: the format of ``boxes`` (see the module docstring; case-insensitive).
        target: the format to return.
        height: the image height (required when either format is relative).
        width: the image width (required when either format is relative).
        dtype: the dtype of the result (default "float32").

    Returns:
        The converted boxes (same shape), or the dict with its ``"boxes"`` converted.

    Example:
        >>> convert_format(np.array([[10, 20, 30, 40]]), "xyxy", "xywh")
        array([[10., 20., 20., 20.]], dtype=float32)
    """
    owner = "convert_format"
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source=source, target=target,
                                        height=height, width=width, dtype=dtype)
        return boxes
    boxes = _tensor(boxes, "boxes", owner)
    source = _check_format(source, "source", owner)
    target = _check_format(target, "target", owner)
    if (source.startswith("rel_") or target.startswith("rel_")) and (
            width is None or height is None):
        raise ValueError(f"{owner}: source={source!r}, target={target!r} need the image size; "
                         f"got height={height!r} and width={width!r} (expected both)")
    boxes = O.cast(boxes, dtype)
    if source == target:
        return boxes
    width, height = _size(width, boxes.dtype), _size(height, boxes.dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    return _from_xyxy(target, _to_xyxy(source, boxes, height, width), height, width)


def _area_xyxy(boxes):
    x1, y1, x2, y2 = _split4(boxes)
    return (x2 - x1) * (y2 - y1)


def _clip(x, low, high):
    return O.minimum(O.maximum(x, low), high)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips boxes to the image (Keras's ``keras.utils.bounding_boxes.clip_to_image_size``):
    ``[0, width] x [0, height]`` for "xyxy", ``[0, 1]`` for "rel_xyxy"; a label whose box
    is left with no area becomes -1.

    Args:
        bounding_boxes: a dict with ``"boxes"`` ``(N, 4)`` or ``(batch, N, 4)`` and, optionally,
            ``"labels"`` ``(N,)`` or ``(batch, N)``.
        height: the image height (required for "xyxy").
        width: the image width (required for "xyxy").
        bounding_box_format: "xyxy" (default) or "rel_xyxy".

    Returns:
        A new dict with the clipped boxes (and labels).
    """
    owner = "clip_to_image_size"
    fmt = _check_format(bounding_box_format, "bounding_box_format", owner, ("xyxy", "rel_xyxy"))
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes:
        raise ValueError(f"{owner}: bounding_boxes={type(bounding_boxes).__name__}; expected a "
                         f"dict with 'boxes' (and 'labels')")
    if fmt == "xyxy" and (height is None or width is None):
        raise ValueError(f"{owner}: bounding_box_format='xyxy' needs height and width; got "
                         f"height={height!r}, width={width!r}")
    boxes = _tensor(bounding_boxes["boxes"], "bounding_boxes['boxes']", owner)
    labels = bounding_boxes.get("labels", None)
    if fmt == "xyxy":
        width, height = _size(width, boxes.dtype), _size(height, boxes.dtype)
    else:
        width = height = 1.0
    x1, y1, x2, y2 = _split4(boxes)
    boxes = _cat([_clip(x1, 0.0, width), _clip(y1, 0.0, height), _clip(x2, 0.0, width),
                  _clip(y2, 0.0, height)])
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        areas = O.squeeze(_area_xyxy(boxes), axis=-1)
        labels = O.convert_to_tensor(labels)
        result["labels"] = O.where(areas > 0, labels, O.cast(-1, labels.dtype))
    return result


def _vector(value, batch, dtype):
    v = O.cast(O.convert_to_tensor(value), dtype)
    if len(v.shape) == 0:
        v = O.ones((batch,), dtype=dtype) * v
    return v


def _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x,
                           shear_y, height, width):
    """Keras's ``BoundingBox._compute_inverse_affine_matrix``: (batch, 3, 3)."""
    angle = O.convert_to_tensor(angle)
    batch, dtype = angle.shape[0], angle.dtype
    translate_x, translate_y, scale, shear_x, shear_y = (
        _vector(v, batch, dtype) for v in (translate_x, translate_y, scale, shear_x, shear_y))
    angle, shear_x, shear_y = -angle, -shear_x, -shear_y
    cx = center_x * (width - 1)
    cy = center_y * (height - 1)
    rot = angle * (1.0 / 180.0 * math.pi)
    tx = -translate_x * (width - 1)
    ty = -translate_y * (height - 1)
    sx = shear_x * (1.0 / 180.0 * math.pi)
    sy = shear_y * (1.0 / 180.0 * math.pi)
    cos_sy, tan_sx = O.cos(sy), O.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx, cy_plus_ty = cx + tx, cy + ty
    a = O.cos(rot_minus_sy) / cos_sy
    b = a * tan_sx + O.sin(rot)
    c = -O.sin(rot_minus_sy) / cos_sy
    d = O.cos(rot) - c * tan_sx
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    zeros, ones = O.zeros((batch,), dtype=dtype), O.ones((batch,), dtype=dtype)
    matrix = O.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ones], axis=-1)
    return O.reshape(matrix, (batch, 3, 3))


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Moves boxes through an affine transform (Keras's
    ``keras.utils.bounding_boxes.affine_transform``): each box's four corners go through the
    inverse of the image transform, and the result is their enclosing box.

    Args:
        boxes: ``(batch, N, 4)`` boxes in "xyxy".
        angle: ``(batch,)`` rotation angles in degrees.
        translate_x: ``(batch,)`` horizontal translations (fractions of the width).
        translate_y: ``(batch,)`` vertical translations (fractions of the height).
        scale: ``(batch,)`` scaling factors.
        shear_x: ``(batch,)`` shear angles along x in degrees.
        shear_y: ``(batch,)`` shear angles along y in degrees.
        height: the image height.
        width: the image width.
        center_x: the x of the transform center (a fraction; default 0.5).
        center_y: the y of the transform center (a fraction; default 0.5).
        bounding_box_format: only "xyxy" (as Keras).

    Returns:
        ``(batch, N, 4)`` boxes in "xyxy", in the dtype of ``angle``.
    """
    owner = "affine_transform"
    _check_format(bounding_box_format, "bounding_box_format", owner, ("xyxy",))
    boxes = _tensor(boxes, "boxes", owner)
    if len(boxes.shape) != 3:
        raise ValueError(f"{owner}: boxes has shape {tuple(boxes.shape)}; expected "
                         f"(batch, N, 4)")
    batch, n = boxes.shape[0], boxes.shape[1]
    matrix = _inverse_affine_matrix(0.5 if center_x is None else center_x,
                                    0.5 if center_y is None else center_y, angle, translate_x,
                                    translate_y, scale, shear_x, shear_y, height, width)
    boxes = O.cast(boxes, matrix.dtype)
    transposed = O.transpose(matrix[:, :2, :], (0, 2, 1))
    points = O.stack([boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 1],
                      boxes[..., 2], boxes[..., 3], boxes[..., 0], boxes[..., 3]], axis=-1)
    points = O.reshape(points, (batch, n, 4, 2))
    points = O.concatenate([points, O.ones((batch, n, 4, 1), dtype=points.dtype)], axis=-1)
    moved = O.einsum("bnxy,byz->bnxz", points, transposed)
    return O.concatenate([O.amin(moved, axis=2), O.amax(moved, axis=2)], axis=-1)


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Boxes relative to the crop window at (``top``, ``left``) of size ``height x width``,
    clipped to it (Keras's ``keras.utils.bounding_boxes.crop``).

    Args:
        boxes: ``(N, 4)`` or ``(batch, N, 4)`` boxes in "xyxy".
        top: the window's top row.
        left: the window's left column.
        height: the window's height.
        width: the window's width.
        bounding_box_format: only "xyxy" (as Keras).

    Returns:
        The cropped boxes, same shape.
    """
    owner = "crop"
    _check_format(bounding_box_format, "bounding_box_format", owner, ("xyxy",))
    x1, y1, x2, y2 = _split4(_tensor(boxes, "boxes", owner))
    return _cat([_clip(x1 - left, 0, width), _clip(y1 - top, 0, height),
                 _clip(x2 - left, 0, width), _clip(y2 - top, 0, height)])


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Boxes of an image padded by ``top`` rows and ``left`` columns (Keras's
    ``keras.utils.bounding_boxes.pad``); ``height`` and ``width`` are accepted and unused,
    as in Keras.

    Args:
        boxes: ``(N, 4)`` or ``(batch, N, 4)`` boxes in "xyxy".
        top: rows added above.
        left: columns added on the left.
        height: unused.
        width: unused.
        bounding_box_format: only "xyxy" (as Keras).

    Returns:
        The shifted boxes, same shape.
    """
    owner = "pad"
    _check_format(bounding_box_format, "bounding_box_format", owner, ("xyxy",))
    x1, y1, x2, y2 = _split4(_tensor(boxes, "boxes", owner))
    return _cat([x1 + left, y1 + top, x2 + left, y2 + top])


def _variance(variance, owner):
    if variance is None:
        return None
    v = O.convert_to_tensor(variance, dtype="float32")
    if len(v.shape) == 0 or v.shape[-1] != 4:
        raise ValueError(f"{owner}: variance={variance!r}; expected 4 numbers")
    return v


def _image_hw(image_shape, owner):
    if image_shape is None:
        return None, None
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
        raise ValueError(f"{owner}: image_shape={image_shape!r}; expected (height, width, "
                         f"channels)")
    return image_shape[0], image_shape[1]


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format,
                         encoding_format="center_yxhw", variance=None, image_shape=None):
    """Encodes boxes as deltas from anchors (Keras's
    ``keras.utils.bounding_boxes.encode_box_to_deltas``): in ``encoding_format`` the center
    offset divided by the anchor size and the log of the size ratio (sizes floored at
    epsilon), divided by ``variance`` when given.

    Args:
        anchors: ``(N, 4)`` anchors in ``anchor_format``.
        boxes: ``(N, 4)`` or ``(batch, N, 4)`` boxes in ``box_format``.
        anchor_format: the format of ``anchors``.
        box_format: the format of ``boxes``.
        encoding_format: "center_yxhw" (default) or "center_xywh".
        variance: None or 4 numbers dividing the deltas.
        image_shape: ``(height, width, channels)``, needed by relative formats.

    Returns:
        The deltas, the shape of ``boxes``.
    """
    owner = "encode_box_to_deltas"
    variance = _variance(variance, owner)
    _check_format(encoding_format, "encoding_format", owner, ("center_xywh", "center_yxhw"))
    height, width = _image_hw(image_shape, owner)
    anchors = convert_format(anchors, source=anchor_format, target=encoding_format,
                             height=height, width=width)
    boxes = convert_format(boxes, source=box_format, target=encoding_format, height=height,
                           width=width)
    eps = _config.epsilon()
    anchor_dims = O.maximum(anchors[..., 2:], eps)
    box_dims = O.maximum(boxes[..., 2:], eps)
    delta = O.concatenate([(boxes[..., :2] - anchors[..., :2]) / anchor_dims,
                           O.log(box_dims / anchor_dims)], axis=-1)
    if variance is not None:
        delta = delta / variance
    return delta


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """Decodes deltas from anchors into boxes in ``box_format`` (Keras's
    ``keras.utils.bounding_boxes.decode_deltas_to_boxes``; the inverse of
    ``encode_box_to_deltas``).

    Args:
        anchors: ``(N, 4)`` anchors in ``anchor_format``, or a dict of them per level.
        boxes_delta: ``(N, 4)`` or ``(batch, N, 4)`` deltas (a dict with the keys of
            ``anchors`` when ``anchors`` is a dict).
        anchor_format: the format of ``anchors``.
        box_format: the format of the returned boxes.
        encoded_format: "center_yxhw" (default) or "center_xywh".
        variance: None or 4 numbers multiplying the deltas.
        image_shape: ``(height, width, channels)``, needed by relative formats.

    Returns:
        The boxes (a dict per level when ``anchors`` is a dict).
    """
    owner = "decode_deltas_to_boxes"
    variance = _variance(variance, owner)
    _check_format(encoded_format, "encoded_format", owner, ("center_xywh", "center_yxhw"))
    height, width = _image_hw(image_shape, owner)

    def decode(anchor, delta):
        anchor = convert_format(anchor, source=anchor_format, target=encoded_format,
                                height=height, width=width)
        delta = O.convert_to_tensor(delta)
        if variance is not None:
            delta = delta * variance
        box = O.concatenate([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                             O.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, source=encoded_format, target=box_format, height=height,
                              width=width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(a, boxes_delta[level]) for level, a in anchors.items()}
    return decode(anchors, boxes_delta)


def _transpose_last(x):
    perm = (1, 0) if len(x.shape) == 2 else (0, 2, 1)
    return O.transpose(x, perm)


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """Pairwise intersection over union (Keras's ``keras.utils.bounding_boxes.compute_iou``):
    ``(M, 4)`` x ``(N, 4)`` -> ``(M, N)``; with a batch on either side ``(batch, M, N)``.

    Args:
        boxes1: ``(M, 4)`` or ``(batch, M, 4)`` boxes.
        boxes2: ``(N, 4)`` or ``(batch, N, 4)`` boxes.
        bounding_box_format: the format of both.
        use_masking: give ``mask_val`` to pairs where either box has all four values < 0.
        mask_val: the masked value (default -1).
        image_shape: ``(height, width, channels)``, needed by relative formats.

    Returns:
        The IoU table.
    """
    owner = "compute_iou"
    boxes1 = _tensor(boxes1, "boxes1", owner)
    boxes2 = _tensor(boxes2, "boxes2", owner)
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if len(b.shape) not in (2, 3):
            raise ValueError(f"{owner}: {name} has shape {tuple(b.shape)}; expected rank 2 "
                             f"(N, 4) or 3 (batch, N, 4)")
    fmt = _check_format(bounding_box_format, "bounding_box_format", owner)
    if "rel" in fmt and image_shape is None:
        raise ValueError(f"{owner}: bounding_box_format={bounding_box_format!r} is relative; "
                         f"image_shape=None (expected (height, width, channels))")
    height, width = _image_hw(image_shape, owner)
    boxes1 = convert_format(boxes1, source=fmt, target="yxyx", height=height, width=width)
    boxes2 = convert_format(boxes2, source=fmt, target="yxyx", height=height, width=width)
    ymin1, xmin1, ymax1, xmax1 = _split4(boxes1)
    ymin2, xmin2, ymax2, xmax2 = _split4(boxes2)
    inter_h = O.maximum(O.minimum(ymax1, _transpose_last(ymax2))
                        - O.maximum(ymin1, _transpose_last(ymin2)), 0.0)
    inter_w = O.maximum(O.minimum(xmax1, _transpose_last(xmax2))
                        - O.maximum(xmin1, _transpose_last(xmin2)), 0.0)
    intersection = inter_h * inter_w
    area1 = (ymax1 - ymin1) * (xmax1 - xmin1)  # (..., M, 1)
    area2 = _transpose_last((ymax2 - ymin2) * (xmax2 - xmin2))  # (..., 1, N)
    union = area1 + area2 - intersection
    res = O.divide(intersection, union + _config.epsilon())
    if not use_masking:
        return res
    mask1 = O.less(O.max(boxes1, axis=-1, keepdims=True), 0.0)
    mask2 = O.less(O.max(boxes2, axis=-1, keepdims=True), 0.0)
    background = O.logical_or(mask1, _transpose_last(mask2))
    return O.where(background, O.cast(mask_val, res.dtype), res)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of matching boxes (Keras's ``keras.utils.bounding_boxes.compute_ciou``):
    IoU minus the squared center distance over the squared diagonal of the enclosing box,
    minus ``alpha·v`` (the aspect-ratio term).

    Args:
        boxes1: ``(..., 4)`` boxes.
        boxes2: ``(..., 4)`` boxes, the shape of ``boxes1``.
        bounding_box_format: their format (relative formats are refused, as in Keras).
        image_shape: ``(height, width, channels)``; unused by the absolute formats.

    Returns:
        ``(...)`` the CIoU of each pair.
    """
    owner = "compute_ciou"
    fmt = _check_format(bounding_box_format, "bounding_box_format", owner)
    if "rel" in fmt:
        raise ValueError(f"{owner}: bounding_box_format={bounding_box_format!r}; relative "
                         f"formats are not supported (as in Keras); expected an absolute one")
    height, width = _image_hw(image_shape, owner)
    boxes1 = convert_format(boxes1, source=fmt, target="xyxy", height=height, width=width)
    boxes2 = convert_format(boxes2, source=fmt, target="xyxy", height=height, width=width)
    eps = _config.epsilon()
    x_min1, y_min1, x_max1, y_max1 = _split4(boxes1)
    x_min2, y_min2, x_max2, y_max2 = _split4(boxes2)
    width_1, height_1 = x_max1 - x_min1, y_max1 - y_min1 + eps
    width_2, height_2 = x_max2 - x_min2, y_max2 - y_min2 + eps
    intersection = (O.maximum(O.minimum(x_max1, x_max2) - O.maximum(x_min1, x_min2), 0.0)
                    * O.maximum(O.minimum(y_max1, y_max2) - O.maximum(y_min1, y_min2), 0.0))
    union = width_1 * height_1 + width_2 * height_2 - intersection + eps
    iou = O.squeeze(O.divide(intersection, union + eps), axis=-1)
    convex_w = O.maximum(x_max1, x_max2) - O.minimum(x_min1, x_min2)
    convex_h = O.maximum(y_max1, y_max2) - O.minimum(y_min1, y_min2)
    diagonal = O.squeeze(convex_w ** 2 + convex_h ** 2 + eps, axis=-1)
    centers = O.squeeze(((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
                        + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2, axis=-1)
    v = O.squeeze((4 / math.pi ** 2) * O.power(O.arctan(width_2 / height_2)
                                                - O.arctan(width_1 / height_1), 2), axis=-1)
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers / diagonal + v * alpha)


# ----------------------------------------------------------------------------- the layers' box math
def _hw(shape, data_format):
    """(height, width) of an image shape (3 or 4 dims), as Keras reads transformation shapes."""
    shape = tuple(int(s) for s in shape)
    if data_format == "channels_first":
        return shape[-2], shape[-1]
    return shape[-3], shape[-2]


def _boxes_dict(bounding_boxes, owner):
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes:
        raise ValueError(f"{owner}: bounding_boxes={type(bounding_boxes).__name__}; expected a "
                         f"dict with 'boxes' and 'labels'")
    out = dict(bounding_boxes)
    out["boxes"] = _tensor(out["boxes"], "bounding_boxes['boxes']", owner)
    if out.get("labels") is not None:
        out["labels"] = O.convert_to_tensor(out["labels"])
    return out


def flip_boxes(bounding_boxes, transformation, mode, bounding_box_format, data_format):
    """RandomFlip's boxes: ``transformation`` holds "flips" (batch, 1, 1, 1) and
    "input_shape"; flipped in rel_xyxy (Keras clips with the pixel size there, as Keras)."""
    bb = _boxes_dict(bounding_boxes, "RandomFlip")
    flips = O.squeeze(O.convert_to_tensor(transformation["flips"]), axis=-1)
    h, w = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="rel_xyxy", height=h, width=w)
    boxes = bb["boxes"]
    if mode in ("horizontal", "horizontal_and_vertical"):
        x1, y1, x2, y2 = _split4(boxes)
        boxes = O.where(flips, _cat([1 - x2, y1, 1 - x1, y2]), boxes)
    if mode in ("vertical", "horizontal_and_vertical"):
        x1, y1, x2, y2 = _split4(boxes)
        boxes = O.where(flips, _cat([x1, 1 - y2, x2, 1 - y1]), boxes)
    bb["boxes"] = boxes
    bb = clip_to_image_size(bb, height=h, width=w, bounding_box_format="xyxy")
    return convert_format(bb, source="rel_xyxy", target=bounding_box_format, height=h, width=w)


def _matrix_point(matrix, x, y):
    """Keras's ``get_transformed_x_y``: a point through (batch, 8) transform rows."""
    a0, a1, a2, b0, b1, b2, c0, c1 = O.split(matrix, 8, axis=-1)
    k = c0 * x + c1 * y + 1
    return (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k


def translate_boxes(bounding_boxes, transformation, bounding_box_format, data_format):
    """RandomTranslation's boxes: "translations" (batch, 2) = (dx, dy) pixels, "input_shape"."""
    bb = _boxes_dict(bounding_boxes, "RandomTranslation")
    h, w = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="xyxy", height=h, width=w)
    t = O.convert_to_tensor(transformation["translations"])
    n = t.shape[0]
    zeros, ones = O.zeros((n, 1), dtype=t.dtype), O.ones((n, 1), dtype=t.dtype)
    matrix = O.concatenate([ones, zeros, -t[:, 0:1], zeros, ones, -t[:, 1:], zeros, zeros],
                           axis=1)
    w_shift, h_shift = _matrix_point(matrix, 0, 0)
    boxes = bb["boxes"]
    w_shift, h_shift = O.cast(w_shift, boxes.dtype), O.cast(h_shift, boxes.dtype)
    if len(boxes.shape) == 3:
        w_shift, h_shift = O.expand_dims(w_shift, -1), O.expand_dims(h_shift, -1)
    x1, y1, x2, y2 = _split4(boxes)
    bb["boxes"] = _cat([x1 - w_shift, y1 - h_shift, x2 - w_shift, y2 - h_shift])
    bb = clip_to_image_size(bb, height=h, width=w, bounding_box_format="xyxy")
    return convert_format(bb, source="xyxy", target=bounding_box_format, height=h, width=w)


def rotate_boxes(bounding_boxes, transformation, bounding_box_format):
    """RandomRotation's boxes: "angle" (batch,) degrees, "image_height", "image_width",
    "batch_size". As Keras 3.15.1, the input boxes are read as xyxy."""
    bb = _boxes_dict(bounding_boxes, "RandomRotation")
    h, w = int(transformation["image_height"]), int(transformation["image_width"])
    angle = O.convert_to_tensor(transformation["angle"])
    batch = int(transformation["batch_size"])
    zeros, ones = O.zeros((batch,), dtype=angle.dtype), O.ones((batch,), dtype=angle.dtype)
    bb["boxes"] = affine_transform(bb["boxes"], angle, zeros, zeros, ones, zeros, zeros, h, w)
    bb = clip_to_image_size(bb, height=h, width=w, bounding_box_format="xyxy")
    return convert_format(bb, source="xyxy", target=bounding_box_format, height=h, width=w)


def zoom_boxes(bounding_boxes, transformation, bounding_box_format, data_format):
    """RandomZoom's boxes: "height_zoom", "width_zoom" (batch, 1), "input_shape"."""
    bb = _boxes_dict(bounding_boxes, "RandomZoom")
    h, w = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="xyxy", height=h, width=w)
    zooms = O.cast(O.concatenate([O.convert_to_tensor(transformation["width_zoom"]),
                                  O.convert_to_tensor(transformation["height_zoom"])], axis=1),
                   "float32")
    n = zooms.shape[0]
    zeros = O.zeros((n, 1), dtype=zooms.dtype)
    x_off = ((float(w) - 1.0) / 2.0) * (1.0 - zooms[:, 0:1])
    y_off = ((float(h) - 1.0) / 2.0) * (1.0 - zooms[:, 1:])
    matrix = O.concatenate([zooms[:, 0:1], zeros, x_off, zeros, zooms[:, 1:], y_off, zeros,
                            zeros], axis=1)
    w_start, h_start = _matrix_point(matrix, 0, 0)
    w_end, h_end = _matrix_point(matrix, w, h)
    edges = (h_start, h_end, w_start, w_end)
    if len(bb["boxes"].shape) == 3:
        edges = tuple(O.expand_dims(e, -1) for e in edges)
    bb = _window(bb, *edges)
    new_h = O.expand_dims(h_end - h_start, -1)
    new_w = O.expand_dims(w_end - w_start, -1)
    bb = convert_format(bb, source="xyxy", target="rel_xyxy", height=new_h, width=new_w)
    bb = clip_to_image_size(bb, height=new_h, width=new_w, bounding_box_format="rel_xyxy")
    return convert_format(bb, source="rel_xyxy", target=bounding_box_format, height=h, width=w)


def shear_boxes(bounding_boxes, transformation, bounding_box_format, data_format, dtype):
    """RandomShear's boxes: "shear_factor" (batch, 2) = (sx, sy), "input_shape"; sheared in
    rel_xyxy as Keras."""
    bb = _boxes_dict(bounding_boxes, "RandomShear")
    h, w = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="rel_xyxy", height=h, width=w,
                        dtype=dtype)
    s = O.cast(O.convert_to_tensor(transformation["shear_factor"]), dtype)
    sx, sy = O.split(s, 2, axis=-1)
    x1, y1, x2, y2 = (O.squeeze(v, axis=-1) for v in _split4(bb["boxes"]))
    x1 = O.where(sx < 0, x1 - sx * y1, x1 - sx * y2)
    x2 = O.where(sx < 0, x2 - sx * y2, x2 - sx * y1)
    y1 = O.where(sy > 0, y1 - sy * x2, y1 - sy * x1)
    y2 = O.where(sy > 0, y2 - sy * x1, y2 - sy * x2)
    bb["boxes"] = O.stack([x1, y1, x2, y2], axis=-1)
    bb = clip_to_image_size(bb, height=h, width=w, bounding_box_format="rel_xyxy")
    return convert_format(bb, source="rel_xyxy", target=bounding_box_format, height=h, width=w,
                          dtype=dtype)


def homography_matrix(start_points, end_points):
    """Keras's ``ops.image.compute_homography_matrix``: (batch, 4, 2) x2 -> (batch, 8), the
    projective map from the end (output) points to the start (input) points (the one
    ``pn.ops.image`` uses for the images, so boxes and pixels move alike)."""
    return O.convert_to_tensor(O.image.homography(O.convert_to_numpy(start_points),
                                                  O.convert_to_numpy(end_points)))


def perspective_boxes(bounding_boxes, transformation, bounding_box_format, data_format, dtype):
    """RandomPerspective's boxes: "apply_perspective" (batch,), "start_points",
    "end_points" (batch, 4, 2), "input_shape": the corners through the inverse homography,
    their enclosing box, clipped; returned in xyxy (as Keras 3.15.1)."""
    bb = _boxes_dict(bounding_boxes, "RandomPerspective")
    h, w = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="xyxy", height=h, width=w)
    boxes = bb["boxes"]
    x0, y0, x1, y1 = _split4(boxes)
    m = O.cast(homography_matrix(transformation["start_points"], transformation["end_points"]),
               dtype)
    batch = m.shape[0]
    m = O.reshape(O.concatenate([m, O.ones((batch, 1), dtype=m.dtype)], axis=-1), (batch, 3, 3))
    inverse = O.inv(m)

    def moved(x, y):
        coords = O.moveaxis(O.concatenate([x, y, O.ones_like(x)], axis=-1), -1, -2)
        t = O.moveaxis(O.matmul(inverse, O.cast(coords, inverse.dtype)), -1, -2)
        return t[..., 0] / t[..., 2], t[..., 1] / t[..., 2]

    corners = [moved(x, y) for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0))]
    xs = O.stack([c[0] for c in corners], axis=-1)
    ys = O.stack([c[1] for c in corners], axis=-1)
    new = O.stack([O.min(xs, axis=-1), O.min(ys, axis=-1), O.max(xs, axis=-1),
                   O.max(ys, axis=-1)], axis=-1)
    apply = O.convert_to_tensor(transformation["apply_perspective"])
    apply = O.reshape(O.cast(apply, "bool"), (-1, 1, 1))
    bb["boxes"] = O.where(apply, O.cast(new, boxes.dtype), boxes)
    return clip_to_image_size(bb, height=h, width=w, bounding_box_format="xyxy")


def random_crop_boxes(bounding_boxes, transformation, height, width, bounding_box_format):
    """RandomCrop's boxes: ``transformation`` = (h_start, w_start). As Keras 3.15.1, x
    coordinates lose h_start and y coordinates w_start, floored at 0."""
    bb = _boxes_dict(bounding_boxes, "RandomCrop")
    boxes = convert_format(bb["boxes"], source=bounding_box_format, target="xyxy",
                           height=height, width=width)
    h_start, w_start = (float(v) for v in transformation)
    cols = [O.maximum(boxes[..., k] - off, 0.0)
            for k, off in enumerate((h_start, w_start, h_start, w_start))]
    boxes = convert_format(O.stack(cols, axis=-1), source="xyxy", target=bounding_box_format,
                           height=height, width=width)
    return {"boxes": boxes, "labels": bb.get("labels")}


def _window(bb, h_start, h_end, w_start, w_end):
    x1, y1, x2, y2 = _split4(bb["boxes"])
    bb["boxes"] = _cat([_clip(x1, w_start, w_end) - w_start, _clip(y1, h_start, h_end) - h_start,
                        _clip(x2, w_start, w_end) - w_start, _clip(y2, h_start, h_end) - h_start])
    return bb


def center_crop_boxes(bounding_boxes, transformation, height, width, bounding_box_format,
                      data_format):
    """CenterCrop's boxes: ``transformation`` = {"input_shape": ...}."""
    bb = _boxes_dict(bounding_boxes, "CenterCrop")
    ih, iw = _hw(transformation["input_shape"], data_format)
    bb = convert_format(bb, source=bounding_box_format, target="xyxy", height=ih, width=iw)
    if ih - height >= 0 and iw - width >= 0:
        hs, ws = int((ih - height) / 2), int((iw - width) / 2)
        bb = _window(bb, hs, hs + height, ws, ws + width)
    else:
        crop_h = max(min(ih, int(float(iw * height) / width)), 1)
        crop_w = max(min(iw, int(float(ih * width) / height)), 1)
        hs, ws = int(float(ih - crop_h) / 2), int(float(iw - crop_w) / 2)
        bb = _window(bb, hs, hs + crop_h, ws, ws + crop_w)
        bb = convert_format(bb, source="xyxy", target="rel_xyxy", height=crop_h, width=crop_w)
        bb = convert_format(bb, source="rel_xyxy", target="xyxy", height=height, width=width)
    bb = clip_to_image_size(bb, height=height, width=width, bounding_box_format="xyxy")
    return convert_format(bb, source="xyxy", target=bounding_box_format, height=height,
                          width=width)


def resize_boxes(bounding_boxes, transformation, height, width, crop_to_aspect_ratio,
                 pad_to_aspect_ratio, bounding_box_format):
    """Resizing's boxes: ``transformation`` = (input_height, input_width); all-0 and all-(-1)
    boxes (padding) stay 0."""
    bb = _boxes_dict(bounding_boxes, "Resizing")
    ih, iw = (int(v) for v in transformation)
    raw = bb["boxes"]
    padding = O.logical_or(O.all(raw == -1, axis=-1), O.all(raw == 0, axis=-1))
    bb = convert_format(bb, source=bounding_box_format, target="xyxy", height=ih, width=iw)
    boxes = bb["boxes"]
    if pad_to_aspect_ratio:
        ratio = min(height / ih, width / iw)
        sx = sy = ratio
        ox, oy = -((width - iw * ratio) // 2), -((height - ih * ratio) // 2)
    elif crop_to_aspect_ratio:
        source, target = iw / ih, width / height
        new_w = height * source if source > target else width
        new_h = height if source > target else width / source
        sx, sy = new_w / iw, new_h / ih
        ox, oy = (new_w - width) // 2, (new_h - height) // 2
    else:
        sx, sy, ox, oy = width / iw, height / ih, 0.0, 0.0
    cols = [boxes[..., 0] * sx - ox, boxes[..., 1] * sy - oy, boxes[..., 2] * sx - ox,
            boxes[..., 3] * sy - oy]
    bb["boxes"] = O.stack(cols, axis=-1)
    bb = clip_to_image_size(bb, height=height, width=width)
    bb["boxes"] = O.where(O.expand_dims(padding, -1), O.cast(0.0, bb["boxes"].dtype),
                          bb["boxes"])
    return convert_format(bb, source="xyxy", target=bounding_box_format, height=height,
                          width=width)


# ----------------------------------------------------------------------------- the layers' argument and dicts
class BoundingBoxFormatArg:
    """Keras's ``bounding_box_format`` constructor argument of the image layers (None, or a
    format); in ``get_config`` only when set, as Keras. Put before the layer's base class."""

    def __init__(self, *args, bounding_box_format=None, **kwargs):
        if bounding_box_format is not None:
            _check_format(bounding_box_format, "bounding_box_format", type(self).__name__)
        super().__init__(*args, **kwargs)
        self.bounding_box_format = bounding_box_format

    def _require_box_format(self):
        if not self.bounding_box_format:
            raise ValueError(f"{type(self).__name__}: the input has 'bounding_boxes', but "
                             f"bounding_box_format=None; pass the boxes' format to the layer, "
                             f"e.g. {type(self).__name__}(..., bounding_box_format='xyxy')")

    def get_config(self):
        config = super().get_config()
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


def boxes_in(layer, bounding_boxes, unbatched):
    """A dict input's boxes as Keras's ``densify_bounding_boxes`` leaves them: float32 boxes,
    labels as arrays; a single image's boxes get a batch axis."""
    owner = type(layer).__name__
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes \
            or "labels" not in bounding_boxes:
        raise ValueError(f"{owner}: bounding_boxes={type(bounding_boxes).__name__}; expected a "
                         f"dict with keys 'boxes' and 'labels'")
    out = dict(bounding_boxes)
    out["boxes"] = O.cast(_tensor(out["boxes"], "bounding_boxes['boxes']", owner), "float32")
    out["labels"] = O.convert_to_tensor(out["labels"])
    if unbatched:
        out["boxes"] = O.expand_dims(out["boxes"], 0)
        out["labels"] = O.expand_dims(out["labels"], 0)
    return out


def boxes_out(bounding_boxes, unbatched):
    if not unbatched:
        return bounding_boxes
    out = dict(bounding_boxes)
    for key in ("boxes", "labels"):
        if out.get(key) is not None:
            out[key] = O.squeeze(out[key], axis=0)
    return out


class BoundingBoxDict(BoundingBoxFormatArg):
    """Keras's dict inputs ``{"images", "bounding_boxes", "labels"}`` for the image layers
    written with ``forward`` (outside a model, a data pipeline): the layer defines
    ``_dict_images(images, active) -> (images, transformation)`` (one draw for the images
    and the boxes) and ``transform_bounding_boxes``; labels pass through."""

    _BOXES_AT_INFERENCE = False

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if isinstance(inputs, dict):
            return self._call_dict(inputs, training)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def _call_dict(self, data, training):
        owner = type(self).__name__
        if "images" not in data:
            raise ValueError(f"{owner}: a dict input needs the key 'images'; got {sorted(data)}")
        if "bounding_boxes" in data:
            self._require_box_format()
        if self.backend is None:
            self.backend = _backend.current()
        data = dict(data)
        images = self.backend.asarray(data["images"])
        if images.ndim not in (3, 4):
            raise ValueError(f"{owner}: data['images'] has shape {tuple(images.shape)}; "
                             f"expected rank 3 (one image) or 4 (a batch)")
        unbatched = images.ndim == 3
        if unbatched:
            images = O.expand_dims(images, 0)
        active = bool(training) or self._BOXES_AT_INFERENCE
        images, transformation = self._dict_images(images, active)
        data["images"] = O.squeeze(images, axis=0) if unbatched else images
        if "bounding_boxes" in data:
            boxes = boxes_in(self, data["bounding_boxes"], unbatched)
            boxes = self.transform_bounding_boxes(boxes, transformation, training=active)
            data["bounding_boxes"] = boxes_out(boxes, unbatched)
        return data
