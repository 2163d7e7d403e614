"""Hinge losses (keras/src/losses/losses.py): Hinge, SquaredHinge, CategoricalHinge.
"""

import array_api_compat

from .loss import Loss, _bcast, _xp

def _hinge_labels(y):
    """Keras's convert_binary_labels_to_hinge: 0/1 labels become -1/1 when *all* are 0 or 1.

    The test is a 0-d device boolean used in ``where``, so there is no synchronization.
    """
    xp = _xp(y)
    is_binary = xp.all((y == 0) | (y == 1))
    return xp.where(is_binary, 2.0 * y - 1.0, y)


class Hinge(Loss):
    """mean(max(1 - y_true·y_pred, 0)); labels -1/1 (0/1 labels are converted, as Keras)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        y = _hinge_labels(y)
        margin = 1.0 - y * p
        active = xp.astype(margin > 0, p.dtype)
        n = p.shape[-1]
        return xp.mean(xp.maximum(margin, 0.0), axis=-1), lambda dl: _bcast(dl) * (-y * active) / n


class SquaredHinge(Loss):
    """mean(max(1 - y_true·y_pred, 0)²); labels -1/1 (0/1 labels are converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        y = _hinge_labels(y)
        h = xp.maximum(1.0 - y * p, 0.0)
        n = p.shape[-1]
        return xp.mean(h * h, axis=-1), lambda dl: _bcast(dl) * (-2.0 * y * h) / n


class CategoricalHinge(Loss):
    """max(max((1 - y_true)·y_pred) - Σ y_true·y_pred + 1, 0) for one-hot y_true."""

    target_kind = "one_hot"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        pos = xp.sum(y * p, axis=-1)
        other = (1.0 - y) * p
        neg = xp.max(other, axis=-1)
        margin = neg - pos + 1.0
        active = xp.astype(margin > 0, p.dtype)
        # The gradient of the max goes to the first maximal entry (as argmax).
        idx = xp.argmax(other, axis=-1)
        classes = xp.arange(p.shape[-1], dtype=idx.dtype, device=array_api_compat.device(p))
        first = xp.astype(xp.expand_dims(idx, axis=-1) == classes, p.dtype)

        def grad(dl):
            return _bcast(dl * active) * (first * (1.0 - y) - y)
        return xp.maximum(margin, 0.0), grad
