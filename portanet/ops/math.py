"""Element-wise math, comparisons, logic and reductions (keras.ops numpy-style names).

Each op is a forward on arrays plus its vector-Jacobian product (see ``_dispatch``).
Integer inputs of float-valued functions (``exp``, ``sqrt``...) are cast to the default
float first, as Keras does.
"""

from ._dispatch import (public_names, as_array, floatx_dtype, is_array, normalize_axis, pair, primitive,
                        to_dtype, unbroadcast)
from .tape import _OPS, namespace_of, value_of


def _float_arg(x):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        x = xp.astype(x, floatx_dtype(xp))
    return xp, x


def _unary(name, fn, vjp, keep_int=False):
    """An element-wise op ``fn(xp, x)`` with ``vjp(xp, g, out, x) -> dx``."""
    if keep_int:
        def impl(x):
            xp = namespace_of(x)
            return fn(xp, as_array(xp, x))
    else:
        def impl(x):
            xp, x = _float_arg(x)
            return fn(xp, x)

    def grad(g, out, x):
        xp = namespace_of(g)
        if not is_array(x) or not xp.isdtype(x.dtype, ("real floating", "complex floating")):
            x = as_array(xp, x, like=g, dtype=g.dtype)
        else:
            x = as_array(xp, x, like=g)
        return (vjp(xp, g, out, x),)
    return primitive(name, impl, None if vjp is None else grad)


def _zero(xp, g, out, x):
    return xp.zeros_like(g)


negative = _unary("negative", lambda xp, x: -x, lambda xp, g, o, x: -g, keep_int=True)
absolute = _unary("absolute", lambda xp, x: xp.abs(x), lambda xp, g, o, x: g * xp.sign(x), keep_int=True)
abs = absolute  # noqa: A001 - Keras's name
square = _unary("square", lambda xp, x: x * x, lambda xp, g, o, x: 2 * g * x, keep_int=True)
sqrt = _unary("sqrt", lambda xp, x: xp.sqrt(x), lambda xp, g, o, x: g * 0.5 / o)
rsqrt = _unary("rsqrt", lambda xp, x: 1.0 / xp.sqrt(x), lambda xp, g, o, x: -0.5 * g * o * o * o)
exp = _unary("exp", lambda xp, x: xp.exp(x), lambda xp, g, o, x: g * o)
exp2 = _unary("exp2", lambda xp, x: xp.pow(2.0, x), lambda xp, g, o, x: g * o * 0.6931471805599453)
expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), lambda xp, g, o, x: g * (o + 1.0))
log = _unary("log", lambda xp, x: xp.log(x), lambda xp, g, o, x: g / x)
log1p = _unary("log1p", lambda xp, x: xp.log1p(x), lambda xp, g, o, x: g / (1.0 + x))
log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda xp, g, o, x: g / (x * 0.6931471805599453))
log10 = _unary("log10", lambda xp, x: xp.log10(x), lambda xp, g, o, x: g / (x * 2.302585092994046))
sin = _unary("sin", lambda xp, x: xp.sin(x), lambda xp, g, o, x: g * xp.cos(x))
cos = _unary("cos", lambda xp, x: xp.cos(x), lambda xp, g, o, x: -g * xp.sin(x))
tan = _unary("tan", lambda xp, x: xp.tan(x), lambda xp, g, o, x: g * (1.0 + o * o))
arcsin = _unary("arcsin", lambda xp, x: xp.asin(x), lambda xp, g, o, x: g / xp.sqrt(1.0 - x * x))
arccos = _unary("arccos", lambda xp, x: xp.acos(x), lambda xp, g, o, x: -g / xp.sqrt(1.0 - x * x))
arctan = _unary("arctan", lambda xp, x: xp.atan(x), lambda xp, g, o, x: g / (1.0 + x * x))
sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda xp, g, o, x: g * xp.cosh(x))
cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda xp, g, o, x: g * xp.sinh(x))
tanh = _unary("tanh", lambda xp, x: xp.tanh(x), lambda xp, g, o, x: g * (1.0 - o * o))
arcsinh = _unary("arcsinh", lambda xp, x: xp.asinh(x), lambda xp, g, o, x: g / xp.sqrt(x * x + 1.0))
arccosh = _unary("arccosh", lambda xp, x: xp.acosh(x), lambda xp, g, o, x: g / xp.sqrt(x * x - 1.0))
arctanh = _unary("arctanh", lambda xp, x: xp.atanh(x), lambda xp, g, o, x: g / (1.0 - x * x))
reciprocal = _unary("reciprocal", lambda xp, x: 1.0 / x, lambda xp, g, o, x: -g * o * o)
# Piecewise-constant functions: zero gradient almost everywhere (as Keras / TF).
sign = _unary("sign", lambda xp, x: xp.sign(x), _zero, keep_int=True)
floor = _unary("floor", lambda xp, x: xp.floor(x), _zero, keep_int=True)
ceil = _unary("ceil", lambda xp, x: xp.ceil(x), _zero, keep_int=True)
trunc = _unary("trunc", lambda xp, x: xp.trunc(x), _zero, keep_int=True)
isnan = _unary("isnan", lambda xp, x: xp.isnan(x), None, keep_int=True)
isinf = _unary("isinf", lambda xp, x: xp.isinf(x), None, keep_int=True)
isfinite = _unary("isfinite", lambda xp, x: xp.isfinite(x), None, keep_int=True)
logical_not = _unary("logical_not", lambda xp, x: xp.logical_not(xp.astype(x, xp.bool)
                                                                  if x.dtype != xp.bool else x),
                     None, keep_int=True)
sigmoid = _unary("sigmoid", lambda xp, x: _sigmoid(xp, x), lambda xp, g, o, x: g * o * (1.0 - o))
conj = conjugate = _unary("conjugate", lambda xp, x: xp.conj(x), lambda xp, g, o, x: xp.conj(g),
                          keep_int=True)
real = _unary("real", lambda xp, x: xp.real(x), lambda xp, g, o, x: g, keep_int=True)


def _sigmoid(xp, x):
    # exp of -|x| only: no overflow for large |x|.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def round(x, decimals=0):  # noqa: A001 - Keras's name
    """Round half to even to ``decimals`` places (zero gradient)."""
    return _round(x, decimals=decimals)


def _round_impl(x, decimals=0):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if decimals == 0:
        return xp.round(x)
    scale = 10.0 ** decimals
    return xp.round(x * scale) / scale


_round = primitive("round", _round_impl, lambda g, o, x, decimals=0: (namespace_of(g).zeros_like(g),))


# ----------------------------------------------------------------- binary
def _binary(name, fn, vjp=None, float_out=False):
    """A broadcasting binary op ``fn(xp, a, b)`` with ``vjp(xp, g, out, a, b) -> (da, db)``."""

    def impl(a, b):
        xp, a, b = pair(a, b)
        if float_out:
            a = _to_float(xp, a)
            b = _to_float(xp, b)
        return fn(xp, a, b)

    def grad(g, out, a, b):
        xp = namespace_of(g)
        a_ = as_array(xp, a, like=g, dtype=None if is_array(a) else g.dtype)
        b_ = as_array(xp, b, like=g, dtype=None if is_array(b) else g.dtype)
        da, db = vjp(xp, g, out, a_, b_)
        return (None if da is None or not is_array(a) else unbroadcast(xp, da, a.shape),
                None if db is None or not is_array(b) else unbroadcast(xp, db, b.shape))
    return primitive(name, impl, grad if vjp is not None else None)


def _to_float(xp, v):
    if is_array(v) and not xp.isdtype(v.dtype, ("real floating", "complex floating")):
        return xp.astype(v, floatx_dtype(xp))
    return v


add = _binary("add", lambda xp, a, b: a + b, lambda xp, g, o, a, b: (g, g))
subtract = _binary("subtract", lambda xp, a, b: a - b, lambda xp, g, o, a, b: (g, -g))
multiply = _binary("multiply", lambda xp, a, b: a * b, lambda xp, g, o, a, b: (g * b, g * a))
divide = _binary("divide", lambda xp, a, b: a / b,
                 lambda xp, g, o, a, b: (g / b, -g * o / b), float_out=True)
true_divide = divide
floor_divide = _binary("floor_divide", lambda xp, a, b: a // b,
                       lambda xp, g, o, a, b: (xp.zeros_like(g), xp.zeros_like(g)))
mod = _binary("mod", lambda xp, a, b: a % b,
              lambda xp, g, o, a, b: (g, -g * xp.floor(a / b)))


def _power_vjp(xp, g, o, a, b):
    da = g * b * xp.pow(a, b - 1.0) if xp.isdtype(g.dtype, "real floating") else g * b * a ** (b - 1)
    safe = xp.where(a > 0, a, xp.ones_like(a))
    db = g * o * xp.where(a > 0, xp.log(safe), xp.zeros_like(a))
    return da, db


power = _binary("power", lambda xp, a, b: a ** b, _power_vjp)


def _max_vjp(pick):
    def vjp(xp, g, o, a, b):
        a_wins = xp.astype(pick(a, b), g.dtype)
        tie = xp.astype(a == b, g.dtype)
        # Ties share the gradient equally (as TF's maximum / minimum).
        wa = a_wins + 0.5 * tie
        return g * wa, g * (1.0 - wa)
    return vjp


maximum = _binary("maximum", lambda xp, a, b: xp.maximum(a, b), _max_vjp(lambda a, b: a > b))
minimum = _binary("minimum", lambda xp, a, b: xp.minimum(a, b), _max_vjp(lambda a, b: a < b))
arctan2 = _binary("arctan2", lambda xp, a, b: xp.atan2(a, b),
                  lambda xp, g, o, a, b: (g * b / (a * a + b * b), -g * a / (a * a + b * b)),
                  float_out=True)
hypot = _binary("hypot", lambda xp, a, b: xp.hypot(a, b),
                lambda xp, g, o, a, b: (g * a / o, g * b / o), float_out=True)
logaddexp = _binary("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
                    lambda xp, g, o, a, b: (g * xp.exp(a - o), g * xp.exp(b - o)), float_out=True)
copysign = _binary("copysign", lambda xp, a, b: xp.copysign(a, b),
                   lambda xp, g, o, a, b: (g * xp.sign(a) * xp.sign(o), xp.zeros_like(g)),
                   float_out=True)

equal = _binary("equal", lambda xp, a, b: a == b)
not_equal = _binary("not_equal", lambda xp, a, b: a != b)
less = _binary("less", lambda xp, a, b: a < b)
less_equal = _binary("less_equal", lambda xp, a, b: a <= b)
greater = _binary("greater", lambda xp, a, b: a > b)
greater_equal = _binary("greater_equal", lambda xp, a, b: a >= b)


def _as_bool(xp, v):
    if is_array(v) and v.dtype != xp.bool:
        return v != 0
    return v


logical_and = _binary("logical_and", lambda xp, a, b: xp.logical_and(_as_bool(xp, a), _as_bool(xp, b)))
logical_or = _binary("logical_or", lambda xp, a, b: xp.logical_or(_as_bool(xp, a), _as_bool(xp, b)))
logical_xor = _binary("logical_xor", lambda xp, a, b: xp.logical_xor(_as_bool(xp, a), _as_bool(xp, b)))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Element-wise ``|x1 - x2| <= atol + rtol·|x2|`` (not differentiable)."""
    xp, a, b = pair(value_of(x1), value_of(x2))
    close = xp.abs(a - b) <= atol + rtol * xp.abs(b)
    if equal_nan:
        close = close | (xp.isnan(a) & xp.isnan(b))
    return close


# ----------------------------------------------------------------- where / clip
def _where_impl(condition, x1, x2):
    xp = namespace_of(x1, x2, condition)
    cond = as_array(xp, condition)
    if cond.dtype != xp.bool:
        cond = cond != 0
    _, a, b = pair(x1, x2)
    if not is_array(a) and not is_array(b):
        a = as_array(xp, a, like=cond)
    if not is_array(a):
        a = as_array(xp, a, like=b, dtype=b.dtype)
    if not is_array(b):
        b = as_array(xp, b, like=a, dtype=a.dtype)
    return xp.where(cond, a, b)


def _where_vjp(g, out, condition, x1, x2):
    xp = namespace_of(g)
    cond = as_array(xp, condition)
    if cond.dtype != xp.bool:
        cond = cond != 0
    zero = xp.zeros_like(g)
    da = unbroadcast(xp, xp.where(cond, g, zero), x1.shape) if is_array(x1) else None
    db = unbroadcast(xp, xp.where(cond, zero, g), x2.shape) if is_array(x2) else None
    return None, da, db


_where = primitive("where", _where_impl, _where_vjp)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` is true, else ``x2`` (broadcasting); with only the
    condition, the indices of its non-zero entries (a tuple of arrays, as numpy)."""
    if x1 is None and x2 is None:
        c = value_of(condition)
        return namespace_of(c).nonzero(c)
    if x1 is None or x2 is None:
        raise ValueError("ops.where: give both x1 and x2, or neither")
    return _where(condition, x1, x2)


def _clip_impl(x, x_min, x_max):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if is_array(x_min) or is_array(x_max):
        return xp.minimum(xp.maximum(x, as_array(xp, x_min, like=x, dtype=x.dtype)),
                          as_array(xp, x_max, like=x, dtype=x.dtype))
    if not xp.isdtype(x.dtype, "real floating") and (isinstance(x_min, float) or isinstance(x_max, float)):
        x = xp.astype(x, floatx_dtype(xp))
    return xp.clip(x, x_min, x_max)


def _clip_vjp(g, out, x, x_min, x_max):
    xp = namespace_of(g)
    inside = xp.astype((x >= x_min) & (x <= x_max), g.dtype)
    return g * inside, None, None


_clip = primitive("clip", _clip_impl, _clip_vjp)


def clip(x, x_min, x_max):
    """Clip ``x`` to ``[x_min, x_max]`` (gradient 1 inside, 0 outside)."""
    return _clip(x, x_min, x_max)


# ----------------------------------------------------------------- reductions
def _reduction(name, fn, vjp):
    def impl(x, axis=None, keepdims=False):
        xp = namespace_of(x)
        x = as_array(xp, x)
        return fn(xp, x, _axis_arg(axis), keepdims)

    def grad(g, out, x, axis=None, keepdims=False):
        xp = namespace_of(g)
        axes = normalize_axis(_axis_arg(axis), x.ndim)
        if not keepdims:
            for a in sorted(axes):
                g = xp.expand_dims(g, axis=a)
                out = xp.expand_dims(out, axis=a) if is_array(out) else out
        return (vjp(xp, g, out, x, axes),)
    op = primitive(name, impl, grad if vjp is not None else None)

    def public(x, axis=None, keepdims=False):
        return op(x, axis=axis, keepdims=keepdims)
    public.__name__ = public.__qualname__ = name
    public.__doc__ = f"``{name}`` over ``axis`` (None: every axis), as numpy / keras.ops."
    return public


def _axis_arg(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def _count(x, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def _sum_fn(xp, x, axis, keepdims):
    if x.dtype == xp.bool:
        x = xp.astype(x, xp.int64)
    return xp.sum(x, axis=axis, keepdims=keepdims)


def _mean_fn(xp, x, axis, keepdims):
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, floatx_dtype(xp))
    return xp.mean(x, axis=axis, keepdims=keepdims)


def _extreme_vjp(xp, g, out, x, axes):
    hit = xp.astype(x == out, g.dtype)
    # Ties share the gradient equally.
    return g * hit / xp.sum(hit, axis=axes, keepdims=True)


def _var_fn(xp, x, axis, keepdims):
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, floatx_dtype(xp))
    return xp.var(x, axis=axis, keepdims=keepdims)


def _var_vjp(xp, g, out, x, axes):
    n = _count(x, axes)
    return g * 2.0 * (x - xp.mean(x, axis=axes, keepdims=True)) / n


def _std_fn(xp, x, axis, keepdims):
    return xp.sqrt(_var_fn(xp, x, axis, keepdims))


def _std_vjp(xp, g, out, x, axes):
    n = _count(x, axes)
    return g * (x - xp.mean(x, axis=axes, keepdims=True)) / (n * out)


def _prod_vjp(xp, g, out, x, axes):
    # out / x where x != 0; the exact product of the others where one entry is zero.
    safe = xp.where(x == 0, xp.ones_like(x), x)
    zeros = xp.sum(xp.astype(x == 0, g.dtype), axis=axes, keepdims=True)
    prod_others_nonzero = xp.prod(safe, axis=axes, keepdims=True)
    grad_nonzero = out / safe
    grad_zero = xp.where(zeros == 1, prod_others_nonzero, xp.zeros_like(prod_others_nonzero))
    return g * xp.where(x == 0, grad_zero * xp.ones_like(x), grad_nonzero)


def _logsumexp_fn(xp, x, axis, keepdims):
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, floatx_dtype(xp))
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        s = xp.squeeze(s, axis=normalize_axis(axis, x.ndim))
    return s


sum = _reduction("sum", _sum_fn, lambda xp, g, o, x, axes: g * xp.ones_like(x))  # noqa: A001
mean = _reduction("mean", _mean_fn, lambda xp, g, o, x, axes: g * xp.ones_like(x) / _count(x, axes))
max = _reduction("max", lambda xp, x, a, k: xp.max(x, axis=a, keepdims=k), _extreme_vjp)  # noqa: A001
min = _reduction("min", lambda xp, x, a, k: xp.min(x, axis=a, keepdims=k), _extreme_vjp)  # noqa: A001
amax, amin = max, min
prod = _reduction("prod", lambda xp, x, a, k: xp.prod(x, axis=a, keepdims=k), _prod_vjp)
var = _reduction("var", _var_fn, _var_vjp)
std = _reduction("std", _std_fn, _std_vjp)
logsumexp = _reduction("logsumexp", _logsumexp_fn,
                       lambda xp, g, o, x, axes: g * xp.exp(x - o))
all = _reduction("all", lambda xp, x, a, k: xp.all(x, axis=a, keepdims=k), None)  # noqa: A001
any = _reduction("any", lambda xp, x, a, k: xp.any(x, axis=a, keepdims=k), None)  # noqa: A001


def _arg(name, fn):
    def impl(x, axis=None, keepdims=False):
        xp = namespace_of(x)
        x = as_array(xp, x)
        if axis is None:
            r = fn(xp, xp.reshape(x, (-1,)), 0)
            return xp.reshape(r, (1,) * x.ndim) if keepdims else r
        return fn(xp, x, axis) if not keepdims else xp.expand_dims(fn(xp, x, axis), axis=axis)
    op = primitive(name, impl)

    def public(x, axis=None, keepdims=False):
        return op(x, axis=axis, keepdims=keepdims)
    public.__name__ = public.__qualname__ = name
    public.__doc__ = f"Index of the {name[3:]}imum along ``axis`` (None: of the flattened array)."
    return public


argmax = _arg("argmax", lambda xp, x, axis: xp.argmax(x, axis=axis))
argmin = _arg("argmin", lambda xp, x, axis: xp.argmin(x, axis=axis))


def count_nonzero(x, axis=None):
    """Number of non-zero entries along ``axis`` (an int64 array)."""
    return _count_nonzero(x, axis=axis)


_count_nonzero = primitive(
    "count_nonzero",
    lambda x, axis=None: namespace_of(x).sum(namespace_of(x).astype(as_array(namespace_of(x), x) != 0,
                                                                     namespace_of(x).int64),
                                             axis=_axis_arg(axis)))


def average(x, axis=None, weights=None):
    """Weighted mean along ``axis``: Σ w·x / Σ w (plain mean without weights)."""
    if weights is None:
        return mean(x, axis=axis)
    if axis is not None and getattr(weights, "ndim", 0) == 1 and getattr(x, "ndim", 0) > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        weights = _OPS["reshape"](weights, tuple(shape))
    return divide(sum(multiply(x, weights), axis=axis),
                  sum(multiply(_OPS["ones_like"](x), weights), axis=axis))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """Vector 2-norm (``ord=None`` or 2), 1-norm, inf-norm, or the Frobenius norm of a matrix
    (``ord="fro"`` or None with two axes); differentiable through its pieces."""
    if ord in (None, 2, "fro", "euclidean"):
        return sqrt(sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(absolute(x), axis=axis, keepdims=keepdims)
    if ord in (float("inf"), "inf"):
        return max(absolute(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)):
        return power(sum(power(absolute(x), float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)
    raise ValueError(f"ops.norm: ord={ord!r}; expected None, 1, 2, inf, 'fro' or a number")


def _cum_impl(kind):
    def impl(x, axis=None, dtype=None):
        xp = namespace_of(x)
        x = as_array(xp, x)
        if axis is None:
            x, axis = xp.reshape(x, (-1,)), 0
        fn = xp.cumulative_sum if kind == "sum" else xp.cumulative_prod
        out = fn(x, axis=axis)
        return out if dtype is None else xp.astype(out, to_dtype(xp, dtype))
    return impl


def _cumsum_vjp(g, out, x, axis=None, dtype=None):
    xp = namespace_of(g)
    if axis is None:
        g2 = xp.flip(xp.cumulative_sum(xp.flip(g, axis=0), axis=0), axis=0)
        return (xp.reshape(g2, x.shape),)
    return (xp.flip(xp.cumulative_sum(xp.flip(g, axis=axis), axis=axis), axis=axis),)


def _cumprod_vjp(g, out, x, axis=None, dtype=None):
    # Valid where x has no zeros (as TF's default); d/dx_i = Σ_{j>=i} g_j·out_j / x_i.
    xp = namespace_of(g)
    if axis is None:
        flat_x, flat_g, flat_o = xp.reshape(x, (-1,)), g, out
        r = xp.flip(xp.cumulative_sum(xp.flip(flat_g * flat_o, axis=0), axis=0), axis=0) / flat_x
        return (xp.reshape(r, x.shape),)
    r = xp.flip(xp.cumulative_sum(xp.flip(g * out, axis=axis), axis=axis), axis=axis) / x
    return (r,)


_cumsum = primitive("cumsum", _cum_impl("sum"), _cumsum_vjp)
_cumprod = primitive("cumprod", _cum_impl("prod"), _cumprod_vjp)


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along ``axis`` (None: of the flattened array)."""
    return _cumsum(x, axis=axis, dtype=dtype)


def cumprod(x, axis=None, dtype=None):
    """Cumulative product along ``axis`` (None: of the flattened array)."""
    return _cumprod(x, axis=axis, dtype=dtype)


__all__ = public_names(globals())
