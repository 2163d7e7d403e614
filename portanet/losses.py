"""Losses by their Keras names (keras/src/losses/losses.py), each with its exact gradient.

A loss's ``forward(y_true, y_pred, sample_weight=None)`` returns ``(value, backward)``
where ``backward(scale=1.0)`` gives scale·dL/dy_pred (DESIGN.md §4). Calling the loss
returns only the value, as in Keras.

Each loss is written as a per-sample function ``_per_sample(y, p) -> (l, grad)`` where
``l`` reduces the last axis and ``grad(dl) -> dp``; the base class does Keras's rank
alignment, sample weighting and reduction (default ``sum_over_batch_size``: the weighted
sum divided by the number of per-sample values, not by the sum of weights).
"""

import array_api_compat

from . import config as _config
from .utils.naming import NameRegistry

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _xp(x):
    return array_api_compat.array_namespace(x)


class Loss:
    """Base class of losses.

    Args:
        name: the loss's name.
        reduction: "sum_over_batch_size" (default), "sum", "mean",
            "mean_with_sample_weight" or "none".

    ``target_kind`` tells fit how to validate labels: "sparse" (integer class ids),
    "one_hot" (rows of width = number of classes), "binary" or "any".
    """

    target_kind = "any"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r}; expected one of "
                             f"{[r for r in REDUCTIONS if r]}")
        from .utils.naming import snake_case
        self.name = name or snake_case(type(self).__name__)
        self.reduction = reduction or "none"
        self.dtype = dtype

    # Subclasses implement this: per-sample values (last axis reduced) and their gradient.
    def _per_sample(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def _align(self, y_true, y_pred):
        """Keras's rank alignment: (N,) with (N, 1) -> both (N, 1); casts y_true to p's dtype."""
        xp = _xp(y_pred)
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
            y_true = xp.reshape(y_true, y_true.shape[:-1])
        if y_true.dtype != y_pred.dtype and self.target_kind != "sparse":
            y_true = xp.astype(y_true, y_pred.dtype)
        return y_true, y_pred

    def forward(self, y_true, y_pred, sample_weight=None):
        """Return ``(value, backward)``; ``backward(scale=1.0) -> scale * dL/dy_pred``."""
        xp = _xp(y_pred)
        y_true, p = self._align(y_true, y_pred)
        values, grad = self._per_sample(y_true, p)
        weights = None
        if sample_weight is not None:
            weights = xp.astype(sample_weight, values.dtype)
            while weights.ndim < values.ndim:
                weights = xp.expand_dims(weights, axis=-1)
            weighted = values * weights
        else:
            weighted = values
        size = 1
        for s in values.shape:
            size *= s
        if self.reduction == "none":
            value = weighted
            divisor = None
        elif self.reduction == "sum":
            value = xp.sum(weighted)
            divisor = 1.0
        elif self.reduction == "mean_with_sample_weight" and weights is not None:
            divisor = xp.sum(weights * xp.ones_like(values))
            value = xp.sum(weighted) / divisor
        else:
            divisor = float(max(size, 1))
            value = xp.sum(weighted) / divisor

        def backward(scale=1.0):
            if divisor is None:
                dl = scale * (xp.ones_like(values) if weights is None else weights * xp.ones_like(values))
            else:
                dl = (scale / divisor) * (xp.ones_like(values) if weights is None else weights * xp.ones_like(values))
            dp = grad(dl)
            if tuple(dp.shape) != tuple(y_pred.shape):
                dp = xp.reshape(dp, y_pred.shape)
            return dp
        return value, backward

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.forward(y_true, y_pred, sample_weight)[0]

    def call(self, y_true, y_pred):
        """Per-sample loss values (Keras's ``Loss.call``)."""
        y_true, y_pred = self._align(y_true, y_pred)
        return self._per_sample(y_true, y_pred)[0]

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _last_mean(xp, v):
    return xp.mean(v, axis=-1)


def _bcast(dl):
    """dl of shape (...,) -> (..., 1) for broadcasting against the last axis."""
    return _xp(dl).expand_dims(dl, axis=-1)


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis."""

    target_kind = "any"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        n = p.shape[-1]
        return xp.mean(d * d, axis=-1), lambda dl: _bcast(dl) * (2.0 / n) * d


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        n = p.shape[-1]
        return xp.mean(xp.abs(d), axis=-1), lambda dl: _bcast(dl) * (1.0 / n) * xp.sign(d)


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, from probabilities (clipped to [EPS, 1-EPS]) or logits.

    Args:
        from_logits: whether y_pred are logits (the stable form
            max(x, 0) - x·y + log(1 + exp(-|x|)) is used).
        label_smoothing: y <- y·(1 - ls) + 0.5·ls.
        axis: the axis averaged over (-1).
    """

    target_kind = "binary"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"BinaryCrossentropy: label_smoothing={label_smoothing!r}; expected a float in [0, 1]")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _per_sample(self, y, p):
        xp = _xp(p)
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        n = p.shape[-1]
        if self.from_logits:
            x = p
            zero = xp.zeros((), dtype=x.dtype)
            values = xp.maximum(x, zero) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
            e = xp.exp(-xp.abs(x))
            sig = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            return xp.mean(values, axis=-1), lambda dl: _bcast(dl) * ((sig - y) / n)
        eps = _config.epsilon()
        pc = xp.clip(p, eps, 1.0 - eps)
        values = -(y * xp.log(pc) + (1.0 - y) * xp.log(1.0 - pc))
        inside = xp.astype((p > eps) & (p < 1.0 - eps), p.dtype)

        def grad(dl):
            return _bcast(dl) * inside * ((pc - y) / (pc * (1.0 - pc) * n))
        return xp.mean(values, axis=-1), grad

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy on one-hot labels.

    From probabilities (Keras on NumPy/torch/JAX): p is renormalized to sum 1, clipped to
    [EPS, 1-EPS], then -Σ y·log p. From logits: -Σ y·log_softmax(x).

    Args:
        from_logits, label_smoothing (y <- y(1-ls) + ls/C), axis (-1).
    """

    target_kind = "one_hot"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing={label_smoothing!r}; expected a float in [0, 1]")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _smooth(self, y, num_classes):
        if self.label_smoothing:
            return y * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        return y

    def _per_sample(self, y, p):
        return _cce(self.from_logits, self._smooth(y, p.shape[-1]), p)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


def _cce(from_logits, y, p):
    xp = _xp(p)
    if from_logits:
        shifted = p - xp.max(p, axis=-1, keepdims=True)
        e = xp.exp(shifted)
        s = xp.sum(e, axis=-1, keepdims=True)
        logp = shifted - xp.log(s)
        soft = e / s
        ysum = xp.sum(y, axis=-1, keepdims=True)
        return -xp.sum(y * logp, axis=-1), lambda dl: _bcast(dl) * (soft * ysum - y)
    eps = _config.epsilon()
    total = xp.sum(p, axis=-1, keepdims=True)
    q = p / total
    qc = xp.clip(q, eps, 1.0 - eps)
    values = -xp.sum(y * xp.log(qc), axis=-1)

    def grad(dl):
        inside = xp.astype((q > eps) & (q < 1.0 - eps), p.dtype)
        g = -(y / qc) * inside                      # dL/dq
        return _bcast(dl) * (g - xp.sum(g * q, axis=-1, keepdims=True)) / total
    return values, grad


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class ids as labels (shape (N,) or (N, 1)).

    Args:
        from_logits: whether y_pred are logits.
        ignore_class: a label value whose samples contribute zero loss.
    """

    target_kind = "sparse"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class

    def _align(self, y_true, y_pred):
        xp = _xp(y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = xp.reshape(y_true, y_true.shape[:-1])
        return y_true, y_pred

    def _per_sample(self, y, p):
        xp = _xp(p)
        labels = y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
        classes = xp.arange(p.shape[-1], dtype=labels.dtype)
        onehot = xp.astype(xp.expand_dims(labels, axis=-1) == classes, p.dtype)
        values, grad = _cce(self.from_logits, onehot, p)
        if self.ignore_class is None:
            return values, grad
        keep = xp.astype(labels != self.ignore_class, p.dtype)
        return values * keep, lambda dl: grad(dl * keep)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class})
        return config


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function ``fn(y_true, y_pred)`` and its gradient.

    Args:
        fn: returns per-sample losses (last axis reduced), written with the backend's xp.
        grad: ``grad(y_true, y_pred, dl) -> dp``, the gradient of sum(dl · fn) w.r.t. y_pred.
    """

    def __init__(self, fn, grad=None, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        grad = grad or getattr(fn, "grad", None)
        if grad is None:
            raise TypeError(f"loss function {fn!r} has no gradient: pass grad=lambda y_true, y_pred, dl: ... "
                            "(or set fn.grad) so portanet can train with it")
        self.fn, self.grad, self.fn_kwargs = fn, grad, kwargs

    def _per_sample(self, y, p):
        return self.fn(y, p, **self.fn_kwargs), lambda dl: self.grad(y, p, dl, **self.fn_kwargs)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "fn": getattr(self.fn, "__name__", None)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = _functions.lookup(config.pop("fn"))
        return cls(fn, **config)


# Functional forms (Keras's keras.losses.mean_squared_error(y_true, y_pred) etc.).
def _functional(cls, **fixed):
    def fn(y_true, y_pred, **kwargs):
        return cls(reduction="none", **fixed, **kwargs)(y_true, y_pred)
    return fn


mean_squared_error = _functional(MeanSquaredError)
mean_absolute_error = _functional(MeanAbsoluteError)
binary_crossentropy = _functional(BinaryCrossentropy)
categorical_crossentropy = _functional(CategoricalCrossentropy)
sparse_categorical_crossentropy = _functional(SparseCategoricalCrossentropy)
for _f, _n in [(mean_squared_error, "mean_squared_error"), (mean_absolute_error, "mean_absolute_error"),
               (binary_crossentropy, "binary_crossentropy"),
               (categorical_crossentropy, "categorical_crossentropy"),
               (sparse_categorical_crossentropy, "sparse_categorical_crossentropy")]:
    _f.__name__ = _n
mse, mae = mean_squared_error, mean_absolute_error

_registry = NameRegistry("loss", Loss)
_functions = NameRegistry("loss function")
_STRING_TO_CLASS = {}


def register(cls, *names):
    """Register a Loss class under its class name and string aliases (e.g. "mse")."""
    _registry.register(cls, *names)
    for n in names:
        _STRING_TO_CLASS[n] = cls
    return cls


register(MeanSquaredError, "mean_squared_error", "mse", "MSE")
register(MeanAbsoluteError, "mean_absolute_error", "mae", "MAE")
register(BinaryCrossentropy, "binary_crossentropy")
register(CategoricalCrossentropy, "categorical_crossentropy")
register(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
_registry.register(LossFunctionWrapper)


def get(identifier):
    """A Loss from a name ("mse", "categorical_crossentropy"), a config, a Loss or a
    function ``f(y_true, y_pred)`` that carries ``f.grad(y_true, y_pred, dl)``."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _registry.lookup(identifier)
        return cls() if isinstance(cls, type) else cls
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return _registry.deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"could not interpret loss={identifier!r}; expected a name (one of "
                    f"{', '.join(_registry.names())}), a Loss or a function")


def serialize(loss):
    return _registry.serialize(loss)


def deserialize(config):
    return _registry.deserialize(config)
