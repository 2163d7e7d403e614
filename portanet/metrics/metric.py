"""The base Metric (keras/src/metrics/metric.py): state Variables on the device,
``update_state``/``result``/``reset_state``, ``add_variable`` for subclasses.
"""

import array_api_compat

from .. import backend as _backend
from .. import config as _config
from .. import initializers as _initializers
from ..layers.base import Variable
from ..losses import _same_namespace as _as_ns  # noqa: F401  (shared by the metric families)
from ..naming import snake_case
from ..ops import tape as _tape


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
        update = cls.__dict__.get("update_state")
        if update is not None and not getattr(update, "_reads_values", False):
            # Metrics hold no gradients: a loss or prediction computed in a GradientTape
            # block is read as its value, and the update records nothing on the tape.
            def update_state(self, *args, _fn=update, **kwargs):
                args = [_tape.value_of(a) for a in args]
                if kwargs:
                    kwargs = {k: _tape.value_of(v) for k, v in kwargs.items()}
                if not _tape.current_tape():
                    return _fn(self, *args, **kwargs)
                with _tape.paused():
                    return _fn(self, *args, **kwargs)
            update_state._reads_values = True
            update_state.__doc__ = update.__doc__
            update_state.__wrapped__ = update
            cls.update_state = update_state
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

    def __call__(self, *args, **kwargs):
        """``update_state(*args, **kwargs)`` then ``result()``, as Keras (``Mean()(x)``)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self._dtype or _config.floatx()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _align(y_true, y_pred):
    xp = _xp(y_pred)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = xp.expand_dims(y_true, axis=-1)
    return y_true


def _match_label_rank(xp, y_true, y_pred):
    """Labels (batch,) against predictions (batch, 1), or the reverse, given one rank."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        return xp.expand_dims(y_true, axis=-1)
    if y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        return xp.reshape(y_true, y_true.shape[:-1])
    return y_true

