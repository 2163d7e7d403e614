"""Activation functions by their Keras names (keras/src/activations/activations.py).

Each activation is a plain function ``f(x, ...)`` a user can call on any backend's array,
with a gradient attached as ``f.grad(x, y, dy, **kwargs) -> dx`` (y = f(x) is passed so
most gradients reuse the output). ``apply(activation, x)`` returns ``(y, backward)`` in the
layer contract's style. A custom activation needs a gradient: ``register(fn, grad)``.
"""

import functools

import array_api_compat

from .utils.naming import NameRegistry

_registry = NameRegistry("activation")


def _xp(x):
    return array_api_compat.array_namespace(x)


def _with_grad(grad, *names):
    def deco(fn):
        fn.grad = grad
        _registry.register(fn, *names)
        return fn
    return deco


def register(fn, grad, name=None):
    """Register a custom activation ``fn(x)`` with its gradient ``grad(x, y, dy) -> dx``."""
    if not callable(fn) or not callable(grad):
        raise TypeError(f"register: fn and grad must be callables, got {fn!r} and {grad!r}")
    fn.grad = grad
    _registry.register(fn, *((name,) if name else ()))
    return fn


def apply(activation, x):
    """Run an activation and return ``(y, backward)`` with ``backward(dy) -> dx``."""
    if activation is linear:
        return x, _identity
    y = activation(x)
    grad = _grad_of(activation)

    def backward(dy):
        return grad(x, y, dy)
    return y, backward


def _identity(dy):
    return dy


def _grad_of(activation):
    if isinstance(activation, functools.partial):
        grad = getattr(activation.func, "grad", None)
        if grad is not None:
            return functools.partial(grad, **activation.keywords)
    grad = getattr(activation, "grad", None)
    if grad is None:
        raise TypeError(f"activation {activation!r} has no gradient: register it with "
                        "pn.activations.register(fn, grad=lambda x, y, dy: ...)")
    return grad


# --------------------------------------------------------------------------- functions
def _linear_grad(x, y, dy):
    return dy


@_with_grad(_linear_grad, "linear")
def linear(x):
    """Identity: f(x) = x."""
    return x


def _relu_grad(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0):
    xp = _xp(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return dy * xp.astype(x > 0, dy.dtype)
    slope = xp.where(x > threshold, xp.ones_like(x), xp.full_like(x, negative_slope))
    if max_value is not None:
        slope = xp.where(x >= max_value, xp.zeros_like(x), slope)
    return dy * slope


@_with_grad(_relu_grad, "relu")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0); with negative_slope a leak below ``threshold``, clipped at ``max_value``."""
    xp = _xp(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return xp.maximum(x, xp.zeros((), dtype=x.dtype))
    y = xp.where(x > threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = xp.where(x >= max_value, xp.full_like(x, max_value), y)
    return y


def _sigmoid_grad(x, y, dy):
    return dy * y * (1.0 - y)


@_with_grad(_sigmoid_grad, "sigmoid")
def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    xp = _xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tanh_grad(x, y, dy):
    return dy * (1.0 - y * y)


@_with_grad(_tanh_grad, "tanh")
def tanh(x):
    """Hyperbolic tangent."""
    return _xp(x).tanh(x)


def _softmax_grad(x, y, dy, axis=-1):
    xp = _xp(x)
    return y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))


@_with_grad(_softmax_grad, "softmax")
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (max-shifted for stability)."""
    xp = _xp(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _log_softmax_grad(x, y, dy, axis=-1):
    xp = _xp(x)
    return dy - xp.exp(y) * xp.sum(dy, axis=axis, keepdims=True)


@_with_grad(_log_softmax_grad, "log_softmax")
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    xp = _xp(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _softplus_grad(x, y, dy):
    return dy * sigmoid(x)


@_with_grad(_softplus_grad, "softplus")
def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    xp = _xp(x)
    return xp.maximum(x, xp.zeros((), dtype=x.dtype)) + xp.log1p(xp.exp(-xp.abs(x)))


def _exponential_grad(x, y, dy):
    return dy * y


@_with_grad(_exponential_grad, "exponential")
def exponential(x):
    """exp(x)."""
    return _xp(x).exp(x)


def get(identifier):
    """An activation function from a name, a config, a function or None (-> linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict) and "class_name" not in identifier and "name" in identifier:
        identifier = identifier["name"]
    fn = _registry.get(identifier)
    if not callable(fn):
        raise TypeError(f"activation={identifier!r} is not callable")
    return fn


def serialize(activation):
    if isinstance(activation, functools.partial):
        return {"class_name": "function", "config": {"name": activation.func.__name__,
                                                     **activation.keywords}}
    return getattr(activation, "__name__", None) or _registry.serialize(activation)


def deserialize(config):
    if isinstance(config, dict) and config.get("class_name") == "function":
        cfg = dict(config["config"])
        fn = _registry.lookup(cfg.pop("name"))
        return functools.partial(fn, **cfg) if cfg else fn
    return get(config)

