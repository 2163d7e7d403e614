"""Stateful metrics by their Keras names (keras/src/metrics), accumulated on the device.

``update_state`` only adds device arrays; ``result()`` returns a 0-d (or 1-d, for
per-class / per-threshold results) device array, and the training loop turns it into a
float only when it logs (one synchronization per log).

Mean-of-samples metrics: Accuracy, BinaryAccuracy, CategoricalAccuracy,
SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
MeanSquaredLogarithmicError, RootMeanSquaredError, LogCoshError, CosineSimilarity, Hinge,
SquaredHinge, CategoricalHinge, KLDivergence, Poisson and the cross-entropies.
Confusion-count metrics: Precision, Recall, TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, AUC (ROC / PR). Others: FBetaScore, F1Score, R2Score, Mean.
Strings resolve as Keras's: class names, their snake_case names and "mse", "mae",
"mape", "msle", "rmse", "auc", "kld", "bce", "logcosh", ...
"""

import array_api_compat

from . import backend as _backend
from . import config as _config
from . import initializers as _initializers
from .layers.base import Variable
from .losses import _same_namespace as _as_ns
from .naming import NameRegistry, snake_case
from .ops import tape as _tape


def _xp(x):
    return array_api_compat.array_namespace(x)


def _dtype_name(dtype):
    return str(dtype).rsplit(".", 1)[-1]


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
    ``reset_state()``. State lives on the device of the first arrays it sees.

    Custom metrics subclass it as in Keras: create state with
    ``self.add_variable(shape, initializer, dtype=None, aggregation="sum", name=None)`` in
    ``__init__``, update it with ``variable.assign(...)`` / ``assign_add`` in
    ``update_state`` (written with ``pn.ops``), and return a tensor from ``result``. The
    default ``reset_state`` sets every such variable back to its initial value.
    ``dtype`` defaults to ``pn.config.floatx()``.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self._dtype = dtype
        self._xp_ns = None
        self._variables = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fn = cls.__dict__.get("result")
        if fn is not None and not getattr(fn, "_returns_array", False):
            # A custom result() may return a Variable (Keras style): logs get its value.
            def result(self, _fn=fn):
                return _tape.value_of(_fn(self))
            result._returns_array = True
            result.__doc__ = fn.__doc__
            cls.result = result

    @property
    def dtype(self):
        return self._dtype or _config.floatx()

    @dtype.setter
    def dtype(self, value):
        self._dtype = value

    @property
    def variables(self):
        """The state variables made with ``add_variable``."""
        return list(getattr(self, "_variables", ()))

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A state Variable (not trained) on the active backend, as Keras's ``add_variable``.

        Args:
            shape: tuple of ints (``()`` for a scalar).
            initializer: name or initializer ("zeros", ...).
            dtype: default the metric's dtype.
            aggregation: how distributed replicas combine it ("sum", "mean", ...).
            name: the variable's name.
        """
        if aggregation not in ("none", "sum", "mean", "only_first_replica"):
            raise ValueError(f"{self.name}.add_variable: aggregation={aggregation!r}; expected "
                             "'none', 'sum', 'mean' or 'only_first_replica'")
        backend = _backend.current()
        dtype = dtype or self.dtype
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in (shape or ()))
        init = _initializers.get(initializer)
        value = backend.from_numpy(init(shape, dtype=dtype), dtype)
        name = name or f"variable_{len(self.variables)}"
        var = Variable(value, name, trainable=False, backend=backend)
        var.path = f"{self.name}/{name}"
        var.aggregation = aggregation
        var._initializer = init
        if not hasattr(self, "_variables"):
            self._variables = []
        self._variables.append(var)
        return var

    def reset_state(self):
        """Every ``add_variable`` variable back to its initial value."""
        if not self.variables:
            raise NotImplementedError(f"{type(self).__name__} must define reset_state() (or create "
                                      "its state with add_variable)")
        for v in self.variables:
            v.assign(v._initializer(v.shape, dtype=_dtype_name(v.dtype)))

    def update_state(self, y_true, y_pred, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def result(self):  # pragma: no cover
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self._dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted mean of the values it is given: total += Σ w·v; count += Σ w."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = None
        self.count = None

    def update_state(self, values, sample_weight=None):
        xp = _xp(values)
        if sample_weight is None:
            add_total = xp.sum(values)
            add_count = float(_size(values))
            add_count = xp.asarray(add_count, dtype=values.dtype, device=values.device)
        else:
            w = xp.astype(sample_weight, values.dtype)
            while w.ndim < values.ndim:
                w = xp.expand_dims(w, axis=-1)
            w = w * xp.ones_like(values)
            add_total = xp.sum(values * w)
            add_count = xp.sum(w)
        if self.total is None:
            self.total, self.count = add_total, add_count
        else:
            self.total = self.total + add_total
            self.count = self.count + add_count

    def result(self):
        if self.total is None:
            return 0.0
        xp = _xp(self.total)
        return self.total / xp.maximum(self.count, xp.asarray(1e-12, dtype=self.count.dtype,
                                                               device=self.count.device))


def _size(x):
    n = 1
    for s in x.shape:
        n *= s
    return n


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred)`` (per-sample values)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


def _align(y_true, y_pred):
    xp = _xp(y_pred)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = xp.expand_dims(y_true, axis=-1)
    return y_true


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
    labels = y_true if xp.isdtype(y_true.dtype, "integral") else xp.astype(y_true, xp.int64)
    return xp.astype(labels == xp.argmax(y_pred, axis=-1), y_pred.dtype)


def accuracy(y_true, y_pred):
    """Exact equality of y_true and y_pred (Keras's ``Accuracy``)."""
    xp = _xp(y_pred)
    y_true = _align(y_true, y_pred)
    return xp.mean(xp.astype(xp.astype(y_true, y_pred.dtype) == y_pred, y_pred.dtype), axis=-1)


def mean_squared_error(y_true, y_pred):
    xp = _xp(y_pred)
    d = y_pred - xp.astype(_align(y_true, y_pred), y_pred.dtype)
    return xp.mean(d * d, axis=-1)


def mean_absolute_error(y_true, y_pred):
    xp = _xp(y_pred)
    d = y_pred - xp.astype(_align(y_true, y_pred), y_pred.dtype)
    return xp.mean(xp.abs(d), axis=-1)


# ----------------------------------------------------------------- classes
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


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


# ----------------------------------------------------------------- more per-sample functions
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


def _loss_fn(name, **fixed):
    """A per-sample metric function from a loss of portanet.losses (values only)."""
    def fn(y_true, y_pred, **kwargs):
        from . import losses as _losses
        xp = _xp(y_pred)
        loss = getattr(_losses, name)
        return loss(_as_ns(xp, y_true, y_pred), y_pred, **fixed, **kwargs)
    fn.__name__ = name
    return fn


mean_absolute_percentage_error = _loss_fn("mean_absolute_percentage_error")
mean_squared_logarithmic_error = _loss_fn("mean_squared_logarithmic_error")
hinge = _loss_fn("hinge")
squared_hinge = _loss_fn("squared_hinge")
categorical_hinge = _loss_fn("categorical_hinge")
kl_divergence = _loss_fn("kl_divergence")
poisson = _loss_fn("poisson")
log_cosh = _loss_fn("log_cosh")
binary_crossentropy = _loss_fn("binary_crossentropy")
categorical_crossentropy = _loss_fn("categorical_crossentropy")
sparse_categorical_crossentropy = _loss_fn("sparse_categorical_crossentropy")
binary_focal_crossentropy = _loss_fn("binary_focal_crossentropy")


def cosine_similarity(y_true, y_pred, axis=-1):
    """Σ ŷ·p̂ along ``axis`` (the metric is +cosine; the loss is its negative)."""
    from . import losses as _losses
    xp = _xp(y_pred)
    return -_losses.cosine_similarity(_as_ns(xp, y_true, y_pred), y_pred, axis=axis)


# ----------------------------------------------------------------- more classes
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


def _check_k(owner, k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{owner}: k={k!r}; expected a positive integer")


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
        return {"name": self.name, "dtype": self._dtype}


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
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
            y_true = xp.reshape(y_true, y_true.shape[:-1])
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
        return {"name": self.name, "dtype": self._dtype, "thresholds": self.init_thresholds}


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
        from . import config as _config
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
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
            y_true = xp.reshape(y_true, y_true.shape[:-1])
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
                       "thresholds": self._init_thresholds, "from_logits": self.from_logits})
        return config


class FBetaScore(Metric):
    """F-beta score of 2-D (batch, classes) multi-class / multi-label predictions.

    Per class: precision P and recall R (with EPS added to each denominator, as Keras),
    F = (1 + β²)·P·R / (β²·P + R + EPS).

    Args:
        average: None (one score per class), "micro" (counts pooled over classes),
            "macro" (mean of the class scores) or "weighted" (mean weighted by the
            number of true instances of each class).
        beta: positive float, the weight of recall (1.0).
        threshold: predictions above it are positive; None uses the row's maximum
            (ties included; an all-zero row predicts nothing). Must be in (0, 1].
    """

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if average not in self._AVERAGES:
            raise ValueError(f"{owner}: average={average!r}; expected one of {self._AVERAGES}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"{owner}: beta={beta!r}; expected a positive float")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, float):
                raise ValueError(f"{owner}: threshold={threshold!r}; expected a float in (0, 1] or None")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"{owner}: threshold={threshold!r}; expected a float in (0, 1] or None")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.false_negatives = self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        y_true = _as_ns(xp, y_true, y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected 2-D y_true and y_pred "
                             f"(batch, classes); got shapes {tuple(y_true.shape)} and {tuple(y_pred.shape)}")
        if self.threshold is None:
            top = xp.max(y_pred, axis=-1, keepdims=True)
            pred = (y_pred >= top) & (xp.abs(y_pred) > 1e-9)
        else:
            pred = y_pred > self.threshold
        pred = xp.astype(pred, y_pred.dtype)
        y = xp.astype(y_true, y_pred.dtype)
        w = None
        if sample_weight is not None:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            w = xp.reshape(w, (w.shape[0], 1)) if w.ndim == 1 else w

        def weighted_sum(v):
            if w is not None:
                v = v * w
            return xp.sum(v, axis=self.axis)
        parts = (weighted_sum(pred * y), weighted_sum(pred * (1.0 - y)),
                 weighted_sum((1.0 - pred) * y), weighted_sum(y))
        if self.true_positives is None:
            (self.true_positives, self.false_positives, self.false_negatives,
             self.intermediate_weights) = parts
        else:
            self.true_positives = self.true_positives + parts[0]
            self.false_positives = self.false_positives + parts[1]
            self.false_negatives = self.false_negatives + parts[2]
            self.intermediate_weights = self.intermediate_weights + parts[3]

    def result(self):
        if self.true_positives is None:
            return 0.0
        from . import config as _config
        xp = _xp(self.true_positives)
        eps = _config.epsilon()
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        b2 = self.beta ** 2
        f = (precision * recall) / (b2 * precision + recall + eps) * (1.0 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (xp.sum(self.intermediate_weights) + eps)
            return xp.sum(f * weights)
        if self.average is not None:
            return xp.mean(f)
        return f

    def get_config(self):
        config = super().get_config()
        config.update({"average": self.average, "beta": self.beta, "threshold": self.threshold})
        return config


class F1Score(FBetaScore):
    """F1 score (FBetaScore with beta = 1); ``average`` and ``threshold`` as FBetaScore."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


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


def _wrapper_class(class_name, fn, default_name, doc, **defaults):
    """A MeanMetricWrapper subclass for a per-sample function, with Keras's signature."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) {unknown}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, "mean_absolute_percentage_error",
    "Mean of 100·|y - p|/max(|y|, EPS).")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
    "Mean of (log(p + 1) - log(y + 1))².")
LogCoshError = _wrapper_class("LogCoshError", log_cosh, "logcosh", "Mean of log(cosh(p - y)).")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                  "Mean cosine similarity (+1 is best).", axis=-1)
Hinge = _wrapper_class("Hinge", hinge, "hinge", "Mean hinge loss.")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge", "Mean squared hinge loss.")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "Mean categorical hinge loss.")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence", "Mean KL divergence.")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "Mean Poisson loss.")
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy", "Mean binary cross-entropy.",
    from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    "Mean categorical cross-entropy.", from_logits=False, label_smoothing=0.0)
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
    "Mean sparse categorical cross-entropy.", from_logits=False)


_registry = NameRegistry("metric", Metric)


def register(obj, *names):
    """Register a Metric class (or per-sample function) under its name and aliases."""
    return _registry.register(obj, *names)


for _cls, _names in [
    (Mean, ("mean",)), (Accuracy, ()), (BinaryAccuracy, ("binary_accuracy",)),
    (CategoricalAccuracy, ("categorical_accuracy",)),
    (SparseCategoricalAccuracy, ("sparse_categorical_accuracy",)),
    (TopKCategoricalAccuracy, ("top_k_categorical_accuracy",)),
    (SparseTopKCategoricalAccuracy, ("sparse_top_k_categorical_accuracy",)),
    (MeanSquaredError, ("mean_squared_error", "mse", "MSE")),
    (MeanAbsoluteError, ("mean_absolute_error", "mae", "MAE")),
    (MeanAbsolutePercentageError, ("mean_absolute_percentage_error", "mape", "MAPE")),
    (MeanSquaredLogarithmicError, ("mean_squared_logarithmic_error", "msle", "MSLE")),
    (RootMeanSquaredError, ("root_mean_squared_error", "rmse")),
    (LogCoshError, ("logcosh", "log_cosh_error", "log_cosh")),
    (CosineSimilarity, ("cosine_similarity",)),
    (Hinge, ("hinge",)), (SquaredHinge, ("squared_hinge",)), (CategoricalHinge, ("categorical_hinge",)),
    (KLDivergence, ("kl_divergence", "kld", "KLD")), (Poisson, ("poisson",)),
    (BinaryCrossentropy, ("binary_crossentropy", "bce", "BCE")),
    (CategoricalCrossentropy, ("categorical_crossentropy",)),
    (SparseCategoricalCrossentropy, ("sparse_categorical_crossentropy",)),
    (Precision, ("precision",)), (Recall, ("recall",)),
    (TruePositives, ("true_positives",)), (FalsePositives, ("false_positives",)),
    (TrueNegatives, ("true_negatives",)), (FalseNegatives, ("false_negatives",)),
    (AUC, ("auc",)), (FBetaScore, ("fbeta_score",)), (F1Score, ("f1_score",)),
    (R2Score, ("r2_score",)),
]:
    register(_cls, *_names)
mse, mae = mean_squared_error, mean_absolute_error


def resolve_accuracy(y_true_shape, y_pred_shape):
    """Keras's rule for "accuracy": binary, sparse categorical or categorical by shapes."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A Metric from a name, config, Metric instance or per-sample function.

    "accuracy"/"acc" need the target and prediction shapes to pick the right accuracy.
    The metric is named by the string it was asked for, as Keras names it.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_pred_shape is None:
                return Accuracy(name=identifier)
            return resolve_accuracy(y_true_shape, y_pred_shape)(name=identifier)
        obj = _registry.lookup(identifier)
        if isinstance(obj, type):
            metric = obj()
            metric.name = identifier
            return metric
        return MeanMetricWrapper(obj, name=identifier)
    if isinstance(identifier, dict):
        return _registry.deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"could not interpret metric={identifier!r}; expected a name (one of "
                    f"{', '.join(_registry.names())}), a Metric or a function")


def serialize(metric):
    return _registry.serialize(metric)


def deserialize(config):
    return _registry.deserialize(config)
