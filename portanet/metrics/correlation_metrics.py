"""Correlation metrics (keras/src/metrics/correlation_metrics.py): pearson_correlation,
concordance_correlation and their mean-over-samples metrics.
"""

from .. import config as _config
from .metric import _as_ns, _xp
from .reduction_metrics import MeanMetricWrapper


def _pair(y_true, y_pred):
    xp = _xp(y_pred)
    y_true = xp.astype(_as_ns(xp, y_true, y_pred), y_pred.dtype)
    # Keras's squeeze_or_expand_to_same_rank.
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = xp.reshape(y_true, y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = xp.reshape(y_pred, y_pred.shape[:-1])
    return xp, y_true, y_pred


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson correlation of y_true and y_pred along ``axis`` (one value per sample)."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    t = y_true - xp.mean(y_true, axis=axis, keepdims=True)
    p = y_pred - xp.mean(y_pred, axis=axis, keepdims=True)
    t = t / xp.std(t, axis=axis, keepdims=True)
    p = p / xp.std(p, axis=axis, keepdims=True)
    return xp.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Concordance correlation along ``axis``, as Keras computes it: the mean over ``axis``
    of 2·(y_true - mean(y_pred))·(y_pred - mean(y_pred)) / (var(y_true) + var(y_pred) +
    (mean(y_true) - mean(y_pred))² + EPS)."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    tm = xp.mean(y_true, axis=axis, keepdims=True)
    pm = xp.mean(y_pred, axis=axis, keepdims=True)
    tv = xp.var(y_true - tm, axis=axis, keepdims=True)
    pv = xp.var(y_pred - pm, axis=axis, keepdims=True)
    covar = (y_true - pm) * (y_pred - pm)
    norm = tv + pv + (tm - pm) * (tm - pm)
    return xp.mean(2.0 * covar / (norm + _config.epsilon()), axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """Mean over samples of the Pearson correlation along ``axis``."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    """Mean over samples of the concordance correlation along ``axis``."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


__all__ = ["pearson_correlation", "concordance_correlation", "PearsonCorrelation",
           "ConcordanceCorrelation"]
