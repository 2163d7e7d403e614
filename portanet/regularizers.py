"""Weight and activity regularizers by their Keras names (keras/src/regularizers).

A regularizer is called on a weight (or an output) and returns a scalar penalty; its
``grad(x)`` returns d(penalty)/dx. Keras's formulas: L1 = l1·Σ|x|, L2 = l2·Σx² (no ½).
"""

import array_api_compat

from .naming import NameRegistry


def _check(name, value):
    value = float(value)
    if value < 0 or value != value:
        raise ValueError(f"{name}={value!r}; expected a non-negative float")
    return value


class Regularizer:
    """Base class: ``__call__(x)`` -> scalar penalty, ``grad(x)`` -> its gradient."""

    def __call__(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """l1·Σ|x| + l2·Σx²."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check("l1", l1)
        self.l2 = _check("l2", l2)

    def __call__(self, x):
        xp = array_api_compat.array_namespace(x)
        total = xp.zeros((), dtype=x.dtype)
        if self.l1:
            total = total + self.l1 * xp.sum(xp.abs(x))
        if self.l2:
            total = total + self.l2 * xp.sum(x * x)
        return total

    def grad(self, x):
        xp = array_api_compat.array_namespace(x)
        g = xp.zeros_like(x)
        if self.l1:
            g = g + self.l1 * xp.sign(x)
        if self.l2:
            g = g + (2.0 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """factor · mean of |off-diagonal| of the (normalized) Gram matrix, as Keras."""

    def __init__(self, factor=0.01, mode="rows"):
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode={mode!r}; expected 'rows' or 'columns'")
        self.factor = _check("factor", factor)
        self.mode = mode

    def _parts(self, x):
        xp = array_api_compat.array_namespace(x)
        m = x if self.mode == "rows" else xp.matrix_transpose(x)
        norms = xp.sqrt(xp.sum(m * m, axis=1, keepdims=True))
        n = m / xp.maximum(norms, xp.asarray(1e-12, dtype=x.dtype))
        return xp, m, n, norms

    def __call__(self, x):
        xp, m, n, _ = self._parts(x)
        k = n.shape[0]
        gram = n @ xp.matrix_transpose(n)
        off = gram * (1.0 - xp.eye(k, dtype=x.dtype))
        return self.factor * xp.sum(xp.abs(off)) / (k * (k - 1))

    def grad(self, x):
        xp, m, n, norms = self._parts(x)
        k = n.shape[0]
        gram = n @ xp.matrix_transpose(n)
        s = xp.sign(gram) * (1.0 - xp.eye(k, dtype=x.dtype)) * (self.factor / (k * (k - 1)))
        dn = (s + xp.matrix_transpose(s)) @ n
        dm = (dn - n * xp.sum(dn * n, axis=1, keepdims=True)) / xp.maximum(norms, xp.asarray(1e-12, dtype=x.dtype))
        return dm if self.mode == "rows" else xp.matrix_transpose(dm)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


_registry = NameRegistry("regularizer", Regularizer, "keras.regularizers")
_registry.register(L1, "l1")
_registry.register(L2, "l2")
_registry.register(L1L2, "l1_l2", "l1l2")
_registry.register(OrthogonalRegularizer, "orthogonal_regularizer")
l1, l2, l1_l2 = L1, L2, L1L2
orthogonal_regularizer = OrthogonalRegularizer


def get(identifier):
    obj = _registry.get(identifier)
    if obj is not None and not isinstance(obj, Regularizer):
        raise TypeError(f"regularizer={identifier!r} is not a Regularizer (it needs __call__ and grad)")
    return obj


def serialize(regularizer):
    return _registry.serialize(regularizer)


def deserialize(config):
    return _registry.deserialize(config)
