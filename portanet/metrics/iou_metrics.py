"""Intersection-over-union metrics (keras/src/metrics/iou_metrics.py): IoU, MeanIoU,
BinaryIoU, OneHotIoU, OneHotMeanIoU.

State: the (num_classes, num_classes) confusion matrix (rows: true class, columns:
predicted class), accumulated on the device. As Keras, the default dtype is "int": sample
weights are truncated to integers before they count (pass ``dtype="float32"`` or
"float64" for fractional weights); class ids outside [0, num_classes) and ``ignore_class``
are left out.
"""

import array_api_compat

from .. import backend as _backend
from .. import config as _config
from .metric import Metric, _as_ns, _xp


def _check_int(owner, name, value, low=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}: {name}={value!r}; expected an integer >= {low}")


class _IoUBase(Metric):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        _check_int(owner, "num_classes", num_classes, 1)
        if ignore_class is not None:
            _check_int(owner, "ignore_class", ignore_class, -(2 ** 62))
        self._direction = "up"
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = axis
        self.reset_state()

    @property
    def dtype(self):
        return self._dtype or "int"

    @dtype.setter
    def dtype(self, value):
        self._dtype = value

    def reset_state(self):
        self.total_cm = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        like = y_pred if hasattr(y_pred, "shape") else y_true
        if not hasattr(like, "shape"):
            like = _backend.current().xp.asarray(y_pred)
        xp = _xp(like)
        y_true = _as_ns(xp, y_true, like)
        y_pred = _as_ns(xp, y_pred, like)
        if not self.sparse_y_true:
            y_true = xp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = xp.argmax(y_pred, axis=self.axis)
        y_true = xp.reshape(xp.astype(y_true, xp.int64), (-1,))
        y_pred = xp.reshape(xp.astype(y_pred, xp.int64), (-1,))
        fdt = xp.float64 if _config.floatx() == "float64" or "64" in str(self.dtype) else xp.float32
        if sample_weight is None:
            w = xp.ones(y_true.shape, dtype=fdt, device=array_api_compat.device(y_true))
        else:
            w = _as_ns(xp, sample_weight, like)
            if "int" in str(self.dtype):
                w = xp.astype(w, xp.int64)    # Keras casts the weights to the metric's int dtype
            w = xp.reshape(xp.astype(w, fdt), (-1,)) * xp.ones(y_true.shape, dtype=fdt,
                                                               device=array_api_compat.device(y_true))
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep = keep & (y_true != self.ignore_class)
        w = xp.where(keep, w, xp.zeros_like(w))
        classes = xp.arange(n, dtype=xp.int64, device=array_api_compat.device(y_true))
        t1 = xp.astype(xp.expand_dims(y_true, axis=1) == classes, fdt)
        p1 = xp.astype(xp.expand_dims(y_pred, axis=1) == classes, fdt)
        cm = xp.matmul(xp.matrix_transpose(t1), p1 * xp.expand_dims(w, axis=1))
        self.total_cm = cm if self.total_cm is None else self.total_cm + cm

    def get_config(self):
        return {"name": self.name, "dtype": self._dtype}


class IoU(_IoUBase):
    """Mean of TP / (TP + FP + FN) over ``target_class_ids`` (classes absent from both the
    labels and the predictions are left out of the mean), as Keras's IoU.

    Args:
        num_classes: number of classes.
        target_class_ids: the classes whose IoU is averaged.
        name, dtype: as Metric (dtype default "int": integer weights).
        ignore_class: a label value left out of the counts.
        sparse_y_true, sparse_y_pred: whether labels / predictions are class ids (True) or
            scores to argmax over ``axis`` (False).
        axis: the class axis of dense inputs (-1).
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        ids = list(target_class_ids)
        if not ids or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
            raise ValueError(f"{type(self).__name__}: target_class_ids={target_class_ids!r}; expected "
                             "a non-empty list of class ids")
        if max(ids) >= num_classes:
            raise ValueError(f"{type(self).__name__}: target class id {max(ids)} is out of range "
                             f"[0, {num_classes})")
        self.target_class_ids = ids

    def result(self):
        if self.total_cm is None:
            return 0.0
        xp = _xp(self.total_cm)
        cm = self.total_cm
        tp_all = xp.linalg.diagonal(cm) if hasattr(xp, "linalg") and hasattr(xp.linalg, "diagonal") \
            else xp.sum(cm * xp.eye(cm.shape[0], dtype=cm.dtype, device=array_api_compat.device(cm)), axis=1)
        denom_all = xp.sum(cm, axis=0) + xp.sum(cm, axis=1) - tp_all
        ids = xp.asarray(self.target_class_ids, dtype=xp.int64, device=array_api_compat.device(cm))
        tp = xp.take(tp_all, ids, axis=0)
        denom = xp.take(denom_all, ids, axis=0)
        valid = denom > 1e-9
        iou = xp.where(valid, tp / (denom + _config.epsilon()), xp.zeros_like(tp))
        return xp.sum(iou) / (xp.sum(xp.astype(valid, cm.dtype)) + _config.epsilon())

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                       "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                       "sparse_y_pred": self.sparse_y_pred, "axis": self.axis})
        return config


class BinaryIoU(IoU):
    """IoU of binary labels against predictions thresholded at ``threshold``
    (prediction >= threshold is class 1).

    Args:
        target_class_ids: (0, 1) by default: the mean of both classes' IoU.
        threshold: 0.5.
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"BinaryIoU: threshold={threshold!r}; expected a float")
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not hasattr(y_pred, "shape"):
            y_pred = _backend.current().xp.asarray(y_pred)
        xp = _xp(y_pred)
        y_pred = xp.astype(y_pred >= self.threshold, xp.int64)
        super().update_state(_as_ns(xp, y_true, y_pred), y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self._dtype}


class MeanIoU(IoU):
    """IoU averaged over every class (``target_class_ids`` = all of them)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        _check_int(type(self).__name__, "num_classes", num_classes, 1)
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU with one-hot labels (argmax over ``axis``) and, by default, score predictions."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "dtype": self._dtype, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels and, by default, score predictions."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


__all__ = ["IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU"]
