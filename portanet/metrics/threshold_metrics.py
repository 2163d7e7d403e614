"""Metrics at a constraint on the confusion curve (keras/src/metrics/confusion_metrics.py):
SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
and Sum (keras/src/metrics/reduction_metrics.py).

The four curve metrics count weighted TP/FP/TN/FN at ``num_thresholds`` thresholds evenly
spaced over [0, 1] (200 by default; 1 gives the single threshold 0.5). A prediction counts
as positive above a threshold, as Keras's bucketed counting decides it: strictly above,
and every prediction at the threshold 0. The result is the largest value of one rate over
the thresholds where the other rate meets the constraint (0 if none does).
"""

import array_api_compat

from .metric import Metric, _as_ns, _match_label_rank, _xp


def _div_no_nan(xp, a, b):
    zero = b == 0
    return xp.where(zero, xp.zeros_like(a), a / xp.where(zero, xp.ones_like(b), b))


class _SensitivitySpecificityBase(Metric):
    _rates = None          # (constrained, dependent) rate names

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"{owner}: num_thresholds={num_thresholds!r}; expected an integer > 0")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int)
                                     or class_id < 0):
            raise ValueError(f"{owner}: class_id={class_id!r}; expected a non-negative integer or None")
        self._direction = "up"
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._thresholds_distributed_evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
            self._thresholds_distributed_evenly = True
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.true_negatives = self.false_negatives = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        dev = array_api_compat.device(y_pred)
        y_true = _as_ns(xp, y_true, y_pred)
        if not xp.isdtype(y_pred.dtype, "real floating"):
            y_pred = xp.astype(y_pred, xp.float32)
        y_true = _match_label_rank(xp, y_true, y_pred)
        if sample_weight is not None:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            while w.ndim < y_pred.ndim:
                w = xp.expand_dims(w, axis=-1)
            w = w * xp.ones_like(y_pred)
        else:
            w = xp.ones_like(y_pred)
        if self.class_id is not None:
            y_true, y_pred, w = y_true[..., self.class_id], y_pred[..., self.class_id], w[..., self.class_id]
        labels = xp.reshape(xp.astype(y_true != 0, y_pred.dtype) * xp.ones_like(y_pred), (-1,))
        preds = xp.reshape(y_pred, (-1,))
        w = xp.reshape(w, (-1,))
        th = xp.asarray(self.thresholds, dtype=preds.dtype, device=dev)
        above = xp.expand_dims(preds, axis=-1) > th
        if self._thresholds_distributed_evenly:
            first = xp.arange(len(self.thresholds), device=dev) == 0
            above = above | first
        above = xp.astype(above, preds.dtype)
        pos_w, neg_w = w * labels, w * (1.0 - labels)
        tp = xp.sum(xp.expand_dims(pos_w, axis=-1) * above, axis=0)
        fp = xp.sum(xp.expand_dims(neg_w, axis=-1) * above, axis=0)
        tn, fn = xp.sum(neg_w) - fp, xp.sum(pos_w) - tp
        if self.true_positives is None:
            self.true_positives, self.false_positives = tp, fp
            self.true_negatives, self.false_negatives = tn, fn
        else:
            self.true_positives = self.true_positives + tp
            self.false_positives = self.false_positives + fp
            self.true_negatives = self.true_negatives + tn
            self.false_negatives = self.false_negatives + fn

    def _rate(self, xp, kind):
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        if kind in ("sensitivity", "recall"):
            return _div_no_nan(xp, tp, tp + fn)
        if kind == "specificity":
            return _div_no_nan(xp, tn, tn + fp)
        return _div_no_nan(xp, tp, tp + fp)     # precision

    def result(self):
        if self.true_positives is None:
            return 0.0
        xp = _xp(self.true_positives)
        constrained = self._rate(xp, self._rates[0])
        dependent = self._rate(xp, self._rates[1])
        feasible = constrained >= self.value
        return xp.max(xp.where(feasible, dependent, xp.zeros_like(dependent)))

    def get_config(self):
        config = super().get_config()
        config.update({"class_id": self.class_id})
        return config


def _check_rate(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{owner}: {name}={value!r}; expected a float in the range [0, 1]")


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) where specificity >= ``specificity``.

    Args:
        specificity: in [0, 1]. num_thresholds: 200. class_id: one class (column) only.
    """

    _rates = ("specificity", "sensitivity")

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_rate("SensitivityAtSpecificity", "specificity", specificity)
        self.specificity = specificity
        self.num_thresholds = num_thresholds
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "specificity": self.specificity})
        return config


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity where sensitivity >= ``sensitivity``."""

    _rates = ("sensitivity", "specificity")

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_rate("SpecificityAtSensitivity", "sensitivity", sensitivity)
        self.sensitivity = sensitivity
        self.num_thresholds = num_thresholds
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "sensitivity": self.sensitivity})
        return config


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision where recall >= ``recall``."""

    _rates = ("recall", "precision")

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_rate("PrecisionAtRecall", "recall", recall)
        self.recall = recall
        self.num_thresholds = num_thresholds
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "recall": self.recall})
        return config


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall where precision >= ``precision``."""

    _rates = ("precision", "recall")

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_rate("RecallAtPrecision", "precision", precision)
        self.precision = precision
        self.num_thresholds = num_thresholds
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "precision": self.precision})
        return config


class Sum(Metric):
    """Weighted sum of the values it is given: total += Σ w·v (Keras's Sum)."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = None

    def update_state(self, values, sample_weight=None):
        xp = _xp(values) if hasattr(values, "shape") else None
        if xp is None:
            raise TypeError(f"Sum {self.name!r}: values={values!r}; expected an array")
        if not xp.isdtype(values.dtype, "real floating"):
            values = xp.astype(values, getattr(xp, self.dtype))
        if sample_weight is not None:
            w = xp.astype(_as_ns(xp, sample_weight, values), values.dtype)
            if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
                w = xp.reshape(w, w.shape[:-1])
            while w.ndim < values.ndim:
                w = xp.expand_dims(w, axis=-1)
            values = values * w
        add = xp.sum(values)
        self.total = add if self.total is None else self.total + add

    def result(self):
        return 0.0 if self.total is None else self.total


__all__ = ["SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
           "RecallAtPrecision", "Sum"]
