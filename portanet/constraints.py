"""Weight constraints by their Keras names (keras/src/constraints), applied after each update."""

import array_api_compat

from . import config as _config
from .naming import NameRegistry


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    xp = array_api_compat.array_namespace(w)
    return xp, xp.sqrt(xp.sum(w * w, axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Scale each slice along ``axis`` so its L2 norm is at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        if not max_value > 0:
            raise ValueError(f"MaxNorm: max_value={max_value!r}; expected a positive float")
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        xp, norms = _norms(w, self.axis)
        desired = xp.clip(norms, 0.0, self.max_value)
        return w * (desired / (_config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keep slice norms in [min_value, max_value], moving by ``rate`` towards the range."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        if min_value < 0 or max_value < min_value:
            raise ValueError(f"MinMaxNorm: min_value={min_value!r}, max_value={max_value!r}; "
                             "expected 0 <= min_value <= max_value")
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    def __call__(self, w):
        xp, norms = _norms(w, self.axis)
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_config.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Zero out negative weights."""

    def __call__(self, w):
        xp = array_api_compat.array_namespace(w)
        return w * xp.astype(w >= 0, w.dtype)


class UnitNorm(Constraint):
    """Scale each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        xp, norms = _norms(w, self.axis)
        return w / (_config.epsilon() + norms)

    def get_config(self):
        return {"axis": self.axis}


_registry = NameRegistry("constraint", Constraint, "keras.constraints")
_registry.register(MaxNorm, "max_norm")
_registry.register(MinMaxNorm, "min_max_norm")
_registry.register(NonNeg, "non_neg")
_registry.register(UnitNorm, "unit_norm")
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm


def get(identifier):
    return _registry.get(identifier)


def serialize(constraint):
    return _registry.serialize(constraint)


def deserialize(config):
    return _registry.deserialize(config)
