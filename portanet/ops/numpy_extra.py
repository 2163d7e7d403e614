"""The rest of keras.ops's numpy-style functions (keras/src/ops/numpy.py).

Most are written with other ops, so inside a trace their gradients come from those ops;
the few new primitives (``erf``, ``erfinv``, ``cbrt``...) carry their own vector-Jacobian
products. Functions whose result is an index set, a count or a bit pattern (``nonzero``,
``unique``, ``bincount``, ``searchsorted``, the bitwise ops...) have no gradient, as in Keras.
"""

import math as _pymath

import array_api_compat

from .. import backend as _backend
from ..backend import host_math as _host_math
from . import array as _a
from . import creation as _c
from . import linalg as _l
from . import math as _m
from ._dispatch import (public_names, as_array, floatx_dtype, is_array, normalize_axis, pair,
                        primitive, to_dtype)
from .tape import _to_host, namespace_of, value_of

_pyabs, _pyrange, _pymin, _pymax = abs, range, min, max


def _arr(x):
    x = value_of(x)
    xp = namespace_of(x)
    return xp, as_array(xp, x)


def _float(xp, x):
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        return xp.astype(x, floatx_dtype(xp))
    return x


def _device(x):
    return array_api_compat.device(x)


def _from_host(xp, host, like):
    """A host NumPy result as an array of ``xp`` on ``like``'s device."""
    if xp is namespace_of(host):
        return host
    return xp.asarray(host, device=_device(like))


# ----------------------------------------------------------------- special functions
def _erf_series(xp, x):
    """erf by its everywhere-convergent series (positive terms, no cancellation):
    erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)); |x| >= 6 is ±1
    in float64. 120 terms reach float64 precision for |x| < 6."""
    ax = xp.clip(xp.abs(x), 0.0, 6.0)
    x2 = ax * ax
    term = ax
    total = ax
    for n in _pyrange(1, 120):
        term = term * (2.0 * x2) / (2 * n + 1)
        total = total + term
    out = 1.1283791670955126 * xp.exp(-x2) * total
    out = xp.where(xp.abs(x) >= 6.0, xp.ones_like(out), xp.clip(out, 0.0, 1.0))
    return xp.where(x < 0, -out, out)


def _erf_impl(x):
    xp, x = _arr(x)
    x = _float(xp, x)
    native = getattr(xp, "erf", None)
    return native(x) if native is not None else _erf_series(xp, x)


erf = primitive("erf", _erf_impl,
                lambda g, o, x: (g * 1.1283791670955126 * namespace_of(g).exp(-(x * x)),))
erf.__doc__ = "The error function, element-wise."


def _erfc_impl(x):
    xp, x = _arr(x)
    return 1.0 - _erf_impl(x)


erfc = primitive("erfc", _erfc_impl,
                 lambda g, o, x: (-g * 1.1283791670955126 * namespace_of(g).exp(-(x * x)),))
erfc.__doc__ = "The complementary error function 1 - erf(x), element-wise."


def _erfinv_impl(x):
    xp, x = _arr(x)
    x = _float(xp, x)
    # Giles's single-precision approximation, then Newton steps on erf (float64 accuracy).
    w = -xp.log((1.0 - x) * (1.0 + x))
    small = w < 5.0
    ws = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * ws
    wl = xp.sqrt(xp.where(small, xp.full_like(w, 5.0), w)) - 3.0
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * wl
    y = xp.where(small, p1, p2) * x
    finite = xp.abs(x) < 1.0
    y = xp.where(finite, y, xp.zeros_like(y))
    for _ in _pyrange(3):
        err = _erf_impl(y) - x
        y = y - xp.where(finite, err / (1.1283791670955126 * xp.exp(-(y * y))), xp.zeros_like(y))
    inf = xp.full_like(y, float("inf"))
    y = xp.where(x == 1.0, inf, xp.where(x == -1.0, -inf, y))
    return xp.where(xp.abs(x) > 1.0, xp.full_like(y, float("nan")), y)


erfinv = primitive("erfinv", _erfinv_impl,
                   lambda g, o, x: (g * 0.886226925452758 * namespace_of(g).exp(o * o),))
erfinv.__doc__ = "The inverse error function, element-wise."


def _i0_impl(x):
    xp, x = _arr(x)
    x = _float(xp, x)
    q = x * x / 4.0
    biggest = float(xp.max(xp.abs(x))) if x.size else 0.0
    term = xp.ones_like(x)
    total = xp.ones_like(x)
    for k in _pyrange(1, 40 + int(2 * biggest)):
        term = term * q / (k * k)
        total = total + term
    return total


def _i1(xp, x):
    q = x * x / 4.0
    biggest = float(xp.max(xp.abs(x))) if x.size else 0.0
    term = x / 2.0
    total = term
    for k in _pyrange(1, 40 + int(2 * biggest)):
        term = term * q / (k * (k + 1))
        total = total + term
    return total


i0 = primitive("i0", _i0_impl, lambda g, o, x: (g * _i1(namespace_of(g), x),))
i0.__doc__ = "The modified Bessel function of the first kind, order 0, element-wise."


def _cbrt_impl(x):
    xp, x = _arr(x)
    x = _float(xp, x)
    return xp.sign(x) * xp.pow(xp.abs(x), 1.0 / 3.0)


cbrt = primitive("cbrt", _cbrt_impl, lambda g, o, x: (g / (3.0 * o * o),))
cbrt.__doc__ = "The cube root, element-wise."


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (numpy's normalized sinc)."""
    xp, xv = _arr(x)
    y = _m.multiply(x, _pymath.pi)
    safe = _m.where(_m.equal(y, 0.0), 1.0, y)
    return _m.where(_m.equal(y, 0.0), 1.0, _m.divide(_m.sin(safe), safe))


def deg2rad(x):
    """Degrees to radians."""
    return _m.multiply(_cast_float(x), _pymath.pi / 180.0)


def rad2deg(x):
    """Radians to degrees."""
    return _m.multiply(_cast_float(x), 180.0 / _pymath.pi)


def _cast_float(x):
    xp, xv = _arr(x)
    if xp.isdtype(xv.dtype, ("real floating", "complex floating")):
        return x
    return _c.cast(x, _dtype_name(floatx_dtype(xp)))


def _dtype_name(dtype):
    for attr in ("name", "__name__"):
        value = getattr(dtype, attr, None)
        if isinstance(value, str):
            return value
    return str(dtype).rsplit(".", 1)[-1]


def fabs(x):
    """Absolute value as a float array."""
    return _m.absolute(_cast_float(x))


def signbit(x):
    """True where the sign bit is set (negative numbers and -0.0)."""
    xp, xv = _arr(x)
    if xp.isdtype(xv.dtype, "real floating"):
        return xp.signbit(xv)
    if xv.dtype == xp.bool:
        return xp.zeros(xv.shape, dtype=xp.bool, device=_device(xv))
    return xv < 0


def isposinf(x):
    """True where x is +inf."""
    xp, xv = _arr(x)
    return xp.logical_and(xp.isinf(xv), xv > 0)


def isneginf(x):
    """True where x is -inf."""
    xp, xv = _arr(x)
    return xp.logical_and(xp.isinf(xv), xv < 0)


def isreal(x):
    """True where x has no imaginary part."""
    xp, xv = _arr(x)
    if xp.isdtype(xv.dtype, "complex floating"):
        return xp.imag(xv) == 0
    return xp.ones(xv.shape, dtype=xp.bool, device=_device(xv))


def imag(x):
    """The imaginary part (zeros for real arrays)."""
    xp, xv = _arr(x)
    if xp.isdtype(xv.dtype, "complex floating"):
        return xp.imag(xv)
    return _m.multiply(x, 0)


def angle(x):
    """The complex argument, in radians (0 or pi for real numbers)."""
    xp, xv = _arr(x)
    if xp.isdtype(xv.dtype, "complex floating"):
        return xp.atan2(xp.imag(xv), xp.real(xv))
    return _m.arctan2(_c.zeros_like(_cast_float(x)), _cast_float(x))


def polar(abs_, angle):  # noqa: A002 - Keras's argument name
    """The complex number with modulus ``abs_`` and argument ``angle``."""
    xp, r = _arr(abs_)
    t = as_array(xp, value_of(angle))
    r, t = _float(xp, r), _float(xp, t)
    cdtype = xp.complex128 if r.dtype == xp.float64 else xp.complex64
    return xp.astype(r * xp.cos(t), cdtype) + 1j * xp.astype(r * xp.sin(t), cdtype)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest), -inf -> ``neginf``."""
    xp, xv = _arr(x)
    if not xp.isdtype(xv.dtype, "real floating"):
        return x
    big = xp.finfo(xv.dtype).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    y = _m.where(xp.isnan(xv), nan, x)
    y = _m.where(isposinf(xv), posinf, y)
    return _m.where(isneginf(xv), neginf, y)


# ----------------------------------------------------------------- binary element-wise
def divide_no_nan(x1, x2):
    """x1 / x2, and 0 where x2 is 0."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    zero = as_array(xp, b) == 0
    safe = _m.where(zero, 1.0, x2)
    return _m.where(zero, 0.0, _m.divide(x1, safe))


def fmax(x1, x2):
    """Element-wise maximum that ignores NaN (returns the other value)."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a_nan = xp.isnan(as_array(xp, a)) if _is_float(xp, a) else False
    b_nan = xp.isnan(as_array(xp, b)) if _is_float(xp, b) else False
    out = _m.maximum(x1, x2)
    out = _m.where(a_nan, x2, out) if a_nan is not False else out
    return _m.where(b_nan, x1, out) if b_nan is not False else out


def fmin(x1, x2):
    """Element-wise minimum that ignores NaN (returns the other value)."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a_nan = xp.isnan(as_array(xp, a)) if _is_float(xp, a) else False
    b_nan = xp.isnan(as_array(xp, b)) if _is_float(xp, b) else False
    out = _m.minimum(x1, x2)
    out = _m.where(a_nan, x2, out) if a_nan is not False else out
    return _m.where(b_nan, x1, out) if b_nan is not False else out


def _is_float(xp, v):
    return is_array(v) and xp.isdtype(v.dtype, "real floating") or isinstance(v, float)


def fmod(x1, x2):
    """Remainder with the sign of the dividend (C's fmod), unlike ``mod``."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    if is_array(a) and is_array(b) and not _is_float(xp, a) and not _is_float(xp, b):
        r = xp.remainder(a, b)
        return xp.where((r != 0) & ((a < 0) != (b < 0)), r - b, r)
    q = _m.trunc(_m.divide(x1, x2))
    return _m.subtract(x1, _m.multiply(q, x2))


def heaviside(x1, x2):
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a = _float(xp, as_array(xp, a))
    b = as_array(xp, b, like=a, dtype=None if is_array(b) else a.dtype)
    one, zero = xp.ones_like(a), xp.zeros_like(a)
    return xp.where(a > 0, one, xp.where(a < 0, zero, xp.astype(xp.broadcast_to(b, a.shape), a.dtype)
                                         if tuple(b.shape) != tuple(a.shape) else xp.astype(b, a.dtype)))


def logaddexp2(x1, x2):
    """log2(2**x1 + 2**x2), computed stably."""
    ln2 = _pymath.log(2.0)
    return _m.divide(_m.logaddexp(_m.multiply(_cast_float(x1), ln2), _m.multiply(_cast_float(x2), ln2)), ln2)


def ldexp(x1, x2):
    """x1 * 2**x2."""
    return _m.multiply(_cast_float(x1), _m.power(2.0, _cast_float(x2)))


def nextafter(x1, x2):
    """The next floating-point value after x1 towards x2 (computed on the host: the Array
    API has no bit-level view of floats)."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a = _float(xp, as_array(xp, a))
    b = as_array(xp, b, like=a, dtype=a.dtype)
    host = _host_math.nextafter(_to_host(a), _to_host(b))
    return _from_host(xp, host, a)


def gcd(x1, x2):
    """Greatest common divisor of integers, element-wise."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a, b = xp.abs(as_array(xp, a)), xp.abs(as_array(xp, b, like=a))
    a, b = xp.broadcast_arrays(a, b)
    while bool(xp.any(b != 0)):
        nonzero = b != 0
        r = xp.where(nonzero, xp.remainder(a, xp.where(nonzero, b, xp.ones_like(b))), xp.zeros_like(b))
        a = xp.where(nonzero, b, a)
        b = r
    return a


def lcm(x1, x2):
    """Least common multiple of integers, element-wise."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    a, b = as_array(xp, a), as_array(xp, b)
    g = gcd(a, b)
    safe = xp.where(g == 0, xp.ones_like(g), g)
    return xp.where(g == 0, xp.zeros_like(g), xp.abs(a // safe * b))


def _bitwise(name, fn):
    def op(x, y=None):
        if y is None:
            xp, xv = _arr(x)
            return fn(xp, xv)
        xp, a, b = pair(value_of(x), value_of(y))
        return fn(xp, as_array(xp, a), as_array(xp, b, like=as_array(xp, a)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Bitwise {name.split('_', 1)[-1].replace('_', ' ')} of integer (or boolean) arrays."
    return op


bitwise_and = _bitwise("bitwise_and", lambda xp, a, b: xp.bitwise_and(a, b))
bitwise_or = _bitwise("bitwise_or", lambda xp, a, b: xp.bitwise_or(a, b))
bitwise_xor = _bitwise("bitwise_xor", lambda xp, a, b: xp.bitwise_xor(a, b))
bitwise_left_shift = _bitwise("bitwise_left_shift", lambda xp, a, b: xp.bitwise_left_shift(a, b))
bitwise_right_shift = _bitwise("bitwise_right_shift", lambda xp, a, b: xp.bitwise_right_shift(a, b))
left_shift = _bitwise("left_shift", lambda xp, a, b: xp.bitwise_left_shift(a, b))
right_shift = _bitwise("right_shift", lambda xp, a, b: xp.bitwise_right_shift(a, b))


def bitwise_invert(x):
    """Bitwise NOT (logical NOT for booleans)."""
    xp, xv = _arr(x)
    return xp.logical_not(xv) if xv.dtype == xp.bool else xp.bitwise_invert(xv)


bitwise_not = bitwise_invert


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of x1 is close to x2 (|x1 - x2| <= atol + rtol |x2|)."""
    close = _m.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return _m.all(close)


# ----------------------------------------------------------------- joining and splitting
def append(x1, x2, axis=None):
    """x2 appended to x1 (both flattened when ``axis`` is None)."""
    if axis is None:
        return _a.concatenate([_a.ravel(x1), _a.ravel(x2)], axis=0)
    return _a.concatenate([x1, x2], axis=axis)


def _split_sizes(n, sections):
    base, extra = divmod(n, sections)
    cuts, at = [], 0
    for i in _pyrange(sections - 1):
        at += base + (1 if i < extra else 0)
        cuts.append(at)
    return cuts


def array_split(x, indices_or_sections, axis=0):
    """Split into ``indices_or_sections`` parts that may differ in size by one (or at indices)."""
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0:
            raise ValueError(f"ops.array_split: indices_or_sections={indices_or_sections}; expected a "
                             "positive number of sections or a list of indices")
        n = value_of(x).shape[axis]
        indices_or_sections = _split_sizes(n, indices_or_sections)
    return _a.split(x, list(indices_or_sections), axis=axis)


def hsplit(x, indices_or_sections):
    """Split along axis 1 (axis 0 for 1-D arrays)."""
    return _a.split(x, indices_or_sections, axis=1 if value_of(x).ndim > 1 else 0)


def vsplit(x, indices_or_sections):
    """Split along axis 0."""
    return _a.split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    """Split along axis 2."""
    return _a.split(x, indices_or_sections, axis=2)


def dstack(xs):
    """Stack along a third axis (1-D and 2-D arrays are made 3-D first)."""
    out = []
    for x in xs:
        nd = value_of(x).ndim
        if nd == 0:
            x = _a.reshape(x, (1, 1, 1))
        elif nd == 1:
            x = _a.reshape(x, (1, -1, 1))
        elif nd == 2:
            x = _a.expand_dims(x, 2)
        out.append(x)
    return _a.concatenate(out, axis=2)


def copy(x):
    """A copy of x."""
    return _m.multiply(x, 1) if _traced(x) else _copy_plain(x)


def _traced(x):
    return value_of(x) is not x


def _copy_plain(x):
    xp, xv = _arr(x)
    return xp.asarray(xv, copy=True)


def fliplr(x):
    """Reverse along axis 1."""
    return _a.flip(x, axis=1)


def flipud(x):
    """Reverse along axis 0."""
    return _a.flip(x, axis=0)


def rot90(array, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``."""
    nd = value_of(array).ndim
    a0, a1 = (axes[0] % nd, axes[1] % nd)
    if a0 == a1 or len(axes) != 2:
        raise ValueError(f"ops.rot90: axes={axes!r}; expected two different axes")
    k %= 4
    if k == 0:
        return array
    if k == 2:
        return _a.flip(_a.flip(array, axis=a0), axis=a1)
    perm = list(_pyrange(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return _a.transpose(_a.flip(array, axis=a1), perm)
    return _a.flip(_a.transpose(array, perm), axis=a1)


def diag(x, k=0):
    """The k-th diagonal of a 2-D array, or a 2-D array with a 1-D array on its k-th diagonal."""
    xv = value_of(x)
    if xv.ndim == 1:
        return diagflat(x, k=k)
    if xv.ndim != 2:
        raise ValueError(f"ops.diag: x has shape {tuple(xv.shape)}; expected a 1-D or 2-D array")
    return diagonal(x, offset=k)


def diagflat(x, k=0):
    """A 2-D array with the flattened x on its k-th diagonal."""
    flat = _a.ravel(x)
    n = value_of(flat).shape[0]
    size = n + _pyabs(k)
    xp = namespace_of(value_of(flat))
    dev = _device(value_of(flat))
    rows = xp.arange(n, device=dev) + (0 if k >= 0 else -k)
    cols = xp.arange(n, device=dev) + (k if k >= 0 else 0)
    idx = xp.stack([rows, cols], axis=1)
    from .core import scatter
    return scatter(idx, flat, (size, size))


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal of ``x`` over ``axis1``/``axis2``, moved to the last axis."""
    xv = value_of(x)
    nd = xv.ndim
    a1, a2 = axis1 % nd, axis2 % nd
    moved = _a.moveaxis(x, (a1, a2), (nd - 2, nd - 1))
    n1, n2 = value_of(moved).shape[-2:]
    if offset >= 0:
        length = _pymax(0, _pymin(n1, n2 - offset))
        r0, c0 = 0, offset
    else:
        length = _pymax(0, _pymin(n1 + offset, n2))
        r0, c0 = -offset, 0
    flat = _a.reshape(moved, tuple(value_of(moved).shape[:-2]) + (n1 * n2,))
    xp = namespace_of(value_of(flat))
    idx = (xp.arange(length, device=_device(value_of(flat))) + r0) * n2 + (xp.arange(
        length, device=_device(value_of(flat))) + c0)
    return _a.take(flat, idx, axis=-1)


def diff(a, n=1, axis=-1):
    """The n-th discrete difference along ``axis``."""
    for _ in _pyrange(n):
        length = value_of(a).shape[axis]
        hi = _a.take(a, _index(a, 1, length), axis=axis)
        lo = _a.take(a, _index(a, 0, length - 1), axis=axis)
        a = _m.subtract(hi, lo)
    return a


def _index(like, start, stop):
    v = value_of(like)
    xp = namespace_of(v)
    return xp.arange(start, stop, device=_device(v))


def kron(x1, x2):
    """The Kronecker product."""
    a, b = value_of(x1), value_of(x2)
    nd = _pymax(a.ndim, b.ndim)
    x1 = _a.reshape(x1, (1,) * (nd - a.ndim) + tuple(a.shape))
    x2 = _a.reshape(x2, (1,) * (nd - b.ndim) + tuple(b.shape))
    sa, sb = value_of(x1).shape, value_of(x2).shape
    inter_a, inter_b = [], []
    for s in sa:
        inter_a += [s, 1]
    for s in sb:
        inter_b += [1, s]
    prod = _m.multiply(_a.reshape(x1, tuple(inter_a)), _a.reshape(x2, tuple(inter_b)))
    return _a.reshape(prod, tuple(p * q for p, q in zip(sa, sb)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors (2-vectors are padded with a zero z)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = _a.moveaxis(x1, axisa, -1)
    b = _a.moveaxis(x2, axisb, -1)
    na, nb = value_of(a).shape[-1], value_of(b).shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"ops.cross: vector sizes {na} and {nb}; expected 2 or 3")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if na == 3 else None
    b2 = b[..., 2] if nb == 3 else None
    z = _m.subtract(_m.multiply(a0, b1), _m.multiply(a1, b0))
    if a2 is None and b2 is None:
        return z
    x = _m.subtract(_m.multiply(a1, b2) if b2 is not None else 0.0, _m.multiply(a2, b1) if a2 is not None else 0.0)
    y = _m.subtract(_m.multiply(a2, b0) if a2 is not None else 0.0, _m.multiply(a0, b2) if b2 is not None else 0.0)
    out = _a.stack([x, y, z], axis=-1)
    return _a.moveaxis(out, -1, axisc)


def vander(x, N=None, increasing=False):  # noqa: N803 - Keras's argument name
    """The Vandermonde matrix of a 1-D array."""
    xv = value_of(x)
    if xv.ndim != 1:
        raise ValueError(f"ops.vander: x has shape {tuple(xv.shape)}; expected a 1-D array")
    n = xv.shape[0] if N is None else N
    powers = list(_pyrange(n)) if increasing else list(_pyrange(n - 1, -1, -1))
    return _a.stack([_m.power(x, p) for p in powers], axis=1)


# ----------------------------------------------------------------- reductions
def ptp(x, axis=None, keepdims=False):
    """max - min along ``axis``."""
    return _m.subtract(_m.max(x, axis=axis, keepdims=keepdims), _m.min(x, axis=axis, keepdims=keepdims))


def _quantile_impl(x, q, axis=None, method="linear", keepdims=False, ignore_nan=False):
    methods = ("linear", "lower", "higher", "midpoint", "nearest")
    if method not in methods:
        raise ValueError(f"ops.quantile: method={method!r}; expected one of {methods}")
    xp, xv = _arr(x)
    nd = xv.ndim
    axes = normalize_axis(axis, nd)
    qv = as_array(xp, value_of(q), like=xv)
    scalar_q = qv.ndim == 0
    qv = xp.reshape(_float(xp, qv), (-1,))
    # Move the reduced axes to the end and flatten them.
    keep = [i for i in _pyrange(nd) if i not in axes]
    moved = _a.transpose(x, tuple(keep) + tuple(axes))
    kept_shape = tuple(xv.shape[i] for i in keep)
    flat = _a.reshape(moved, kept_shape + (-1,))
    fv = value_of(flat)
    fv_float = _float(xp, fv)
    if ignore_nan and xp.isdtype(fv_float.dtype, "real floating"):
        nan = xp.isnan(fv_float)
        count = xp.sum(xp.astype(xp.logical_not(nan), fv_float.dtype), axis=-1, keepdims=True)
        key = xp.where(nan, xp.full_like(fv_float, float("inf")), fv_float)
    else:
        count = xp.full(fv.shape[:-1] + (1,), float(fv.shape[-1]), dtype=fv_float.dtype, device=_device(fv))
        key = fv_float
    order = xp.argsort(key, axis=-1, stable=True)
    sorted_x = _a.take_along_axis(_cast_float(flat), order, axis=-1)
    outs = []
    for i in _pyrange(qv.shape[0]):
        pos = qv[i] * (count - 1.0)
        lo = xp.floor(pos)
        hi = xp.ceil(pos)
        if method == "lower":
            hi = lo
        elif method == "higher":
            lo = hi
        elif method == "nearest":
            lo = hi = xp.round(pos)
        lo_i = xp.astype(xp.clip(lo, 0, None), xp.int64)
        hi_i = xp.astype(xp.clip(hi, 0, None), xp.int64)
        v_lo = _a.take_along_axis(sorted_x, lo_i, axis=-1)
        v_hi = _a.take_along_axis(sorted_x, hi_i, axis=-1)
        if method == "midpoint":
            frac = xp.where(hi > lo, xp.full_like(pos, 0.5), xp.zeros_like(pos))
        elif method == "linear":
            frac = pos - lo
        else:
            frac = xp.zeros_like(pos)
        val = _m.add(v_lo, _m.multiply(_m.subtract(v_hi, v_lo), frac))
        val = _a.squeeze(val, axis=-1)
        if ignore_nan:
            val = _m.where(xp.reshape(count, count.shape[:-1]) == 0, float("nan"), val)
        if keepdims:
            shape = list(xv.shape)
            for ax in axes:
                shape[ax] = 1
            val = _a.reshape(val, tuple(shape))
        outs.append(val)
    return outs[0] if scalar_q else _a.stack(outs, axis=0)


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantile(s) along ``axis`` (``q`` in [0, 1]; numpy's methods)."""
    return _quantile_impl(x, q, axis=axis, method=method, keepdims=keepdims)


def _over_100(q):
    if isinstance(q, (list, tuple)):
        return [float(v) / 100.0 for v in q]
    return _m.divide(q, 100.0) if is_array(value_of(q)) else float(q) / 100.0


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th percentile(s) along ``axis`` (``q`` in [0, 100])."""
    return _quantile_impl(x, _over_100(q), axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    """The median along ``axis``."""
    return _quantile_impl(x, 0.5, axis=axis, keepdims=keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """``quantile`` ignoring NaN."""
    return _quantile_impl(x, q, axis=axis, method=method, keepdims=keepdims, ignore_nan=True)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """``percentile`` ignoring NaN."""
    return _quantile_impl(x, _over_100(q), axis=axis, method=method, keepdims=keepdims, ignore_nan=True)


def nanmedian(x, axis=None, keepdims=False):
    """``median`` ignoring NaN."""
    return _quantile_impl(x, 0.5, axis=axis, keepdims=keepdims, ignore_nan=True)


def _nan_mask(x):
    xp, xv = _arr(x)
    if not xp.isdtype(xv.dtype, ("real floating", "complex floating")):
        return None
    return xp.isnan(xv)


def _nan_fill(x, value):
    mask = _nan_mask(x)
    return x if mask is None else _m.where(mask, value, x)


def nansum(x, axis=None, keepdims=False):
    """Sum ignoring NaN."""
    return _m.sum(_nan_fill(x, 0.0), axis=axis, keepdims=keepdims)


def nanprod(x, axis=None, keepdims=False):
    """Product ignoring NaN."""
    return _m.prod(_nan_fill(x, 1.0), axis=axis, keepdims=keepdims)


def nanmax(x, axis=None, keepdims=False):
    """Maximum ignoring NaN (NaN where a slice is all NaN)."""
    out = _m.max(_nan_fill(x, float("-inf")), axis=axis, keepdims=keepdims)
    return _all_nan_to_nan(x, out, axis, keepdims)


def nanmin(x, axis=None, keepdims=False):
    """Minimum ignoring NaN (NaN where a slice is all NaN)."""
    out = _m.min(_nan_fill(x, float("inf")), axis=axis, keepdims=keepdims)
    return _all_nan_to_nan(x, out, axis, keepdims)


def _all_nan_to_nan(x, out, axis, keepdims):
    mask = _nan_mask(x)
    if mask is None:
        return out
    xp = namespace_of(mask)
    all_nan = xp.all(mask, axis=axis, keepdims=keepdims)
    return _m.where(all_nan, float("nan"), out)


def _nan_count(x, axis, keepdims):
    xp, xv = _arr(x)
    mask = _nan_mask(x)
    dtype = _float(xp, xv).dtype
    ok = xp.ones(xv.shape, dtype=dtype, device=_device(xv)) if mask is None else \
        xp.astype(xp.logical_not(mask), dtype)
    return xp.sum(ok, axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """Mean ignoring NaN."""
    return _m.divide(nansum(_cast_float(x), axis=axis, keepdims=keepdims), _nan_count(x, axis, keepdims))


def nanvar(x, axis=None, keepdims=False):
    """Variance ignoring NaN."""
    x = _cast_float(x)
    mean = nanmean(x, axis=axis, keepdims=True)
    dev = _nan_fill(_m.subtract(x, mean), 0.0)
    return _m.divide(_m.sum(_m.square(dev), axis=axis, keepdims=keepdims), _nan_count(x, axis, keepdims))


def nanstd(x, axis=None, keepdims=False):
    """Standard deviation ignoring NaN."""
    return _m.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nancumsum(x, axis=None, dtype=None):
    """Cumulative sum treating NaN as 0."""
    return _m.cumsum(_nan_fill(x, 0.0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None):
    """Cumulative product treating NaN as 1."""
    return _m.cumprod(_nan_fill(x, 1.0), axis=axis, dtype=dtype)


def nanargmax(x, axis=None, keepdims=False):
    """Index of the maximum ignoring NaN."""
    return _m.argmax(_nan_fill(x, float("-inf")), axis=axis, keepdims=keepdims)


def nanargmin(x, axis=None, keepdims=False):
    """Index of the minimum ignoring NaN."""
    return _m.argmin(_nan_fill(x, float("inf")), axis=axis, keepdims=keepdims)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of ``y`` along ``axis`` by the trapezoidal rule (sample points ``x`` or spacing ``dx``)."""
    n = value_of(y).shape[axis]
    hi = _a.take(y, _index(y, 1, n), axis=axis)
    lo = _a.take(y, _index(y, 0, n - 1), axis=axis)
    avg = _m.multiply(_m.add(hi, lo), 0.5)
    if x is None:
        return _m.multiply(_m.sum(avg, axis=axis), dx)
    d = diff(x, axis=axis if value_of(x).ndim > 1 else -1)
    if value_of(x).ndim == 1 and value_of(y).ndim > 1:
        shape = [1] * value_of(y).ndim
        shape[axis] = n - 1
        d = _a.reshape(d, tuple(shape))
    return _m.sum(_m.multiply(avg, d), axis=axis)


def corrcoef(x):
    """Pearson correlation coefficients of the rows of ``x``."""
    x = _cast_float(x)
    if value_of(x).ndim == 1:
        x = _a.expand_dims(x, 0)
    centered = _m.subtract(x, _m.mean(x, axis=1, keepdims=True))
    cov = _l.matmul(centered, _a.transpose(centered))
    d = _m.sqrt(diagonal(cov))
    out = _m.divide(_m.divide(cov, _a.expand_dims(d, 1)), _a.expand_dims(d, 0))
    return _m.clip(out, -1.0, 1.0)


def correlate(x1, x2, mode="valid"):
    """Cross-correlation of two 1-D arrays (numpy's ``correlate``; ``mode`` valid, same or full)."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"ops.correlate: mode={mode!r}; expected 'valid', 'same' or 'full'")
    a, v = value_of(x1), value_of(x2)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"ops.correlate: shapes {tuple(a.shape)} and {tuple(v.shape)}; expected 1-D arrays")
    n, m = a.shape[0], v.shape[0]
    if n < m:
        return _a.flip(correlate(x2, x1, mode=mode), axis=0) if mode != "same" else \
            _correlate_padded(x1, x2, mode)
    return _correlate_padded(x1, x2, mode)


def _correlate_padded(x1, x2, mode):
    n, m = value_of(x1).shape[0], value_of(x2).shape[0]
    if mode == "valid":
        left, right = 0, 0
        length = _pymax(n, m) - _pymin(n, m) + 1
    elif mode == "same":
        left = (m - 1) // 2 if n >= m else 0
        right = m - 1 - left
        length = _pymax(n, m)
    else:
        left = right = m - 1
        length = n + m - 1
    padded = _a.pad(_cast_float(x1), [(left, right)])
    outs = []
    for k in _pyrange(length):
        seg = padded[k:k + m] if n >= m else padded[k:k + m]
        outs.append(_m.sum(_m.multiply(seg, _cast_float(x2))))
    return _a.stack(outs, axis=0)


def cdist(x, y):
    """Euclidean distances between the rows of x (..., N, D) and of y (..., M, D)."""
    xx = _m.sum(_m.square(x), axis=-1)
    yy = _m.sum(_m.square(y), axis=-1)
    xy = _l.matmul(x, _a.swapaxes(y, -1, -2))
    d2 = _m.add(_m.subtract(_a.expand_dims(xx, -1), _m.multiply(xy, 2.0)), _a.expand_dims(yy, -2))
    return _m.sqrt(_m.maximum(d2, 0.0))


# ----------------------------------------------------------------- index sets and counts
def nonzero(x):
    """The indices of the non-zero elements, one array per axis."""
    xp, xv = _arr(x)
    return tuple(xp.nonzero(xv))


def argpartition(x, kth, axis=-1):
    """Indices that partition ``x`` around its ``kth`` element (a full stable argsort, which
    is one valid partition)."""
    xp, xv = _arr(x)
    return xp.argsort(xv, axis=axis, stable=True)


def searchsorted(sorted_sequence, values, side="left"):
    """Indices where ``values`` would be inserted to keep ``sorted_sequence`` (1-D) sorted."""
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: side={side!r}; expected 'left' or 'right'")
    xp, s = _arr(sorted_sequence)
    v = as_array(xp, value_of(values), like=s)
    if s.ndim != 1:
        raise ValueError(f"ops.searchsorted: sorted_sequence has shape {tuple(s.shape)}; expected 1-D")
    if v.dtype != s.dtype:
        common = xp.result_type(s.dtype, v.dtype)
        s, v = xp.astype(s, common), xp.astype(v, common)
    flat = xp.reshape(v, (-1,))
    out = xp.searchsorted(s, flat, side=side)
    return xp.reshape(out, tuple(v.shape))


def digitize(x, bins):
    """The index of the bin each value of ``x`` falls in (``bins`` increasing)."""
    xp, b = _arr(bins)
    return searchsorted(b, x, side="right")


def isin(x1, x2, assume_unique=False, invert=False):
    """True where an element of x1 is in x2."""
    xp, a = _arr(x1)
    b = xp.reshape(as_array(xp, value_of(x2), like=a), (-1,))
    hit = xp.any(xp.reshape(a, tuple(a.shape) + (1,)) == b, axis=-1) if b.shape[0] else \
        xp.zeros(a.shape, dtype=xp.bool, device=_device(a))
    return xp.logical_not(hit) if invert else hit


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The unique values of the flattened x (sorted), with numpy's optional outputs; ``size``
    pads (with ``fill_value``, default the smallest value) or truncates to a fixed length."""
    xp, xv = _arr(x)
    if axis is not None:
        raise ValueError(f"ops.unique: axis={axis!r}; only axis=None (the flattened array) is supported")
    flat = xp.reshape(xv, (-1,))
    res = xp.unique_all(flat)
    values = res.values
    order = xp.argsort(values, stable=True)
    values = xp.take(values, order)
    first = xp.take(res.indices, order)
    counts = xp.take(res.counts, order)
    inverse = xp.reshape(xp.searchsorted(values, flat), tuple(xv.shape))
    if size is not None:
        n = values.shape[0]
        if n >= size:
            values, first, counts = values[:size], first[:size], counts[:size]
        else:
            fill = xp.min(flat) if fill_value is None else fill_value
            pad = xp.full((size - n,), fill, dtype=values.dtype, device=_device(values))
            values = xp.concat([values, pad])
            first = xp.concat([first, xp.zeros((size - n,), dtype=first.dtype, device=_device(values))])
            counts = xp.concat([counts, xp.zeros((size - n,), dtype=counts.dtype, device=_device(values))])
    out = [values]
    if return_index:
        out.append(first)
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return out[0] if len(out) == 1 else tuple(out)


def unravel_index(indices, shape):
    """The coordinates of flat ``indices`` in an array of ``shape`` (a tuple of arrays)."""
    xp, idx = _arr(indices)
    coords = []
    for dim in reversed(tuple(shape)):
        coords.append(idx % dim)
        idx = idx // dim
    return tuple(reversed(coords))


def bincount(x, weights=None, minlength=0, sparse=False):
    """Counts (or summed ``weights``) of each non-negative integer value of a 1-D x
    (a batch of rows for 2-D x, as Keras)."""
    if sparse:
        raise ValueError("ops.bincount: sparse=True; portanet has no sparse tensors, use sparse=False")
    xp, xv = _arr(x)
    if xv.ndim not in (1, 2):
        raise ValueError(f"ops.bincount: x has shape {tuple(xv.shape)}; expected 1-D or 2-D")
    if xv.size and bool(xp.any(xv < 0)):
        raise ValueError("ops.bincount: x has negative values; expected non-negative integers")
    length = _pymax(int(minlength), (int(xp.max(xv)) + 1) if xv.size else 0)
    bins = xp.arange(length, device=_device(xv))
    onehot = xp.reshape(xv, tuple(xv.shape) + (1,)) == bins
    if weights is None:
        return xp.sum(xp.astype(onehot, xp.int64 if xv.dtype == xp.int64 else xp.int32), axis=-2)
    w = as_array(xp, value_of(weights), like=xv)
    return xp.sum(xp.astype(onehot, w.dtype) * xp.reshape(w, tuple(w.shape) + (1,)), axis=-2)


def histogram(x, bins=10, range=None):  # noqa: A002 - Keras's argument name
    """(counts, bin_edges) of a 1-D x over ``bins`` equal bins of ``range`` (default min..max)."""
    xp, xv = _arr(x)
    if xv.ndim != 1:
        raise ValueError(f"ops.histogram: x has shape {tuple(xv.shape)}; expected a 1-D array")
    xf = _float(xp, xv)
    lo, hi = (float(xp.min(xf)), float(xp.max(xf))) if range is None else (float(range[0]), float(range[1]))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = xp.linspace(lo, hi, bins + 1, dtype=xf.dtype, device=_device(xf))
    idx = xp.searchsorted(edges, xf, side="right") - 1
    idx = xp.where(xf == hi, xp.full_like(idx, bins - 1), idx)
    inside = (xf >= lo) & (xf <= hi)
    onehot = (xp.reshape(idx, (-1, 1)) == xp.arange(bins, device=_device(xf))) & xp.reshape(inside, (-1, 1))
    return xp.sum(xp.astype(onehot, xp.int64), axis=0), edges


def select(condlist, choicelist, default=0):
    """The element of the first choice whose condition holds, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"ops.select: {len(condlist)} conditions and {len(choicelist)} choices; "
                         "expected as many of each")
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        out = _m.where(cond, choice, out)
    return out


# ----------------------------------------------------------------- creation and windows
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``base ** linspace(start, stop, num)``."""
    exps = _c.linspace(start, stop, num=num, endpoint=endpoint, dtype=dtype, axis=axis)
    return _m.power(float(base), exps)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Numbers spaced evenly on a log scale from ``start`` to ``stop``."""
    if float(start) == 0 or float(stop) == 0:
        raise ValueError("ops.geomspace: start and stop must be non-zero")
    sign = -1.0 if float(start) < 0 else 1.0
    out = logspace(_pymath.log10(_pyabs(float(start))), _pymath.log10(_pyabs(float(stop))), num=num,
                   endpoint=endpoint, dtype=dtype, axis=axis)
    return _m.multiply(out, sign)


def _window(x, fn):
    n = int(x)
    xp = _backend.current().xp
    dt = floatx_dtype(xp)
    if n == 1:
        return xp.ones((1,), dtype=dt)
    k = xp.astype(xp.arange(n), dt)
    return fn(xp, k, n)


def bartlett(x):
    """The Bartlett (triangular) window of length x."""
    return _window(x, lambda xp, k, n: 1.0 - xp.abs(2.0 * k / (n - 1) - 1.0))


def blackman(x):
    """The Blackman window of length x."""
    return _window(x, lambda xp, k, n: 0.42 - 0.5 * xp.cos(2 * _pymath.pi * k / (n - 1))
                   + 0.08 * xp.cos(4 * _pymath.pi * k / (n - 1)))


def hamming(x):
    """The Hamming window of length x."""
    return _window(x, lambda xp, k, n: 0.54 - 0.46 * xp.cos(2 * _pymath.pi * k / (n - 1)))


def hanning(x):
    """The Hann window of length x."""
    return _window(x, lambda xp, k, n: 0.5 - 0.5 * xp.cos(2 * _pymath.pi * k / (n - 1)))


def kaiser(x, beta):
    """The Kaiser window of length x with shape parameter ``beta``."""
    def fn(xp, k, n):
        alpha = (n - 1) / 2.0
        r = (k - alpha) / alpha
        arg = beta * xp.sqrt(xp.clip(1.0 - r * r, 0.0, None))
        return _i0_impl(arg) / _i0_impl(xp.asarray(float(beta), dtype=k.dtype))
    return _window(x, fn)


# ----------------------------------------------------------------- dtypes
def saturate_cast(x, dtype):
    """Cast to ``dtype``, clipping to its range first (no wrap-around)."""
    xp, xv = _arr(x)
    target = to_dtype(xp, dtype)
    if xp.isdtype(target, "integral"):
        info = xp.iinfo(target)
        lo, hi = info.min, info.max
    elif xp.isdtype(target, "real floating"):
        info = xp.finfo(target)
        lo, hi = info.min, info.max
    else:
        return _c.cast(x, dtype)
    if xp.isdtype(xv.dtype, "integral"):
        src = xp.iinfo(xv.dtype)
        lo, hi = _pymax(lo, src.min), _pymin(hi, src.max)
        return _c.cast(_m.clip(x, int(lo), int(hi)), dtype)
    if xp.isdtype(xv.dtype, "real floating"):
        src = xp.finfo(xv.dtype)
        lo, hi = _pymax(float(lo), float(src.min)), _pymin(float(hi), float(src.max))
        return _c.cast(_m.clip(x, lo, hi), dtype)
    return _c.cast(x, dtype)


def view(x, dtype=None):
    """The same bytes read as ``dtype`` (computed on the host: the Array API has no views)."""
    xp, xv = _arr(x)
    if dtype is None:
        return xv
    host = _host_math.view(_to_host(xv), _dtype_name(to_dtype(xp, dtype)))
    return _from_host(xp, host, xv)


def view_as_real(x):
    """A complex array as a real one with a trailing axis of size 2 (real, imaginary)."""
    xp, xv = _arr(x)
    if not xp.isdtype(xv.dtype, "complex floating"):
        raise ValueError(f"ops.view_as_real: x has dtype {_dtype_name(xv.dtype)}; expected a complex array")
    return xp.stack([xp.real(xv), xp.imag(xv)], axis=-1)


def view_as_complex(x):
    """A real array whose last axis has size 2 as a complex array."""
    xp, xv = _arr(x)
    if xv.shape[-1] != 2:
        raise ValueError(f"ops.view_as_complex: x has shape {tuple(xv.shape)}; expected a last axis of size 2")
    cdtype = xp.complex128 if xv.dtype == xp.float64 else xp.complex64
    return xp.astype(xv[..., 0], cdtype) + 1j * xp.astype(xv[..., 1], cdtype)


def get_item(x, key):
    """``x[key]`` (as Keras's functional form of indexing); a key that names fewer axes than
    ``x`` has indexes the leading ones (NumPy's rule, which the Array API leaves out)."""
    if not isinstance(key, tuple):
        key = (key,)
    if Ellipsis not in key and not any(is_array(k) or isinstance(k, list) for k in key):
        key = key + (Ellipsis,)
    return x[key]


__all__ = public_names(globals())
