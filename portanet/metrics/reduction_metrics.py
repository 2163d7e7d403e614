"""Mean and MeanMetricWrapper (keras/src/metrics/reduction_metrics.py), and the helpers that
turn a per-sample function or a loss of portanet.losses into a mean metric.
"""

from .. import config as _config
from .. import losses as _losses
from ..ops import tape as _tape
from .metric import Metric, _as_ns, _xp


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


def masked_sample_weight(sample_weight, mask):
    """The sample weight a MeanMetricWrapper gets for an output carrying ``mask``: Keras's
    ``apply_mask(sample_weight, mask, reduction="sum")`` (the mask as 0/1 weights, times
    the sample weights, ranks aligned as squeeze_or_expand_to_same_rank; portanet also
    broadcasts (N,) weights over an (N, T) mask, where Keras 3.15.1 fails)."""
    xp = _xp(mask)
    fmask = xp.astype(mask, xp.float64 if _config.floatx() == "float64" else xp.float32)
    if sample_weight is None:
        return fmask
    w = xp.astype(_as_ns(xp, sample_weight, mask), fmask.dtype)
    if fmask.ndim == w.ndim + 1 and fmask.shape[-1] == 1:
        if w.ndim == 1:
            w = xp.expand_dims(w, axis=-1)
        else:
            fmask = xp.reshape(fmask, fmask.shape[:-1])
    elif w.ndim == fmask.ndim + 1 and w.shape[-1] == 1:
        if fmask.ndim == 1:
            fmask = xp.expand_dims(fmask, axis=-1)
        else:
            w = xp.reshape(w, w.shape[:-1])
    while w.ndim < fmask.ndim:
        w = xp.expand_dims(w, axis=-1)
    return w * fmask


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred)`` (per-sample values). The training loop
    gives it ``masked_sample_weight`` when the output carries a mask, as Keras's reads
    ``y_pred._keras_mask``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        # As Keras's: the mask y_pred carries (a masked model output in a custom step)
        # weighs the values (masked_sample_weight).
        mask = _tape.keras_mask_of(y_pred)
        if mask is not None:
            sample_weight = masked_sample_weight(sample_weight, _tape.value_of(mask))
        if hasattr(y_true, "shape") and not isinstance(y_pred, _tape.Tensor):
            # Host targets (NumPy) against a device output, as Keras takes them.
            y_true = _as_ns(_xp(y_pred), y_true, y_pred)
        values = self.fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config


def _loss_fn(name, **fixed):
    """A per-sample metric function from a loss of portanet.losses (values only)."""
    def fn(y_true, y_pred, **kwargs):
        xp = _xp(y_pred)
        loss = getattr(_losses, name)
        return loss(_as_ns(xp, y_true, y_pred), y_pred, **fixed, **kwargs)
    fn.__name__ = name
    return fn


def _wrapper_class(class_name, fn, default_name, doc, _hidden=(), _last_axis_only=(), **defaults):
    """A MeanMetricWrapper subclass for a per-sample function, with Keras's signature.

    ``_hidden``: arguments passed to ``fn`` but not written by get_config (Keras writes
    none for them). ``_last_axis_only``: arguments Keras writes (``axis``) that ``fn`` does
    not take; only their default (-1) is accepted."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) {unknown}")
        for key in _last_axis_only:
            if kwargs.get(key, -1) != -1:
                raise ValueError(f"{class_name}: {key}={kwargs[key]!r}; only -1 (the last axis) is "
                                 "supported")
        passed = {k: v for k, v in {**defaults, **kwargs}.items() if k not in _last_axis_only}
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **passed)
        self._config_extra = {k: kwargs.get(k, defaults[k]) for k in _last_axis_only}

    def get_config(self):
        config = MeanMetricWrapper.get_config(self)
        for key in _hidden:
            config.pop(key, None)
        config.update(self._config_extra)
        return config
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "get_config": get_config,
                                                    "__doc__": doc})
