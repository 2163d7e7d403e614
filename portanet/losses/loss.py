"""The base Loss (Keras's keras/src/losses/loss.py): Keras's rank alignment, sample
weighting and reductions, the tape bridge for losses written with ``pn.ops`` and
LossFunctionWrapper.

A loss's ``forward(y_true, y_pred, sample_weight=None)`` returns ``(value, backward)``
where ``backward(scale=1.0)`` gives scale·dL/dy_pred (docs/ARCHITECTURE.md, section 3).
"""

import array_api_compat

from ..naming import NameRegistry, snake_case
from ..ops import tape as _tape

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _apply_mask(xp, weights, mask, dtype, reduction, size):
    """Keras's ``apply_mask``: the masked entries get weight 0; with "sum_over_batch_size"
    (or "mean") the others get total/valid (0 when none is valid), so the reduction
    averages over the valid entries."""
    fmask = xp.astype(mask, dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = xp.sum(fmask)
        none = valid == 0
        scale = xp.where(none, xp.zeros_like(valid), float(size) / xp.where(none, xp.ones_like(valid), valid))
        fmask = fmask * scale
    return fmask if weights is None else weights * fmask


def _mask_like(xp, mask, values):
    """A boolean ``mask`` brought to ``values``' rank as Keras's
    squeeze_or_expand_to_same_rank does (a trailing 1 squeezed, or a last axis added)."""
    if mask.dtype != xp.bool:
        mask = xp.astype(mask, xp.bool)
    if mask.ndim == values.ndim + 1 and mask.shape[-1] == 1:
        mask = xp.reshape(mask, mask.shape[:-1])
    elif values.ndim == mask.ndim + 1 and values.shape[-1] == 1:
        mask = xp.expand_dims(mask, axis=-1)
    return mask


def _xp(x):
    return array_api_compat.array_namespace(x)


class Loss:
    """Base class of losses.

    Args:
        name: the loss's name.
        reduction: "sum_over_batch_size" (default), "sum", "mean",
            "mean_with_sample_weight" or "none".

    ``target_kind`` tells fit how to validate labels: "sparse" (integer class ids),
    "one_hot" (rows of width = number of classes), "binary", "any" or "custom" (a
    user's loss: Keras checks nothing, the function decides what its labels are).
    """

    target_kind = "any"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A user's Loss with its own call() takes labels of any form, as in Keras.
        if "call" in cls.__dict__ and "target_kind" not in cls.__dict__ and \
                not cls.__module__.startswith("portanet."):
            cls.target_kind = "custom"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r}; expected one of "
                             f"{[r for r in REDUCTIONS if r]}")
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

    def _loss_mask(self, y_true, y_pred):
        """The mask Keras sets on the per-sample losses (boolean, their shape), or None:
        SparseCategoricalCrossentropy(ignore_class=...) masks the ignored entries."""
        return None

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

    def forward(self, y_true, y_pred, sample_weight=None, mask=None):
        """Return ``(value, backward)``; ``backward(scale=1.0) -> scale * dL/dy_pred``.

        ``sample_weight`` (shape (N,), (N, 1) or the per-sample values' shape) multiplies
        the per-sample losses before the reduction (Keras's squeeze_or_expand_to_same_rank:
        a trailing 1 is squeezed, missing trailing axes are added). ``mask``: the mask
        ``y_pred`` carries (Keras's ``_keras_mask``, e.g. a model output after
        Embedding(mask_zero=True)), shaped as the per-sample losses; as Keras's
        ``Loss.__call__`` it is and-ed with the loss's own mask and folded into the
        weights (``apply_mask``: a mean over the unmasked entries).
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
        size = 1
        for s in values.shape:
            size *= s
        own = self._loss_mask(y_true, p)
        if mask is not None:
            mask = _mask_like(xp, _same_namespace(xp, mask, y_pred), values)
            mask = mask if own is None else own & mask
        else:
            mask = own
        if mask is not None:
            weights = _apply_mask(xp, weights, mask, values.dtype, self.reduction, size)
        weighted = values if weights is None else values * weights
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
                dp = _unbroadcast(xp, dp, tuple(y_pred.shape))
            return dp
        return value, backward

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss. Inside a trace (a GradientTape block, a layer's call) with a
        traced ``y_pred`` it records one node whose gradient is the loss's own. The mask
        ``y_pred`` carries (``_keras_mask``: a model output after Embedding(mask_zero=True),
        also inside a custom ``train_step``) masks it, as Keras's ``Loss.__call__``."""
        mask = _tape.keras_mask_of(y_pred)
        kw = {} if mask is None else {"mask": mask}
        tape = _tape.current_tape()
        if tape is not None and _tape.is_traced_input(y_pred, tape):
            value, backward = self.forward(_tape.value_of(y_true), _tape.value_of(y_pred),
                                           _tape.value_of(sample_weight), **kw)
            out = _tape.Tensor(value, tape)
            tape.record(self.name, [y_pred], [out], lambda g: [backward(g)])
            return out
        return self.forward(_tape.value_of(y_true), _tape.value_of(y_pred),
                            _tape.value_of(sample_weight), **kw)[0]

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


def _unbroadcast(xp, g, shape):
    """The gradient ``g`` of a value computed from y_pred broadcast to ``g.shape``, back
    to y_pred's ``shape``: summed over the broadcast axes (y_pred (N, 1) against labels
    (N, k)); a gradient of the same size is reshaped."""
    size = 1
    for s in shape:
        size *= s
    gsize = 1
    for s in g.shape:
        gsize *= s
    if gsize == size:
        return xp.reshape(g, shape)
    lead = g.ndim - len(shape)
    if lead > 0:
        g = xp.sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, shape)


def _bcast(dl):
    """dl of shape (...,) -> (..., 1) for broadcasting against the last axis."""
    return _xp(dl).expand_dims(dl, axis=-1)

# Functions by name, for LossFunctionWrapper.from_config.
_functions = NameRegistry("loss function")

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
        if not str(getattr(fn, "__module__", "") or "").startswith("portanet."):
            # A user's function decides what its labels are (Keras checks nothing).
            self.target_kind = "custom"

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
