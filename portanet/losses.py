"""Losses by their Keras names (keras/src/losses/losses.py), each with its exact gradient.

A loss's ``forward(y_true, y_pred, sample_weight=None)`` returns ``(value, backward)``
where ``backward(scale=1.0)`` gives scale·dL/dy_pred (docs/ARCHITECTURE.md). Calling the loss
returns only the value, as in Keras.

Each loss is written as a per-sample function ``_per_sample(y, p) -> (l, grad)`` where
``l`` reduces the last axis and ``grad(dl) -> dp``; the base class does Keras's rank
alignment, sample weighting and reduction (default ``sum_over_batch_size``: the weighted
sum divided by the number of per-sample values, not by the sum of weights).

Classes (string names in brackets): MeanSquaredError ("mse"), MeanAbsoluteError ("mae"),
MeanAbsolutePercentageError ("mape"), MeanSquaredLogarithmicError ("msle"), Huber
("huber"), LogCosh ("log_cosh"), KLDivergence ("kld", "kl_divergence"), Poisson,
Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity, BinaryCrossentropy ("bce"),
BinaryFocalCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy; each
also as a function (``pn.losses.huber(y_true, y_pred)``) returning per-sample values.
A custom ``f(y_true, y_pred)`` written with ``pn.ops`` trains as it is: its gradient
comes from the tape (``portanet.ops.tape``); one carrying ``f.grad(y_true, y_pred, dl)``
uses that instead. A ``Loss`` subclass that defines ``call(y_true, y_pred)`` (Keras's way)
returns per-sample values from ``call`` and gets Keras's sample weighting and reduction.
"""

import array_api_compat

from . import config as _config
from .naming import NameRegistry
from .ops import tape as _tape

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
        from .naming import snake_case
        self.name = name or snake_case(type(self).__name__)
        self.reduction = reduction or "none"
        self.dtype = dtype

    # Built-in losses implement this: per-sample values (last axis reduced) and their
    # gradient. A subclass defining call() gets it from the tape.
    def _per_sample(self, y_true, y_pred):
        if not self._custom_call():
            raise NotImplementedError(f"{type(self).__name__} defines neither call(y_true, y_pred) "
                                      "nor _per_sample")
        return traced_per_sample(self.call, y_true, y_pred, self.name)

    def _custom_call(self):
        return type(self).call is not Loss.call

    def _align(self, y_true, y_pred):
        """Keras's rank alignment: (N,) with (N, 1) -> both (N, 1); casts y_true to p's dtype.
        A custom ``call`` gets the labels with y_pred's dtype only, as Keras passes them."""
        xp = _xp(y_pred)
        if self._custom_call():
            if xp.isdtype(y_true.dtype, "numeric") and y_true.dtype != y_pred.dtype:
                y_true = xp.astype(y_true, y_pred.dtype)
            return y_true, y_pred
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
            y_true = xp.reshape(y_true, y_true.shape[:-1])
        if y_true.dtype != y_pred.dtype and self.target_kind != "sparse":
            y_true = xp.astype(y_true, y_pred.dtype)
        return y_true, y_pred

    def forward(self, y_true, y_pred, sample_weight=None):
        """Return ``(value, backward)``; ``backward(scale=1.0) -> scale * dL/dy_pred``.

        ``sample_weight`` (shape (N,), (N, 1) or the per-sample values' shape) multiplies
        the per-sample losses before the reduction (Keras's squeeze_or_expand_to_same_rank:
        a trailing 1 is squeezed, missing trailing axes are added).
        """
        xp = _xp(y_pred)
        y_true = _same_namespace(xp, y_true, y_pred)
        y_true, p = self._align(y_true, y_pred)
        values, grad = self._per_sample(y_true, p)
        weights = None
        if sample_weight is not None:
            weights = _same_namespace(xp, sample_weight, y_pred)
            weights = xp.astype(weights, values.dtype)
            if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
                weights = xp.reshape(weights, weights.shape[:-1])
            while weights.ndim < values.ndim:
                weights = xp.expand_dims(weights, axis=-1)
            weighted = values * weights
        else:
            weighted = values
        size = 1
        for s in values.shape:
            size *= s
        if self.reduction == "none" or values.ndim == 0:
            value = weighted
            divisor = None
        elif self.reduction == "sum":
            value = xp.sum(weighted)
            divisor = 1.0
        elif self.reduction == "mean_with_sample_weight" and weights is not None:
            # Σ(w·ℓ)/Σw with Keras's divide_no_nan (0 when every weight is 0).
            total_w = xp.sum(weights)
            empty = total_w == 0
            divisor = xp.where(empty, xp.ones_like(total_w), total_w)
            value = xp.where(empty, xp.zeros_like(total_w), xp.sum(weighted) / divisor)
        else:
            divisor = float(max(size, 1))
            value = xp.sum(weighted) / divisor

        def backward(scale=1.0):
            base = xp.ones_like(values) if weights is None else weights * xp.ones_like(values)
            dl = scale * base if divisor is None else (scale / divisor) * base
            dp = grad(dl)
            if tuple(dp.shape) != tuple(y_pred.shape):
                dp = xp.reshape(dp, y_pred.shape)
            return dp
        return value, backward

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss. Inside a trace (a GradientTape block, a layer's call) with a
        traced ``y_pred`` it records one node whose gradient is the loss's own."""
        tape = _tape.current_tape()
        if tape is not None and _tape.is_traced_input(y_pred, tape):
            value, backward = self.forward(_tape.value_of(y_true), _tape.value_of(y_pred),
                                           _tape.value_of(sample_weight))
            out = _tape.Tensor(value, tape)
            tape.record(self.name, [y_pred], [out], lambda g: [backward(g)])
            return out
        return self.forward(_tape.value_of(y_true), _tape.value_of(y_pred),
                            _tape.value_of(sample_weight))[0]

    def call(self, y_true, y_pred):
        """Per-sample loss values (Keras's ``Loss.call``)."""
        y_true, y_pred = self._align(y_true, y_pred)
        return self._per_sample(y_true, y_pred)[0]

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def traced_per_sample(fn, y_true, y_pred, name, **kwargs):
    """``(values, grad)`` of a per-sample loss function written with pn.ops: ``fn`` runs on
    a traced ``y_pred`` and ``grad(dl)`` walks its tape back to dL/dy_pred."""
    tape = _tape.Tape()
    with tape:
        p = tape.watch_value(y_pred)
        values = fn(y_true, p, **kwargs)
    if not hasattr(_tape.value_of(values), "shape"):
        raise TypeError(f"loss {name!r} returned {type(values).__name__}; expected a tensor "
                        "computed with pn.ops")
    raw = _tape.value_of(values)
    xp = _xp(y_pred)

    def grad(dl):
        if not isinstance(values, _tape.Tensor):
            return xp.zeros_like(y_pred)
        grads = tape.backward([values], [dl])
        g = grads.get(id(p))
        return xp.zeros_like(y_pred) if g is None else g
    return raw, grad


def _last_mean(xp, v):
    return xp.mean(v, axis=-1)


def _same_namespace(xp, a, like):
    """``a`` as an array of ``like``'s namespace and device (host arrays and lists moved)."""
    try:
        if array_api_compat.array_namespace(a) is xp:
            return a
    except TypeError:
        pass
    return xp.asarray(a, device=array_api_compat.device(like))


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
        classes = xp.arange(p.shape[-1], dtype=labels.dtype, device=array_api_compat.device(p))
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


class MeanAbsolutePercentageError(Loss):
    """100·mean(|y_true - y_pred| / max(|y_true|, EPS)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        d = p - y
        denom = xp.maximum(xp.abs(y), _config.epsilon())
        n = p.shape[-1]
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
        n = p.shape[-1]
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
        n = p.shape[-1]
        slope = xp.where(quad, e, delta * xp.sign(e))
        return xp.mean(values, axis=-1), lambda dl: _bcast(dl) * slope / n

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true))), computed as x + softplus(-2x) - log 2 (no overflow)."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        x = p - y
        m = -2.0 * x
        softplus = xp.maximum(m, xp.zeros((), dtype=m.dtype)) + xp.log1p(xp.exp(-xp.abs(m)))
        n = p.shape[-1]
        return xp.mean(x + softplus - _LOG2, axis=-1), lambda dl: _bcast(dl) * xp.tanh(x) / n


_LOG2 = 0.6931471805599453


class KLDivergence(Loss):
    """Kullback-Leibler divergence Σ y·log(y/p) over the last axis, y and p clipped to [EPS, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        eps = _config.epsilon()
        yc = xp.clip(y, eps, 1.0)
        pc = xp.clip(p, eps, 1.0)
        inside = xp.astype((p >= eps) & (p <= 1.0), p.dtype)
        return xp.sum(yc * xp.log(yc / pc), axis=-1), lambda dl: _bcast(dl) * (-yc / pc) * inside


class Poisson(Loss):
    """mean(y_pred - y_true·log(y_pred + EPS)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        eps = _config.epsilon()
        n = p.shape[-1]
        return xp.mean(p - y * xp.log(p + eps), axis=-1), \
            lambda dl: _bcast(dl) * (1.0 - y / (p + eps)) / n


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

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class BinaryFocalCrossentropy(Loss):
    """Binary focal cross-entropy (Lin et al. 2017), as Keras.

    loss = mean(w·(1 - p_t)^gamma · bce) with p_t = y·p + (1 - y)(1 - p), bce the binary
    cross-entropy of p clipped to [EPS, 1-EPS], and w = y·alpha + (1 - y)(1 - alpha) when
    ``apply_class_balancing`` (else 1).

    Args:
        apply_class_balancing: weight classes by alpha / (1 - alpha).
        alpha: class-balancing weight of the positive class (0.25).
        gamma: focusing parameter >= 0 (2.0); gamma = 0 gives the binary cross-entropy.
        from_logits: whether y_pred are logits (a sigmoid is applied first).
        label_smoothing: y <- y·(1 - ls) + 0.5·ls.
        axis: the axis averaged over (-1).
    """

    target_kind = "binary"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: label_smoothing={label_smoothing!r}; "
                             "expected a float in [0, 1]")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f"BinaryFocalCrossentropy: gamma={gamma!r}; expected a non-negative float")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: alpha={alpha!r}; expected a float in [0, 1]")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _per_sample(self, y, p):
        xp = _xp(p)
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            e = xp.exp(-xp.abs(p))
            s = xp.where(p >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            s = p
        eps = _config.epsilon()
        sc = xp.clip(s, eps, 1.0 - eps)
        bce = -(y * xp.log(sc) + (1.0 - y) * xp.log(1.0 - sc))
        p_t = y * s + (1.0 - y) * (1.0 - s)
        q = 1.0 - p_t
        gamma = self.gamma
        focal = q ** gamma if gamma else xp.ones_like(q)
        weight = (y * self.alpha + (1.0 - y) * (1.0 - self.alpha)) if self.apply_class_balancing else 1.0
        values = weight * focal * bce
        n = p.shape[-1]

        def grad(dl):
            inside = xp.astype((s >= eps) & (s <= 1.0 - eps), p.dtype)
            dbce = inside * (sc - y) / (sc * (1.0 - sc))
            if gamma:
                # d(1 - p_t)^gamma/ds = -gamma·(1 - p_t)^(gamma - 1)·(2y - 1); 0 where 1 - p_t = 0.
                safe_q = xp.where(q > 0, q, xp.ones_like(q))
                dfocal = xp.where(q > 0, -gamma * safe_q ** (gamma - 1.0), xp.zeros_like(q)) * (2.0 * y - 1.0)
            else:
                dfocal = xp.zeros_like(q)
            ds = weight * (dfocal * bce + focal * dbce)
            if self.from_logits:
                ds = ds * s * (1.0 - s)
            return _bcast(dl) * ds / n
        return xp.mean(values, axis=-1), grad

    def get_config(self):
        config = super().get_config()
        config.update({"apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                       "gamma": self.gamma, "from_logits": self.from_logits,
                       "label_smoothing": self.label_smoothing, "axis": self.axis})
        return config


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function ``fn(y_true, y_pred)`` (Keras's LossFunctionWrapper).

    Args:
        fn: returns per-sample losses (or a scalar), written with ``pn.ops``; its gradient
            comes from the tape.
        grad: optional ``grad(y_true, y_pred, dl) -> dp``, the gradient of sum(dl · fn)
            w.r.t. y_pred, used instead of the tape when given (or set as ``fn.grad``).
    """

    def __init__(self, fn, grad=None, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: fn={fn!r}; expected a function (y_true, y_pred)")
        grad = grad or getattr(fn, "grad", None)
        self.fn, self.grad, self.fn_kwargs = fn, grad, kwargs

    def _custom_call(self):
        return False

    def _per_sample(self, y, p):
        if self.grad is None:
            return traced_per_sample(self.fn, y, p, self.name, **self.fn_kwargs)
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
mean_absolute_percentage_error = _functional(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = _functional(MeanSquaredLogarithmicError)
huber = _functional(Huber)
log_cosh = _functional(LogCosh)
kl_divergence = _functional(KLDivergence)
poisson = _functional(Poisson)
hinge = _functional(Hinge)
squared_hinge = _functional(SquaredHinge)
categorical_hinge = _functional(CategoricalHinge)
cosine_similarity = _functional(CosineSimilarity)
binary_crossentropy = _functional(BinaryCrossentropy)
binary_focal_crossentropy = _functional(BinaryFocalCrossentropy)
categorical_crossentropy = _functional(CategoricalCrossentropy)
sparse_categorical_crossentropy = _functional(SparseCategoricalCrossentropy)
for _n in ["mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "huber", "log_cosh", "kl_divergence", "poisson",
           "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
           "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]:
    globals()[_n].__name__ = _n
    globals()[_n].__qualname__ = _n
mse, mae, mape, msle = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                        mean_squared_logarithmic_error)
kld = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

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
register(MeanAbsolutePercentageError, "mean_absolute_percentage_error", "mape", "MAPE")
register(MeanSquaredLogarithmicError, "mean_squared_logarithmic_error", "msle", "MSLE")
register(Huber, "huber", "huber_loss")
register(LogCosh, "log_cosh", "logcosh")
register(KLDivergence, "kl_divergence", "kld", "KLD", "kullback_leibler_divergence")
register(Poisson, "poisson")
register(Hinge, "hinge")
register(SquaredHinge, "squared_hinge")
register(CategoricalHinge, "categorical_hinge")
register(CosineSimilarity, "cosine_similarity")
register(BinaryCrossentropy, "binary_crossentropy", "bce", "BCE")
register(BinaryFocalCrossentropy, "binary_focal_crossentropy")
register(CategoricalCrossentropy, "categorical_crossentropy")
register(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
_registry.register(LossFunctionWrapper)
_FUNCTION_TO_CLASS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber, log_cosh: LogCosh,
    kl_divergence: KLDivergence, poisson: Poisson, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, cosine_similarity: CosineSimilarity,
    binary_crossentropy: BinaryCrossentropy, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}


def get(identifier):
    """A Loss from a name ("mse", "categorical_crossentropy"), a config, a Loss or a
    function ``f(y_true, y_pred)`` written with ``pn.ops`` (differentiated by the tape)."""
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
        cls = _FUNCTION_TO_CLASS.get(identifier)
        if cls is not None:
            # compile(loss=pn.losses.huber): the built-in function trains through its class.
            return cls()
        return LossFunctionWrapper(identifier)
    raise TypeError(f"could not interpret loss={identifier!r}; expected a name (one of "
                    f"{', '.join(_registry.names())}), a Loss or a function")


def serialize(loss):
    return _registry.serialize(loss)


def deserialize(config):
    return _registry.deserialize(config)
