"""Regression losses (keras/src/losses/losses.py): MeanSquaredError, MeanAbsoluteError,
MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Huber, LogCosh, CosineSimilarity.
"""

from .. import config as _config
from .loss import Loss, _bcast, _xp

class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis."""

    target_kind = "any"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        n = d.shape[-1]   # y (N, k) against p (N, 1) broadcasts, as Keras
        return xp.mean(d * d, axis=-1), lambda dl: _bcast(dl) * (2.0 / n) * d


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        n = d.shape[-1]   # y (N, k) against p (N, 1) broadcasts, as Keras
        return xp.mean(xp.abs(d), axis=-1), lambda dl: _bcast(dl) * (1.0 / n) * xp.sign(d)

class MeanAbsolutePercentageError(Loss):
    """100·mean(|y_true - y_pred| / max(|y_true|, EPS)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        denom = xp.maximum(xp.abs(y), _config.epsilon())
        n = d.shape[-1]
        return 100.0 * xp.mean(xp.abs(d) / denom, axis=-1), \
            lambda dl: _bcast(dl) * (100.0 / n) * xp.sign(d) / denom


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, EPS) + 1) - log(max(y_true, EPS) + 1))²) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        eps = _config.epsilon()
        pc = xp.maximum(p, eps)
        d = xp.log1p(pc) - xp.log1p(xp.maximum(y, eps))
        n = d.shape[-1]
        inside = xp.astype(p > eps, p.dtype)
        return xp.mean(d * d, axis=-1), lambda dl: _bcast(dl) * (2.0 / n) * d * inside / (pc + 1.0)


class Huber(Loss):
    """Huber loss: ½e² where |e| <= delta, delta·|e| - ½delta² elsewhere (e = y_pred - y_true).

    Args:
        delta: positive float, where the loss turns from quadratic to linear (1.0).
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
            raise ValueError(f"Huber: delta={delta!r}; expected a positive float")
        self.delta = float(delta)

    def _per_sample(self, y, p):
        xp = _xp(p)
        e = p - y
        a = xp.abs(e)
        delta = self.delta
        quad = a <= delta
        values = xp.where(quad, 0.5 * e * e, delta * a - 0.5 * delta * delta)
        n = e.shape[-1]
        slope = xp.where(quad, e, delta * xp.sign(e))
        return xp.mean(values, axis=-1), lambda dl: _bcast(dl) * slope / n

    # Keras 3.15's Huber.get_config writes only name and reduction (delta is not saved).


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true))), computed as x + softplus(-2x) - log 2 (no overflow)."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        x = p - y
        m = -2.0 * x
        softplus = xp.maximum(m, xp.zeros((), dtype=m.dtype)) + xp.log1p(xp.exp(-xp.abs(m)))
        n = x.shape[-1]
        return xp.mean(x + softplus - _LOG2, axis=-1), lambda dl: _bcast(dl) * xp.tanh(x) / n


_LOG2 = 0.6931471805599453

class CosineSimilarity(Loss):
    """-Σ ŷ·p̂ along ``axis``, x̂ = x·min(1/‖x‖, 1/EPS); -1 is best, as Keras.

    Args:
        axis: the axis along which the similarity is computed (-1).
    """

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"CosineSimilarity: axis={axis!r}; expected an int")
        self.axis = axis

    def _per_sample(self, y, p):
        xp = _xp(p)
        axis = self.axis
        big = 1.0 / _config.epsilon()
        yn = y * xp.minimum(1.0 / xp.sqrt(xp.sum(y * y, axis=axis, keepdims=True)), big)
        raw = 1.0 / xp.sqrt(xp.sum(p * p, axis=axis, keepdims=True))
        r = xp.minimum(raw, big)
        pn_ = p * r
        cos = xp.sum(yn * pn_, axis=axis, keepdims=True)
        unclipped = xp.astype(raw < big, p.dtype)

        def grad(dl):
            return -xp.expand_dims(dl, axis=axis) * r * (yn - unclipped * pn_ * cos)
        return -xp.squeeze(cos, axis=axis), grad

    # Keras 3.15's CosineSimilarity.get_config writes only name and reduction (not axis).
