"""Activation functions by their Keras names (keras/src/activations/activations.py).

Each activation is a plain function ``f(x, ...)`` a user can call on any backend's array,
with a gradient attached as ``f.grad(x, y, dy, **kwargs) -> dx`` (y = f(x) is passed so
most gradients reuse the output). ``apply(activation, x)`` returns ``(y, backward)`` in the
layer contract's style. A custom activation may register its gradient (``register(fn, grad)``);
without one it is differentiated by the tape through the ``pn.ops`` it uses.
"""

import functools

import array_api_compat

from .naming import NameRegistry
from .ops import _dispatch
from .ops import nn as _ops_nn
from .ops import symbolic_hook as _symbolic_hook
from .ops import tape as _tape

_registry = NameRegistry("activation")


def _xp(x):
    return array_api_compat.array_namespace(x)


def _with_grad(grad, *names):
    def deco(fn):
        fn = _traceable(fn, grad, names[0] if names else fn.__name__)
        fn.grad = grad
        _registry.register(fn, *names)
        return fn
    return deco


# The ops Keras's activations call (keras.activations.swish(x) is ops.silu), which name the
# operation of an activation applied to a symbolic tensor.
_KERAS_OPS = {"swish": "silu", "exponential": "exp"}


def _traceable(fn, grad, name):
    """``fn`` on arrays as before; on traced tensors (in a call() layer or a GradientTape)
    it records one tape node whose vector-Jacobian product is ``grad``; on symbolic
    tensors (pn.Input) it records the op node Keras's activation makes (``gelu`` -> Gelu)."""
    def vjp(g, out, x, *args, **kw):
        return [grad(x, out, g, *args, **kw)]
    op = _dispatch.primitive(f"activation_{name}", fn, vjp)   # grads: tests/test_activations.py
    op = _symbolic_hook.symbolic_aware(_KERAS_OPS.get(name, name), op)
    functools.update_wrapper(op, fn)
    op.__dict__.pop("__wrapped__", None)
    return op


def register(fn, grad, name=None):
    """Register a custom activation ``fn(x)`` with its gradient ``grad(x, y, dy) -> dx``."""
    if not callable(fn) or not callable(grad):
        raise TypeError(f"register: fn and grad must be callables, got {fn!r} and {grad!r}")
    fn.grad = grad
    _registry.register(fn, *((name,) if name else ()))
    return fn


def apply(activation, x):
    """Run an activation and return ``(y, backward)`` with ``backward(dy) -> dx``.

    A function without a registered gradient (a user's ``def custom_fn(x): return x**2``,
    as Keras allows) is run on a tape and differentiated through the ``pn.ops`` it uses."""
    if activation is linear:
        return x, _identity
    if _grad_of(activation) is None:
        return _apply_traced(activation, x)
    y = activation(x)
    grad = _grad_of(activation)

    def backward(dy):
        return grad(x, y, dy)
    return y, backward


def _apply_traced(activation, x):
    with _tape.Tape() as tape:
        xt = tape.watch_value(x)
        yt = activation(xt)
    if not isinstance(yt, _tape.Tensor):
        # The output does not depend on x through pn.ops (a constant): no gradient.
        y = _tape.value_of(yt)
        return y, lambda dy: _xp(x).zeros_like(x)
    y = yt.value

    def backward(dy):
        g = tape.backward([yt], [dy]).get(id(xt))
        return _xp(x).zeros_like(x) if g is None else g
    return y, backward


def _identity(dy):
    return dy


def _grad_of(activation):
    if isinstance(activation, functools.partial):
        grad = getattr(activation.func, "grad", None)
        if grad is not None:
            return functools.partial(grad, **activation.keywords)
    return getattr(activation, "grad", None)


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
    above = x > threshold
    passing = above
    if max_value is not None:
        # The positive branch is clipped to [0, max_value] (Keras's static_call).
        passing = above & (x < max_value) & (x > 0)
    slope = xp.astype(passing, dy.dtype)
    if negative_slope != 0.0:
        slope = slope + negative_slope * xp.astype(~above, dy.dtype)
    return dy * slope


@_with_grad(_relu_grad, "relu")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, Keras's ``relu``.

    max(x, 0) by default. With arguments: ``x`` above ``threshold`` (clipped to
    [0, max_value] when ``max_value`` is given) and ``negative_slope * (x - threshold)``
    at or below it.
    """
    xp = _xp(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return xp.maximum(x, xp.zeros((), dtype=x.dtype))
    above = x > threshold
    pos = xp.where(above, x, xp.zeros_like(x))
    if max_value is not None:
        pos = xp.clip(pos, 0.0, float(max_value))
    if negative_slope != 0.0:
        pos = pos + xp.where(above, xp.zeros_like(x), negative_slope * (x - threshold))
    return pos


def _relu6_grad(x, y, dy):
    xp = _xp(x)
    return dy * xp.astype((x > 0) & (x < 6.0), dy.dtype)


@_with_grad(_relu6_grad, "relu6")
def relu6(x):
    """min(max(x, 0), 6)."""
    return _xp(x).clip(x, 0.0, 6.0)


def _leaky_relu_grad(x, y, dy, negative_slope=0.2):
    xp = _xp(x)
    return dy * xp.where(x >= 0, xp.ones_like(x), xp.full_like(x, negative_slope))


@_with_grad(_leaky_relu_grad, "leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    """x if x >= 0 else negative_slope·x (Keras 3 default slope 0.2)."""
    xp = _xp(x)
    return xp.where(x >= 0, x, negative_slope * x)


def _elu_grad(x, y, dy, alpha=1.0):
    xp = _xp(x)
    # d/dx alpha·(e^x - 1) = alpha·e^x = y + alpha on the negative side.
    return dy * xp.where(x > 0, xp.ones_like(x), y + alpha)


@_with_grad(_elu_grad, "elu")
def elu(x, alpha=1.0):
    """Exponential linear unit: x if x > 0 else alpha·(exp(x) - 1)."""
    xp = _xp(x)
    neg = xp.minimum(x, xp.zeros((), dtype=x.dtype))  # exp of the clipped value cannot overflow
    return xp.where(x > 0, x, alpha * xp.expm1(neg))


_SELU_ALPHA = 1.67326324235437728481704299167171
_SELU_SCALE = 1.05070098735548049341933498529460


def _selu_grad(x, y, dy):
    xp = _xp(x)
    neg = xp.minimum(x, xp.zeros((), dtype=x.dtype))
    return dy * xp.where(x > 0, xp.full_like(x, _SELU_SCALE), (_SELU_SCALE * _SELU_ALPHA) * xp.exp(neg))


@_with_grad(_selu_grad, "selu")
def selu(x):
    """Scaled ELU: scale·elu(x, alpha) with Keras's alpha ≈ 1.6733 and scale ≈ 1.0507."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def _celu_grad(x, y, dy, alpha=1.0):
    xp = _xp(x)
    neg = xp.minimum(x, xp.zeros((), dtype=x.dtype))
    return dy * xp.where(x > 0, xp.ones_like(x), xp.exp(neg / alpha))


@_with_grad(_celu_grad, "celu")
def celu(x, alpha=1.0):
    """Continuously differentiable ELU: max(x, 0) + alpha·(exp(min(x, 0)/alpha) - 1)."""
    xp = _xp(x)
    zero = xp.zeros((), dtype=x.dtype)
    return xp.maximum(x, zero) + alpha * xp.expm1(xp.minimum(x, zero) / alpha)


# --------------------------------------------------------------------------- erf
# The Array API standard has no erf. This is the FreeBSD/musl ``s_erf.c`` algorithm
# (Sun Microsystems, 1993): rational approximations on |x| < 0.84375, [0.84375, 1.25),
# [1.25, 1/0.35) and [1/0.35, 6), with erf = ±1 beyond 6 (1 - erf(6) < 2.2e-17). Its
# stated error is below 1 ulp in float64; written with array ops and with the high/low
# split of x done by rounding to 2^-20 (so z·z is exact), the measured maximum absolute
# error against Python's math.erf on 200,001 points of [-7, 7] is 1.1e-16 (half an ulp of
# values near 1) in float64, and 4.7e-8 (under one float32 ulp) in float32.
# tests/test_activations.py holds it to 3e-16 (float64) and 1.2e-7 (float32).
_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)


def _horner(z, coeffs):
    acc = coeffs[-1] + 0.0 * z
    for c in reversed(coeffs[:-1]):
        acc = acc * z + c
    return acc


def erf(x):
    """The error function, elementwise, with Array API operations only (see the note above)."""
    xp = _xp(x)
    a = xp.abs(x)
    # |x| < 0.84375: erf(x) = x + x·P(x²)/Q(x²).
    small = xp.minimum(a, 0.84375)
    z = small * small
    erf_small = small + small * (_horner(z, _PP) / _horner(z, _QQ))
    # 0.84375 <= |x| < 1.25: erf = erx + P(s)/Q(s), s = |x| - 1.
    s = xp.clip(a, 0.84375, 1.25) - 1.0
    erf_mid = _ERX + _horner(s, _PA) / _horner(s, _QA)
    # 1.25 <= |x| < 6: erfc = exp(-x² - 0.5625 + R(1/x²)/S(1/x²))/x.
    big = xp.clip(a, 1.25, 6.0)
    t = 1.0 / (big * big)
    ratio = xp.where(big < 1.0 / 0.35, _horner(t, _RA) / _horner(t, _SA), _horner(t, _RB) / _horner(t, _SB))
    hi = xp.floor(big * 1048576.0) / 1048576.0   # z·z is exact: the split of s_erf.c
    erfc_big = xp.exp(-hi * hi - 0.5625) * xp.exp((hi - big) * (hi + big) + ratio) / big
    erf_big = 1.0 - erfc_big
    value = xp.where(a < 0.84375, erf_small,
                     xp.where(a < 1.25, erf_mid, xp.where(a < 6.0, erf_big, xp.ones_like(a))))
    return xp.where(x < 0, -value, value)


# --------------------------------------------------------------------------- smooth units
_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


def _gelu_grad(x, y, dy, approximate=False):
    xp = _xp(x)
    if approximate:
        t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 0.134145 * x * x))
    return dy * (0.5 * (1.0 + erf(x * _INV_SQRT_2)) + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x))


@_with_grad(_gelu_grad, "gelu")
def gelu(x, approximate=False):
    """Gaussian error linear unit, as keras.activations.gelu (exact, ``approximate=False``, by
    default; ``keras.ops.gelu`` defaults to the tanh approximation instead).

    approximate: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); exact: 0.5·x·(1 + erf(x/√2))
    with the Array-API ``erf`` of this module.
    """
    xp = _xp(x)
    if approximate:
        return 0.5 * x * (1.0 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x * _INV_SQRT_2))


def _silu_grad(x, y, dy):
    s = sigmoid(x)
    return dy * (s * (1.0 + x * (1.0 - s)))


@_with_grad(_silu_grad, "silu", "swish")
def silu(x):
    """x·sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


swish = silu


def _mish_grad(x, y, dy):
    t = _xp(x).tanh(softplus(x))
    return dy * (t + x * (1.0 - t * t) * sigmoid(x))


@_with_grad(_mish_grad, "mish")
def mish(x):
    """x·tanh(softplus(x))."""
    return x * _xp(x).tanh(softplus(x))


def _hard_sigmoid_grad(x, y, dy):
    xp = _xp(x)
    return dy * (xp.astype((x > -3.0) & (x < 3.0), dy.dtype) / 6.0)


@_with_grad(_hard_sigmoid_grad, "hard_sigmoid")
def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: relu6(x + 3)/6 (0 below -3, 1 above 3)."""
    return _xp(x).clip(x + 3.0, 0.0, 6.0) / 6.0


def _hard_silu_grad(x, y, dy):
    xp = _xp(x)
    return dy * (hard_sigmoid(x) + x * xp.astype((x > -3.0) & (x < 3.0), dy.dtype) / 6.0)


@_with_grad(_hard_silu_grad, "hard_silu", "hard_swish")
def hard_silu(x):
    """x·hard_sigmoid(x) (also called hard_swish)."""
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def _hard_tanh_grad(x, y, dy):
    xp = _xp(x)
    return dy * xp.astype((x > -1.0) & (x < 1.0), dy.dtype)


@_with_grad(_hard_tanh_grad, "hard_tanh")
def hard_tanh(x):
    """clip(x, -1, 1)."""
    return _xp(x).clip(x, -1.0, 1.0)


def _softsign_grad(x, y, dy):
    d = 1.0 + _xp(x).abs(x)
    return dy / (d * d)


@_with_grad(_softsign_grad, "softsign")
def softsign(x):
    """x / (|x| + 1)."""
    return x / (_xp(x).abs(x) + 1.0)


def _log_sigmoid_grad(x, y, dy):
    return dy * sigmoid(-x)


@_with_grad(_log_sigmoid_grad, "log_sigmoid")
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-x)


def _tanh_shrink_grad(x, y, dy):
    t = _xp(x).tanh(x)
    return dy * t * t


@_with_grad(_tanh_shrink_grad, "tanh_shrink")
def tanh_shrink(x):
    """x - tanh(x)."""
    return x - _xp(x).tanh(x)


def _squareplus_grad(x, y, dy, b=4):
    return dy * 0.5 * (1.0 + x / _xp(x).sqrt(x * x + b))


@_with_grad(_squareplus_grad, "squareplus")
def squareplus(x, b=4):
    """(x + sqrt(x² + b)) / 2, a smooth relu."""
    return 0.5 * (x + _xp(x).sqrt(x * x + b))


def _sparse_plus_grad(x, y, dy):
    xp = _xp(x)
    mid = 0.5 * (x + 1.0)
    return dy * xp.where(x <= -1.0, xp.zeros_like(x), xp.where(x < 1.0, mid, xp.ones_like(x)))


@_with_grad(_sparse_plus_grad, "sparse_plus")
def sparse_plus(x):
    """0 for x <= -1, (x + 1)²/4 for -1 < x < 1, x for x >= 1."""
    xp = _xp(x)
    mid = 0.25 * (x + 1.0) * (x + 1.0)
    return xp.where(x <= -1.0, xp.zeros_like(x), xp.where(x < 1.0, mid, x))


def _soft_shrink_grad(x, y, dy, threshold=0.5):
    xp = _xp(x)
    return dy * xp.astype(xp.abs(x) > threshold, dy.dtype)


@_with_grad(_soft_shrink_grad, "soft_shrink")
def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, else 0."""
    xp = _xp(x)
    return xp.where(x > threshold, x - threshold,
                    xp.where(x < -threshold, x + threshold, xp.zeros_like(x)))


# Both shrinks have slope 1 where |x| > threshold and 0 elsewhere: one gradient.
@_with_grad(_soft_shrink_grad, "hard_shrink")
def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    xp = _xp(x)
    return xp.where(xp.abs(x) > threshold, x, xp.zeros_like(x))


def _sigmoid_grad(x, y, dy):
    return dy * y * (1.0 - y)


# exp(-x) stays finite for x above -bound; sigmoid(-bound) is within a factor 1.5 of the
# dtype's smallest normal number (float32: 1.6e-38), so the clip only changes outputs below it.
_SIGMOID_CLIP = {"float32": 87.0, "float64": 708.0}


@_with_grad(_sigmoid_grad, "sigmoid")
def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|.

    For float32/float64 the input is clipped from below where exp(-x) would overflow:
    5 cheap array operations with full relative accuracy (the identity 0.5·tanh(x/2) + 0.5 is
    cheaper still but only absolutely accurate, losing tiny outputs such as
    sigmoid(-20)). Other dtypes use the exp(-|x|) form.
    """
    xp = _xp(x)
    bound = None
    if x.dtype == xp.float32:
        bound = _SIGMOID_CLIP["float32"]
    elif x.dtype == xp.float64:
        bound = _SIGMOID_CLIP["float64"]
    if bound is not None:
        return 1.0 / (1.0 + xp.exp(-xp.clip(x, -bound, None)))
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



# Keras 3's glu, sparse_sigmoid, sparsemax and threshold: the array math lives in
# portanet.ops.nn (shared with pn.ops.glu etc.).
def _glu_grad(x, y, dy, axis=-1):
    return _ops_nn._glu_grad_arrays(_xp(x), x, dy, axis=axis)


@_with_grad(_glu_grad, "glu")
def glu(x, axis=-1):
    """Gated linear unit: a·sigmoid(b), ``x`` split into halves a, b along ``axis`` (its
    size must be even)."""
    return _ops_nn._glu_arrays(_xp(x), x, axis=axis)


def _sparse_sigmoid_grad(x, y, dy):
    return _ops_nn._sparse_sigmoid_grad_arrays(_xp(x), x, dy)


@_with_grad(_sparse_sigmoid_grad, "sparse_sigmoid")
def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1)/2 for -1 < x < 1, 1 for x >= 1."""
    return _ops_nn._sparse_sigmoid_arrays(_xp(x), x)


def _sparsemax_grad(x, y, dy, axis=-1):
    return _ops_nn._sparsemax_grad_arrays(_xp(x), x, dy, axis=axis)


@_with_grad(_sparsemax_grad, "sparsemax")
def sparsemax(x, axis=-1):
    """Sparsemax along ``axis``, max(x - tau, 0), with Keras 3.15.1's tau: over the sorted
    entries, (Σ_{j<=k} cumsum_j - 1)/k for the support size k. (Keras sums the cumulative
    sums over the support, so its outputs need not sum to 1; portanet gives Keras's numbers.)"""
    return _ops_nn._sparsemax_arrays(_xp(x), x, axis=axis)


def _threshold_grad(x, y, dy, threshold=None, default_value=None):
    return _ops_nn._threshold_grad_arrays(_xp(x), x, dy, threshold)


@_with_grad(_threshold_grad, "threshold")
def threshold(x, threshold, default_value):
    """x where x > threshold, else ``default_value``."""
    return _ops_nn._threshold_arrays(_xp(x), x, threshold, default_value)


def get(identifier):
    """An activation function from a name, a config, a function or None (-> linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        if identifier.get("class_name") == "function":
            return deserialize(identifier)
        if "class_name" not in identifier and "name" in identifier:
            identifier = identifier["name"]
    if not (isinstance(identifier, str) or callable(identifier) or isinstance(identifier, dict)):
        raise TypeError(f"activation={identifier!r}; expected a name (one of "
                        f"{', '.join(_registry.names())}), a function or None")
    fn = _registry.get(identifier)
    if not callable(fn):
        raise TypeError(f"activation={identifier!r} is not callable")
    return fn


def serialize(activation):
    """The Keras form of an activation: its name, or a "function" config for bound arguments."""
    if isinstance(activation, functools.partial):
        return {"class_name": "function", "config": {"name": activation.func.__name__,
                                                     **activation.keywords}}
    return getattr(activation, "__name__", None) or _registry.serialize(activation)


def deserialize(config):
    """Inverse of ``serialize``: a name or a {"class_name": "function", "config": ...} dict."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        cfg = dict(config["config"])
        fn = _registry.lookup(cfg.pop("name"))
        return functools.partial(fn, **cfg) if cfg else fn
    return get(config)

