"""Segmentation losses (keras/src/losses/losses.py): Dice and Tversky, each with its exact
gradient.

Both reduce ``axis`` (None: every axis, giving one scalar; a tuple such as (1, 2, 3): one
value per sample), then the base Loss applies sample weights and the reduction.
"""

from .. import config as _config
from .loss import Loss, _same_namespace, _xp


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


def _expand(xp, v, axes):
    """A reduced value broadcast back over the reduced axes."""
    for a in sorted(axes):
        v = xp.expand_dims(v, axis=a)
    return v


def _check_axis(owner, axis):
    ok = axis is None or (isinstance(axis, int) and not isinstance(axis, bool)) or (
        isinstance(axis, (list, tuple)) and all(isinstance(a, int) and not isinstance(a, bool)
                                                for a in axis))
    if not ok:
        raise ValueError(f"{owner}: axis={axis!r}; expected None, an int or a tuple of ints")
    return list(axis) if isinstance(axis, list) else axis


def _dice_values(xp, y, p, axis):
    axes = _axes(axis, p.ndim)
    inter = xp.sum(y * p, axis=axes)
    den = xp.sum(y, axis=axes) + xp.sum(p, axis=axes) + _config.epsilon()
    values = 1.0 - 2.0 * inter / den

    def grad(dl):
        # d/dp [1 - 2I/D] = -2(y·D - I)/D²
        d = _expand(xp, dl / (den * den), axes)
        return -2.0 * d * (y * _expand(xp, den, axes) - _expand(xp, inter, axes))
    return values, grad


def _tversky_values(xp, y, p, alpha, beta, axis):
    axes = _axes(axis, p.ndim)
    inter = xp.sum(y * p, axis=axes)
    fp = xp.sum((1.0 - p) * y, axis=axes)
    fn = xp.sum(p * (1.0 - y), axis=axes)
    den = inter + fp * alpha + fn * beta + _config.epsilon()
    values = 1.0 - inter / den

    def grad(dl):
        dden = y - alpha * y + beta * (1.0 - y)
        d = _expand(xp, dl / (den * den), axes)
        return -d * (y * _expand(xp, den, axes) - _expand(xp, inter, axes) * dden)
    return values, grad


class _WholeBatchLoss(Loss):
    """With ``axis=None`` the loss is one scalar for the batch; Keras then multiplies it by
    the sample weights and reduces the product (losses/loss.py reduce_weighted_values)."""

    def forward(self, y_true, y_pred, sample_weight=None, mask=None):
        if sample_weight is None or self.axis is not None:
            return super().forward(y_true, y_pred, sample_weight, mask=mask)
        xp = _xp(y_pred)
        value, backward = super().forward(y_true, y_pred, mask=mask)
        sw = xp.reshape(xp.astype(_same_namespace(xp, sample_weight, y_pred), value.dtype), (-1,))
        total = xp.sum(sw)
        if self.reduction == "none":
            return value * sw, lambda scale=1.0: backward(scale * total)
        if self.reduction == "sum":
            factor = total
        elif self.reduction == "mean_with_sample_weight":
            factor = xp.where(total == 0, xp.zeros_like(total), xp.ones_like(total))
        else:
            factor = total / float(max(sw.shape[0], 1))
        return value * factor, lambda scale=1.0: backward(scale * factor)


class Dice(_WholeBatchLoss):
    """Dice loss: 1 - 2·Σ(y·p) / (Σy + Σp + EPS), the sums over ``axis``.

    Args:
        reduction: as every Loss ("sum_over_batch_size").
        name: "dice".
        axis: None (every axis: one scalar) or a tuple of axes, e.g. (1, 2, 3) for one value
            per image.
        dtype: the loss's dtype (None: floatx).
    """

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = _check_axis("Dice", axis)

    def _per_sample(self, y, p):
        return _dice_values(_xp(p), y, p, self.axis)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config


class Tversky(_WholeBatchLoss):
    """Tversky loss: 1 - I / (I + alpha·Σ((1 - p)·y) + beta·Σ(p·(1 - y)) + EPS) with
    I = Σ(y·p), the sums over ``axis`` (alpha = beta = 0.5 is the Dice loss).

    Args:
        alpha: weight of the first mismatch term, Σ((1 - y_pred)·y_true) (0.5).
        beta: weight of the second, Σ(y_pred·(1 - y_true)) (0.5).
        reduction, name ("tversky"), axis (None or a tuple), dtype: as Dice.
    """

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for n, v in (("alpha", alpha), ("beta", beta)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"Tversky: {n}={v!r}; expected a float")
        self.alpha, self.beta = alpha, beta
        self.axis = _check_axis("Tversky", axis)

    def _per_sample(self, y, p):
        return _tversky_values(_xp(p), y, p, self.alpha, self.beta, self.axis)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "beta": self.beta, "axis": self.axis})
        return config
