"""Accuracy metrics (keras/src/metrics/accuracy_metrics.py): Accuracy, BinaryAccuracy,
CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
SparseTopKCategoricalAccuracy and their per-sample functions.
"""

import array_api_compat

from .metric import _align, _as_ns, _xp
from .reduction_metrics import MeanMetricWrapper


# ----------------------------------------------------------------- per-sample functions
def binary_accuracy(y_true, y_pred, threshold=0.5):
    xp = _xp(y_pred)
    y_true = _align(y_true, y_pred)
    pred = xp.astype(y_pred > threshold, y_pred.dtype)
    return xp.mean(xp.astype(pred == xp.astype(y_true, y_pred.dtype), y_pred.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    xp = _xp(y_pred)
    return xp.astype(xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1), y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    xp = _xp(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = xp.reshape(y_true, y_true.shape[:-1])
    if y_true.dtype == xp.bool:
        y_true = xp.astype(y_true, xp.int64)
    # As Keras: the predicted class is cast to the labels' dtype, so a float label 0.7
    # matches no class (it is not truncated to class 0).
    predicted = xp.astype(xp.argmax(y_pred, axis=-1), y_true.dtype)
    return xp.astype(y_true == predicted, y_pred.dtype)


def accuracy(y_true, y_pred):
    """Exact equality of y_true and y_pred (Keras's ``Accuracy``)."""
    xp = _xp(y_pred)
    y_true = _align(y_true, y_pred)
    return xp.mean(xp.astype(xp.astype(y_true, y_pred.dtype) == y_pred, y_pred.dtype), axis=-1)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of (y_pred > threshold) == y_true."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """argmax(y_true) == argmax(y_pred) (first maximum wins)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """y_true == argmax(y_pred)."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


def _labels_int(xp, y):
    return y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)


def _in_top_k(xp, labels, y_pred, k):
    """Keras's in_top_k: the target's score is among the k largest (ties count as in)."""
    classes = xp.arange(y_pred.shape[-1], dtype=labels.dtype, device=array_api_compat.device(y_pred))
    onehot = xp.astype(xp.expand_dims(labels, axis=-1) == classes, y_pred.dtype)
    target = xp.sum(y_pred * onehot, axis=-1, keepdims=True)
    greater = xp.sum(xp.astype(y_pred > target, xp.int64), axis=-1)
    return xp.astype(greater < k, y_pred.dtype)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where argmax(y_true) is among the k highest scores of y_pred."""
    xp = _xp(y_pred)
    y_true = _as_ns(xp, y_true, y_pred)
    return _in_top_k(xp, xp.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label y_true is among the k highest scores of y_pred.

    With ``from_sorted_ids=True`` y_pred holds class ids sorted by score (best first).
    """
    xp = _xp(y_pred)
    y_true = _as_ns(xp, y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = xp.reshape(y_true, y_true.shape[:-1])
    labels = _labels_int(xp, y_true)
    if from_sorted_ids:
        top = _labels_int(xp, y_pred[..., :k])
        hit = xp.any(top == xp.expand_dims(labels, axis=-1), axis=-1)
        return xp.astype(hit, xp.float32 if not xp.isdtype(y_pred.dtype, "real floating") else y_pred.dtype)
    return _in_top_k(xp, labels, y_pred, k)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target's class is among the ``k`` highest predictions.

    Args:
        k: the number of top predictions considered (5). Ties with the k-th score count in.
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        _check_k(type(self).__name__, k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the ``k`` highest predictions.

    Args:
        k: the number of top predictions considered (5).
        from_sorted_ids: y_pred holds class ids sorted by score instead of scores.
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        _check_k(type(self).__name__, k)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=bool(from_sorted_ids))
        self.k = k

    def get_config(self):
        config = super().get_config()
        if not config.get("from_sorted_ids"):        # Keras writes it only when True
            config.pop("from_sorted_ids", None)
        return config


def _check_k(owner, k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{owner}: k={k!r}; expected a positive integer")
