"""Regression metrics (keras/src/metrics/regression_metrics.py): MeanSquaredError,
MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
RootMeanSquaredError, LogCoshError, CosineSimilarity, R2Score.
"""

from .. import losses as _losses
from .metric import Metric, _align, _as_ns, _xp
from .reduction_metrics import Mean, MeanMetricWrapper, _loss_fn, _size, _wrapper_class


def mean_squared_error(y_true, y_pred):
    xp = _xp(y_pred)
    d = y_pred - xp.astype(_align(y_true, y_pred), y_pred.dtype)
    return xp.mean(d * d, axis=-1)


def mean_absolute_error(y_true, y_pred):
    xp = _xp(y_pred)
    d = y_pred - xp.astype(_align(y_true, y_pred), y_pred.dtype)
    return xp.mean(xp.abs(d), axis=-1)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


mean_absolute_percentage_error = _loss_fn("mean_absolute_percentage_error")
mean_squared_logarithmic_error = _loss_fn("mean_squared_logarithmic_error")
log_cosh = _loss_fn("log_cosh")


def cosine_similarity(y_true, y_pred, axis=-1):
    """Σ ŷ·p̂ along ``axis`` (the metric is +cosine; the loss is its negative)."""
    xp = _xp(y_pred)
    return -_losses.cosine_similarity(_as_ns(xp, y_true, y_pred), y_pred, axis=axis)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of (y_pred - y_true)² over every element seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        y_true = xp.astype(_align(_as_ns(xp, y_true, y_pred), y_pred), y_pred.dtype)
        d = y_pred - y_true
        if sample_weight is not None:
            sample_weight = _as_ns(xp, sample_weight, y_pred)
        super().update_state(d * d, sample_weight)

    def result(self):
        if self.total is None:
            return 0.0
        value = super().result()
        return _xp(self.total).sqrt(value)

    def get_config(self):
        return Metric.get_config(self)


class R2Score(Metric):
    """Coefficient of determination 1 - SS_res/SS_tot per output, as Keras's R2Score.

    Args:
        class_aggregation: "uniform_average" (default: mean over outputs),
            "variance_weighted_average" (weighted by each output's total variance) or
            None (one score per output).
        num_regressors: number of regressors p for the adjusted R²
            1 - (1 - R²)(n - 1)/(n - p - 1), with n the number of elements seen (0: plain R²).

    Inputs: y_true, y_pred of shape (batch, outputs) (a 1-D pair is one output).
    """

    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"R2Score: class_aggregation={class_aggregation!r}; expected one of "
                             f"{self._AGGREGATIONS}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors={num_regressors!r}; expected a non-negative integer")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = None
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        y_true = xp.astype(_as_ns(xp, y_true, y_pred), y_pred.dtype)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        elif y_pred.ndim == y_true.ndim - 1:
            y_pred = xp.expand_dims(y_pred, axis=-1)
        if y_pred.ndim == 1:
            y_true, y_pred = xp.expand_dims(y_true, axis=-1), xp.expand_dims(y_pred, axis=-1)
        if y_pred.ndim != 2:
            raise ValueError(f"R2Score {self.name!r}: expected inputs of shape (batch, outputs); got "
                             f"{tuple(y_pred.shape)}")
        if sample_weight is None:
            w = xp.ones_like(y_true)
        else:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            if w.ndim == 1:
                w = xp.expand_dims(w, axis=1)
            w = w * xp.ones_like(y_true)
        d = y_true - y_pred
        parts = (xp.sum(y_true * w, axis=0), xp.sum(y_true * y_true * w, axis=0),
                 xp.sum(d * d * w, axis=0), xp.sum(w, axis=0))
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = parts
        else:
            self.sum = self.sum + parts[0]
            self.squared_sum = self.squared_sum + parts[1]
            self.total_mse = self.total_mse + parts[2]
            self.count = self.count + parts[3]
        self.num_samples += _size(y_true)

    def result(self):
        if self.sum is None:
            return 0.0
        xp = _xp(self.sum)
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        raw = 1.0 - self.total_mse / total
        raw = xp.where(xp.isinf(raw), xp.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = xp.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = xp.sum(total * raw) / xp.sum(total)
        else:
            score = raw
        n, p = self.num_samples, self.num_regressors
        if p and p < n - 1:
            score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return score

    def get_config(self):
        config = super().get_config()
        config.update({"class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors})
        return config


MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, "mean_absolute_percentage_error",
    "Mean of 100·|y - p|/max(|y|, EPS).")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
    "Mean of (log(p + 1) - log(y + 1))².")
LogCoshError = _wrapper_class("LogCoshError", log_cosh, "logcosh", "Mean of log(cosh(p - y)).")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                  "Mean cosine similarity (+1 is best).", _hidden=("axis",), axis=-1)
