"""Confusion-count metrics (keras/src/metrics/confusion_metrics.py): Precision, Recall,
TruePositives, FalsePositives, TrueNegatives, FalseNegatives, AUC (ROC / PR).
"""

import array_api_compat

from .. import config as _config
from .metric import Metric, _as_ns, _match_label_rank, _xp


def _div_no_nan(xp, a, b):
    zero = b == 0
    return xp.where(zero, xp.zeros_like(a * b), a / xp.where(zero, xp.ones_like(b), b))


_NEG_INF = -1e10  # Keras's metrics_utils.NEG_INF


def _filter_top_k(xp, x, k):
    """Keep the k largest entries of the last axis (first index wins ties), others -> NEG_INF."""
    n = x.shape[-1]
    xi = xp.expand_dims(x, axis=-1)        # (..., n, 1): entry i
    xj = xp.expand_dims(x, axis=-2)        # (..., 1, n): entry j
    idx = xp.arange(n, device=array_api_compat.device(x))
    earlier = xp.expand_dims(idx, axis=-1) > xp.expand_dims(idx, axis=0)  # j < i
    beats = (xj > xi) | ((xj == xi) & earlier)
    rank = xp.sum(xp.astype(beats, xp.int64), axis=-1)
    keep = xp.astype(rank < k, x.dtype)
    return x * keep + _NEG_INF * (1.0 - keep)


def _check_thresholds(owner, thresholds, default):
    """Keras's parse_init_thresholds: a float or a list of floats in [0, 1]."""
    if thresholds is None:
        return [default], True
    single = isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool)
    values = [thresholds] if single else list(thresholds)
    bad = [t for t in values if t is None or isinstance(t, bool) or not isinstance(t, (int, float))
           or t < 0 or t > 1]
    if bad or not values:
        raise ValueError(f"{owner}: thresholds={thresholds!r}; expected a float or a list of floats "
                         "in [0, 1]")
    return [float(t) for t in values], single


def _threshold_counts(xp, preds, labels, weights, thresholds):
    """Weighted (TP, FP, TN, FN), one per threshold, of flat predictions; a prediction
    strictly above a threshold counts as positive."""
    above = xp.astype(xp.expand_dims(preds, axis=-1) > thresholds, preds.dtype)   # (M, T)
    pos_w = weights * labels
    neg_w = weights * (1.0 - labels)
    tp = xp.sum(xp.expand_dims(pos_w, axis=-1) * above, axis=0)
    fp = xp.sum(xp.expand_dims(neg_w, axis=-1) * above, axis=0)
    return tp, fp, xp.sum(neg_w) - fp, xp.sum(pos_w) - tp


def _add_counts(metric, tp, fp, tn, fn):
    """Add one batch's counts to ``metric``'s device state (set on the first batch)."""
    if metric.true_positives is None:
        metric.true_positives, metric.false_positives = tp, fp
        metric.true_negatives, metric.false_negatives = tn, fn
    else:
        metric.true_positives = metric.true_positives + tp
        metric.false_positives = metric.false_positives + fp
        metric.true_negatives = metric.true_negatives + tn
        metric.false_negatives = metric.false_negatives + fn


class _ConfusionMetric(Metric):
    """Weighted confusion counts (TP, FP, TN, FN) at each threshold, kept on the device.

    A prediction is positive when it is strictly greater than the threshold; labels are
    positive when non-zero. Every element of y_true / y_pred counts (multi-label friendly),
    with sample_weight broadcast to y_pred's shape, as Keras's update_confusion_matrix_variables.
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{owner}: top_k={top_k!r}; expected a positive integer or None")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0):
            raise ValueError(f"{owner}: class_id={class_id!r}; expected a non-negative integer or None")
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        default = 0.5 if top_k is None else _NEG_INF
        self.thresholds, self._single = _check_thresholds(owner, thresholds, default)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.true_negatives = self.false_negatives = None

    def _prepare(self, y_true, y_pred, sample_weight):
        xp = _xp(y_pred)
        y_true = _as_ns(xp, y_true, y_pred)
        y_true = _match_label_rank(xp, y_true, y_pred)
        if not xp.isdtype(y_pred.dtype, "real floating"):
            y_pred = xp.astype(y_pred, xp.float32)
        if self.top_k is not None:
            y_pred = _filter_top_k(xp, y_pred, self.top_k)
        if self.class_id is not None:
            y_true = y_true[..., self.class_id]
            y_pred = y_pred[..., self.class_id]
        labels = xp.astype(y_true != 0, y_pred.dtype) * xp.ones_like(y_pred)
        if sample_weight is None:
            weights = xp.ones_like(y_pred)
        else:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            if self.class_id is not None and w.ndim == y_true.ndim + 1 and w.shape[-1] != 1:
                w = w[..., self.class_id]
            while w.ndim < y_pred.ndim:
                w = xp.expand_dims(w, axis=-1)
            weights = w * xp.ones_like(y_pred)
        return xp, xp.reshape(labels, (-1,)), xp.reshape(y_pred, (-1,)), xp.reshape(weights, (-1,))

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp, labels, preds, weights = self._prepare(y_true, y_pred, sample_weight)
        th = xp.asarray(self.thresholds, dtype=preds.dtype, device=array_api_compat.device(preds))
        _add_counts(self, *_threshold_counts(xp, preds, labels, weights, th))

    def _finish(self, value):
        return value[0] if self._single or self.init_thresholds is None else value

    def get_config(self):
        config = super().get_config()
        config.update({"thresholds": self.init_thresholds, "top_k": self.top_k,
                       "class_id": self.class_id})
        return config


class _TruePositiveRatio(_ConfusionMetric):
    """TP / (TP + ``_misses``): the shared result of Precision (false positives) and Recall
    (false negatives)."""

    _misses = None

    def result(self):
        if self.true_positives is None:
            return 0.0
        xp = _xp(self.true_positives)
        tp = self.true_positives
        return self._finish(_div_no_nan(xp, tp, tp + getattr(self, self._misses)))


class Precision(_TruePositiveRatio):
    """TP / (TP + FP) of predictions above ``thresholds`` (0.5 by default).

    Args:
        thresholds: a float or a list of floats in [0, 1]; a list gives one precision each.
        top_k: only the k highest predictions of each row count as positive.
        class_id: compute the metric for this class (column) only.
    """

    _misses = "false_positives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype)


class Recall(_TruePositiveRatio):
    """TP / (TP + FN) of predictions above ``thresholds`` (0.5 by default); arguments as Precision."""

    _misses = "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype)


class _ConfusionCount(_ConfusionMetric):
    _field = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def result(self):
        value = getattr(self, self._field)
        return 0.0 if value is None else self._finish(value)

    def get_config(self):
        return {**Metric.get_config(self), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """Weighted count of true positives (prediction > threshold, label non-zero)."""
    _field = "true_positives"


class FalsePositives(_ConfusionCount):
    """Weighted count of false positives."""
    _field = "false_positives"


class TrueNegatives(_ConfusionCount):
    """Weighted count of true negatives."""
    _field = "true_negatives"


class FalseNegatives(_ConfusionCount):
    """Weighted count of false negatives."""
    _field = "false_negatives"


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at thresholds.

    Thresholds are Keras's: [-EPS, 1/(n-1), 2/(n-1), ..., (n-2)/(n-1), 1 + EPS] for
    ``num_thresholds`` n (or the given ``thresholds`` plus the two end points). The area
    is a Riemann sum over consecutive thresholds: ROC with trapezoids (``interpolation``,
    the default), ``minoring`` (lower) or ``majoring`` (upper) heights; PR with
    ``interpolation`` uses Davis & Goadrich's interpolation, exactly as Keras's
    ``interpolate_pr_auc``.

    Args:
        num_thresholds: int > 1 (200).
        curve: "ROC" (default) or "PR".
        summation_method: "interpolation" (default), "minoring" or "majoring".
        thresholds: optional list of thresholds in [0, 1] (overrides num_thresholds).
        multi_label: treat each column as a separate label and average the label AUCs.
        num_labels: number of labels when multi_label (else found from the data).
        label_weights: per-label weights (for the average when multi_label, else
            multiplying the sample weights of each column).
        from_logits: whether predictions are logits (a sigmoid is applied).
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve_key = str(curve).upper()
        if curve_key not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve={curve!r}; expected 'ROC' or 'PR'")
        method = str(summation_method).lower()
        if method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method={summation_method!r}; expected 'interpolation', "
                             "'minoring' or 'majoring'")
        eps = _config.epsilon()
        if thresholds is not None:
            inner, _ = _check_thresholds("AUC", thresholds, None)
            inner = sorted(inner)
            self.num_thresholds = len(inner) + 2
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds={num_thresholds!r}; expected an integer > 1")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = [0.0 - eps] + inner + [1.0 + eps]
        self._init_thresholds = None if thresholds is None else inner
        self.curve, self.summation_method = curve_key, method
        self.multi_label = bool(multi_label)
        if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1):
            raise ValueError(f"AUC: num_labels={num_labels!r}; expected a positive integer or None")
        self.num_labels = num_labels
        if label_weights is not None:
            label_weights = [float(w) for w in label_weights]
            if any(w < 0 for w in label_weights):
                raise ValueError(f"AUC: label_weights={label_weights!r}; expected non-negative weights")
        self.label_weights = label_weights
        self.from_logits = bool(from_logits)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.true_negatives = self.false_negatives = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        dev = array_api_compat.device(y_pred)
        y_true = _as_ns(xp, y_true, y_pred)
        y_true = _match_label_rank(xp, y_true, y_pred)
        if self.from_logits:
            e = xp.exp(-xp.abs(y_pred))
            y_pred = xp.where(y_pred >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        labels = xp.astype(y_true != 0, y_pred.dtype) * xp.ones_like(y_pred)
        weights = xp.ones_like(y_pred)
        if sample_weight is not None:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            while w.ndim < y_pred.ndim:
                w = xp.expand_dims(w, axis=-1)
            weights = w * weights
        if self.label_weights is not None and not self.multi_label:
            weights = weights * xp.asarray(self.label_weights, dtype=y_pred.dtype, device=dev)
        th = xp.asarray(self.thresholds, dtype=y_pred.dtype, device=dev)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC {self.name!r}: multi_label=True expects 2-D predictions "
                                 f"(batch, labels); got shape {tuple(y_pred.shape)}")
            if self.num_labels is None:
                self.num_labels = int(y_pred.shape[-1])
            # (N, L, T) comparisons summed over N, stored (T, L) as Keras.
            above = xp.astype(xp.expand_dims(y_pred, axis=-1) > th, y_pred.dtype)
            pos_w = xp.expand_dims(weights * labels, axis=-1)
            neg_w = xp.expand_dims(weights * (1.0 - labels), axis=-1)
            tp = xp.matrix_transpose(xp.sum(pos_w * above, axis=0))
            fp = xp.matrix_transpose(xp.sum(neg_w * above, axis=0))
            fn = xp.sum(weights * labels, axis=0) - tp
            tn = xp.sum(weights * (1.0 - labels), axis=0) - fp
        else:
            tp, fp, tn, fn = _threshold_counts(xp, xp.reshape(y_pred, (-1,)),
                                               xp.reshape(labels, (-1,)),
                                               xp.reshape(weights, (-1,)), th)
        _add_counts(self, tp, fp, tn, fn)

    def _average(self, xp, by_label):
        if not self.multi_label:
            return xp.sum(by_label)
        per_label = xp.sum(by_label, axis=0)
        if self.label_weights is None:
            return xp.mean(per_label)
        lw = xp.asarray(self.label_weights, dtype=per_label.dtype, device=array_api_compat.device(per_label))
        return _div_no_nan(xp, xp.sum(per_label * lw), xp.sum(lw))

    def interpolate_pr_auc(self):
        """Davis & Goadrich (2006) interpolated PR-AUC, as Keras's ``interpolate_pr_auc``."""
        xp = _xp(self.true_positives)
        n = self.num_thresholds
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:n - 1, ...] - tp[1:, ...]
        p = tp + fp
        dp = p[:n - 1, ...] - p[1:, ...]
        prec_slope = _div_no_nan(xp, dtp, xp.maximum(dp, 0.0))
        intercept = tp[1:, ...] - prec_slope * p[1:, ...]
        both = (p[:n - 1, ...] > 0) & (p[1:, ...] > 0)
        ratio = _div_no_nan(xp, p[:n - 1, ...], xp.maximum(p[1:, ...], 0.0))
        safe_ratio = xp.where(both, ratio, xp.ones_like(ratio))
        safe_ratio = xp.where(safe_ratio > 0, safe_ratio, xp.ones_like(safe_ratio))
        increment = _div_no_nan(xp, prec_slope * (dtp + intercept * xp.log(safe_ratio)),
                                xp.maximum(tp[1:, ...] + fn[1:, ...], 0.0))
        return self._average(xp, increment)

    def result(self):
        if self.true_positives is None:
            return 0.0
        xp = _xp(self.true_positives)
        n = self.num_thresholds
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        recall = _div_no_nan(xp, tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div_no_nan(xp, fp, fp + tn), recall
        else:
            x, y = recall, _div_no_nan(xp, tp, tp + fp)
        lo, hi = y[:n - 1, ...], y[1:, ...]
        if self.summation_method == "interpolation":
            heights = (lo + hi) / 2.0
        elif self.summation_method == "minoring":
            heights = xp.minimum(lo, hi)
        else:
            heights = xp.maximum(lo, hi)
        return self._average(xp, (x[:n - 1, ...] - x[1:, ...]) * heights)

    def get_config(self):
        config = super().get_config()
        config.update({"num_thresholds": self.num_thresholds, "curve": self.curve,
                       "summation_method": self.summation_method, "multi_label": self.multi_label,
                       "num_labels": self.num_labels, "label_weights": self.label_weights,
                       "from_logits": self.from_logits})
        if self._init_thresholds is not None:      # Keras writes them only when given
            config["thresholds"] = self._init_thresholds
        return config
