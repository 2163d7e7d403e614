"""Stateful metrics by their Keras names (keras/src/metrics), accumulated on the device.

``update_state`` only adds device arrays; ``result()`` returns a 0-d device array, and the
training loop turns it into a float only when it logs (one synchronization per log).
"""

import array_api_compat

from .utils.naming import NameRegistry, snake_case


def _xp(x):
    return array_api_compat.array_namespace(x)


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
    ``reset_state()``. State lives on the device of the first arrays it sees."""

    def __init__(self, name=None, dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self._xp_ns = None

    def reset_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def result(self):  # pragma: no cover
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

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


_registry = NameRegistry("metric", Metric)


def register(obj, *names):
    """Register a Metric class (or per-sample function) under its name and aliases."""
    return _registry.register(obj, *names)


for _cls, _names in [
    (Mean, ("mean",)), (Accuracy, ()), (BinaryAccuracy, ("binary_accuracy",)),
    (CategoricalAccuracy, ("categorical_accuracy",)),
    (SparseCategoricalAccuracy, ("sparse_categorical_accuracy",)),
    (MeanSquaredError, ("mean_squared_error", "mse")),
    (MeanAbsoluteError, ("mean_absolute_error", "mae")),
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
