"""Generate tests/keras_reference/bbox.npz: Keras 3's ``keras.utils.bounding_boxes`` functions
and the ``transform_bounding_boxes`` of its geometric image layers for FIXED transformations
(the random draws of Keras and portanet cannot agree; the box math must), in float32.

Run once with Keras 3 installed (not a portanet test dependency):
    KERAS_BACKEND=numpy python tests/keras_reference/make_bbox_reference.py
tests/test_bounding_boxes.py rebuilds every case from the tables below (FUNCTION_CASES,
LAYER_CASES), runs portanet on the stored inputs and compares with the stored outputs.

Keys: ``fn/{case}/in/{name}`` inputs, ``fn/{case}/out`` (or ``out/{key}`` for dict results);
``layer/{case}/boxes``, ``layer/{case}/labels``, ``layer/{case}/t/{key}`` (the transformation;
a tuple as keys "0", "1"), ``layer/{case}/out/boxes``, ``layer/{case}/out/labels``.
"""

import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
B, N, H, W = 2, 3, 20, 30
FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh")


def _boxes(rng, batch=True, n=N):
    """xyxy boxes inside (and a little outside) a W x H image."""
    shape = (B, n) if batch else (n,)
    x1 = rng.uniform(-3, W - 5, size=shape)
    y1 = rng.uniform(-3, H - 5, size=shape)
    x2 = x1 + rng.uniform(1, 12, size=shape)
    y2 = y1 + rng.uniform(1, 10, size=shape)
    return np.stack([x1, y1, x2, y2], axis=-1).astype("float32")


def _rel(boxes):
    return (boxes / np.array([W, H, W, H], dtype="float32")).astype("float32")


_RNG = np.random.default_rng(16)
XYXY = _boxes(_RNG)
XYXY_UNBATCHED = _boxes(_RNG, batch=False)
XYXY_B = _boxes(_RNG, n=4)
ANCHORS = _boxes(_RNG, batch=False)
XYXY_B_NEG = XYXY_B.copy()
XYXY_B_NEG[:, 1] = -1.0
LABELS = np.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
ANGLES = np.array([17.0, -40.0], dtype="float32")

# name: (function, kwargs); array kwargs are stored as inputs. A source box in format f is
# XYXY converted by Keras from xyxy to f (so every format holds a real box).
FUNCTION_CASES = {}
for _src in FORMATS:
    for _dst in FORMATS:
        FUNCTION_CASES[f"convert_{_src}_to_{_dst}"] = (
            "convert_format", dict(boxes=("xyxy->" + _src, XYXY), source=_src, target=_dst,
                                   height=H, width=W))
FUNCTION_CASES.update({
    "convert_unbatched_upper": ("convert_format", dict(boxes=XYXY_UNBATCHED, source="XYXY",
                                                       target="CENTER_XYWH")),
    "convert_float64": ("convert_format", dict(boxes=XYXY, source="xyxy", target="xywh",
                                               dtype="float64")),
    "clip_xyxy": ("clip_to_image_size", dict(bounding_boxes={"boxes": XYXY, "labels": LABELS},
                                             height=H, width=W)),
    "clip_rel_xyxy": ("clip_to_image_size", dict(
        bounding_boxes={"boxes": _rel(XYXY) * 1.2 - 0.1, "labels": LABELS},
        bounding_box_format="rel_xyxy")),
    "clip_no_labels": ("clip_to_image_size", dict(bounding_boxes={"boxes": XYXY},
                                                  height=H, width=W)),
    "affine_rotate": ("affine_transform", dict(
        boxes=XYXY, angle=ANGLES, translate_x=np.zeros(B, "float32"),
        translate_y=np.zeros(B, "float32"), scale=np.ones(B, "float32"),
        shear_x=np.zeros(B, "float32"), shear_y=np.zeros(B, "float32"), height=H, width=W)),
    "affine_all": ("affine_transform", dict(
        boxes=XYXY, angle=ANGLES, translate_x=np.array([0.1, -0.2], "float32"),
        translate_y=np.array([-0.05, 0.15], "float32"), scale=np.array([1.2, 0.8], "float32"),
        shear_x=np.array([10.0, -5.0], "float32"), shear_y=np.array([-7.0, 3.0], "float32"),
        height=H, width=W, center_x=0.4, center_y=0.6)),
    "crop": ("crop", dict(boxes=XYXY, top=4, left=6, height=12, width=15)),
    "crop_unbatched": ("crop", dict(boxes=XYXY_UNBATCHED, top=2.5, left=1, height=10,
                                    width=20)),
    "pad": ("pad", dict(boxes=XYXY, top=4, left=6)),
    "encode_default": ("encode_box_to_deltas", dict(anchors=ANCHORS, boxes=XYXY,
                                                    anchor_format="xyxy", box_format="xyxy")),
    "encode_xywh_variance": ("encode_box_to_deltas", dict(
        anchors=("xyxy->center_xywh", ANCHORS), boxes=("xyxy->xywh", XYXY),
        anchor_format="center_xywh", box_format="xywh", encoding_format="center_xywh",
        variance=[0.1, 0.1, 0.2, 0.2])),
    "encode_rel": ("encode_box_to_deltas", dict(
        anchors=ANCHORS, boxes=("xyxy->rel_xyxy", XYXY), anchor_format="xyxy",
        box_format="rel_xyxy", image_shape=(H, W, 3))),
    "decode_default": ("decode_deltas_to_boxes", dict(
        anchors=ANCHORS, boxes_delta=_RNG.normal(0, 0.3, size=(B, N, 4)).astype("float32"),
        anchor_format="xyxy", box_format="xyxy")),
    "decode_variance": ("decode_deltas_to_boxes", dict(
        anchors=ANCHORS, boxes_delta=_RNG.normal(0, 0.3, size=(N, 4)).astype("float32"),
        anchor_format="xyxy", box_format="center_yxhw", encoded_format="center_xywh",
        variance=[0.1, 0.1, 0.2, 0.2])),
    "decode_rel": ("decode_deltas_to_boxes", dict(
        anchors=ANCHORS, boxes_delta=_RNG.normal(0, 0.3, size=(B, N, 4)).astype("float32"),
        anchor_format="xyxy", box_format="rel_xywh", image_shape=(H, W, 3))),
    "iou_22": ("compute_iou", dict(boxes1=XYXY_UNBATCHED, boxes2=XYXY[0],
                                   bounding_box_format="xyxy")),
    "iou_33": ("compute_iou", dict(boxes1=XYXY, boxes2=XYXY_B, bounding_box_format="xyxy")),
    "iou_32": ("compute_iou", dict(boxes1=XYXY_B, boxes2=XYXY_UNBATCHED,
                                   bounding_box_format="xyxy")),
    "iou_yxyx_mask": ("compute_iou", dict(
        boxes1=("xyxy->yxyx", XYXY), boxes2=("xyxy->yxyx", XYXY_B_NEG),
        bounding_box_format="yxyx", use_masking=True, mask_val=-2)),
    "iou_mask_mixed": ("compute_iou", dict(
        boxes1=np.concatenate([XYXY, -np.ones((B, 1, 4), "float32")], axis=1),
        boxes2=XYXY_B, bounding_box_format="xyxy", use_masking=True)),
    "iou_rel": ("compute_iou", dict(boxes1=("xyxy->rel_xyxy", XYXY),
                                    boxes2=("xyxy->rel_xyxy", XYXY_B),
                                    bounding_box_format="rel_xyxy", image_shape=(H, W, 3))),
    "ciou": ("compute_ciou", dict(boxes1=XYXY, boxes2=XYXY[::-1], bounding_box_format="xyxy")),
    "ciou_center": ("compute_ciou", dict(boxes1=("xyxy->center_xywh", XYXY),
                                         boxes2=("xyxy->center_xywh", XYXY[:, ::-1]),
                                         bounding_box_format="center_xywh")),
})

_SHAPE = (B, H, W, 3)
_START = np.array([[[0.0, 0.0], [W - 1, 0.0], [0.0, H - 1], [W - 1, H - 1]]] * B)
_END = _START + _START * np.random.default_rng(3).uniform(-0.2, 0.2, size=(B, 4, 2))

# name: (Keras class, constructor kwargs, transformation, boxes in the layer's format)
LAYER_CASES = {
    "flip_h": ("RandomFlip", dict(mode="horizontal", bounding_box_format="xyxy"),
               {"flips": np.array([True, False]).reshape(B, 1, 1, 1), "input_shape": _SHAPE},
               "xyxy"),
    "flip_v_rel": ("RandomFlip", dict(mode="vertical", bounding_box_format="rel_xyxy"),
                   {"flips": np.array([True, True]).reshape(B, 1, 1, 1),
                    "input_shape": _SHAPE}, "rel_xyxy"),
    "flip_hv_cf": ("RandomFlip", dict(mode="horizontal_and_vertical", bounding_box_format="xyxy",
                                      data_format="channels_first"),
                   {"flips": np.array([False, True]).reshape(B, 1, 1, 1),
                    "input_shape": (B, 3, H, W)}, "xyxy"),
    "translate": ("RandomTranslation", dict(height_factor=0.3, width_factor=0.3,
                                            bounding_box_format="xyxy"),
                  {"translations": np.array([[4.5, -3.0], [-7.0, 2.5]], "float32"),
                   "input_shape": _SHAPE}, "xyxy"),
    "translate_xywh": ("RandomTranslation", dict(height_factor=0.3, width_factor=0.3,
                                                 bounding_box_format="xywh"),
                       {"translations": np.array([[1.0, 6.0], [-2.0, -5.5]], "float32"),
                        "input_shape": _SHAPE}, "xywh"),
    "rotate": ("RandomRotation", dict(factor=0.2, bounding_box_format="xyxy"),
               {"angle": ANGLES, "image_height": H, "image_width": W, "batch_size": B},
               "xyxy"),
    "zoom": ("RandomZoom", dict(height_factor=0.3, width_factor=0.3,
                                bounding_box_format="xyxy"),
             {"height_zoom": np.array([[0.8], [1.25]], "float32"),
              "width_zoom": np.array([[1.1], [0.7]], "float32"), "input_shape": _SHAPE},
             "xyxy"),
    "zoom_rel": ("RandomZoom", dict(height_factor=0.3, bounding_box_format="rel_xyxy"),
                 {"height_zoom": np.array([[0.9], [1.2]], "float32"),
                  "width_zoom": np.array([[0.9], [1.2]], "float32"), "input_shape": _SHAPE},
                 "rel_xyxy"),
    "shear": ("RandomShear", dict(x_factor=0.3, y_factor=0.3, bounding_box_format="xyxy"),
              {"shear_factor": np.array([[0.2, -0.1], [-0.25, 0.15]], "float32"),
               "input_shape": _SHAPE}, "xyxy"),
    "shear_center": ("RandomShear", dict(x_factor=0.3, y_factor=0.3,
                                         bounding_box_format="center_xywh"),
                     {"shear_factor": np.array([[-0.1, -0.2], [0.3, 0.05]], "float32"),
                      "input_shape": _SHAPE}, "center_xywh"),
    "perspective": ("RandomPerspective", dict(bounding_box_format="xyxy"),
                    {"apply_perspective": np.array([True, False]), "start_points": _START,
                     "end_points": _END, "input_shape": _SHAPE}, "xyxy"),
    "perspective_all": ("RandomPerspective", dict(bounding_box_format="xyxy"),
                        {"apply_perspective": np.array([True, True]), "start_points": _START,
                         "end_points": _END[::-1], "input_shape": _SHAPE}, "xyxy"),
    "crop": ("RandomCrop", dict(height=12, width=16, bounding_box_format="xyxy"), (3, 5),
             "xyxy"),
    "crop_rel": ("RandomCrop", dict(height=12, width=16, bounding_box_format="rel_xyxy"),
                 (2, 1), "rel_xyxy"),
    "center_crop": ("CenterCrop", dict(height=12, width=16, bounding_box_format="xyxy"),
                    {"input_shape": _SHAPE}, "xyxy"),
    "center_crop_up": ("CenterCrop", dict(height=25, width=18, bounding_box_format="xywh"),
                       {"input_shape": _SHAPE}, "xywh"),
    "resize": ("Resizing", dict(height=10, width=40, bounding_box_format="xyxy"), (H, W),
               "xyxy"),
    "resize_crop": ("Resizing", dict(height=10, width=40, crop_to_aspect_ratio=True,
                                     bounding_box_format="xyxy"), (H, W), "xyxy"),
    "resize_pad": ("Resizing", dict(height=10, width=40, pad_to_aspect_ratio=True,
                                    bounding_box_format="rel_xyxy"), (H, W), "rel_xyxy"),
}


def main():
    import keras
    from keras import layers
    from keras.utils import bounding_boxes as bb

    out = {}

    def resolve(v):
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and "->" in v[0]:
            src, dst = v[0].split("->")
            return np.asarray(bb.convert_format(v[1].copy(), src, dst, height=H, width=W))
        return v

    for case, (fn, kwargs) in FUNCTION_CASES.items():
        kw = {}
        for k, v in kwargs.items():
            v = resolve(v)
            if isinstance(v, np.ndarray):
                out[f"fn/{case}/in/{k}"] = v
            elif isinstance(v, dict):
                for dk, dv in v.items():
                    out[f"fn/{case}/in/{k}/{dk}"] = dv
                v = {dk: dv.copy() for dk, dv in v.items()}
            kw[k] = v
        r = getattr(bb, fn)(**kw)
        if isinstance(r, dict):
            for rk, rv in r.items():
                out[f"fn/{case}/out/{rk}"] = np.asarray(rv)
        else:
            out[f"fn/{case}/out"] = np.asarray(r)

    rng = np.random.default_rng(5)
    for case, (cls, kwargs, t, fmt) in LAYER_CASES.items():
        layer = getattr(layers, cls)(**kwargs)
        boxes = np.asarray(bb.convert_format(_boxes(rng), "xyxy", fmt, height=H, width=W))
        out[f"layer/{case}/boxes"] = boxes
        out[f"layer/{case}/labels"] = LABELS
        if isinstance(t, dict):
            for k, v in t.items():
                out[f"layer/{case}/t/{k}"] = np.asarray(v)
        else:
            for i, v in enumerate(t):
                out[f"layer/{case}/t/{i}"] = np.asarray(v)
        kt = t
        if cls == "RandomRotation":
            kt = dict(t, angle=np.asarray(t["angle"]))
        r = layer.transform_bounding_boxes({"boxes": boxes.copy(), "labels": LABELS.copy()},
                                           kt, training=True)
        out[f"layer/{case}/out/boxes"] = np.asarray(r["boxes"])
        out[f"layer/{case}/out/labels"] = np.asarray(r["labels"])
    out["keras_version"] = np.asarray(keras.__version__)
    np.savez_compressed(HERE / "bbox.npz", **out)
    print(f"wrote {len(out)} arrays to {HERE / 'bbox.npz'} (Keras {keras.__version__})")


if __name__ == "__main__":
    main()
