"""Neural-network functions exported flat, as ``keras.ops`` does: activations, ``softmax``,
``one_hot``, ``conv``, ``depthwise_conv``, pooling, ``moments``, ``normalize``, the
cross-entropies, ``dot_product_attention``, ``ctc_loss`` (forward-backward in log space, its
own VJP) and ``ctc_decode`` (greedy and beam search, run on the host by
``backend/ctc_host.py``).

Activations and softmax are ops with their own vector-Jacobian products (they sit on the
hot path of custom layers); convolution and pooling are written with slicing,
concatenation and matmul (im2col), so their gradients come from those ops.
"""

import itertools
import math as _math

import array_api_compat

from .. import config as _config
from ..backend import ctc_host as _ctc_host
from ._dispatch import public_names, as_array, floatx_dtype, primitive, to_dtype
from .array import _pad_impl, concatenate, pad, reshape, squeeze, stack, transpose
from .linalg import einsum, matmul
from .math import (_sigmoid, _unary, absolute, clip, divide, exp, greater, log, log1p, maximum,
                   mean, minimum, multiply, negative, sqrt, square, subtract, sum, tanh, where)
from .math import max as _max
from .math import sigmoid  # noqa: F401 - exported flat
from .tape import _to_host, namespace_of, value_of

_SQRT_2_OVER_PI = 0.7978845608028654
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _step(xp, x, g):
    return g * xp.astype(x > 0, g.dtype)


relu = _unary("relu", lambda xp, x: xp.maximum(x, xp.zeros((), dtype=x.dtype)),
              lambda xp, g, o, x: _step(xp, x, g))
relu6 = _unary("relu6", lambda xp, x: xp.clip(x, 0.0, 6.0),
               lambda xp, g, o, x: g * xp.astype((x > 0) & (x < 6), g.dtype))
softplus = _unary("softplus", lambda xp, x: xp.logaddexp(x, xp.zeros((), dtype=x.dtype)),
                  lambda xp, g, o, x: g * _sigmoid(xp, x))
softsign = _unary("softsign", lambda xp, x: x / (1.0 + xp.abs(x)),
                  lambda xp, g, o, x: g / ((1.0 + xp.abs(x)) * (1.0 + xp.abs(x))))
silu = _unary("silu", lambda xp, x: x * _sigmoid(xp, x),
              lambda xp, g, o, x: g * _silu_grad(xp, x))
swish = silu
log_sigmoid = _unary("log_sigmoid", lambda xp, x: -xp.logaddexp(-x, xp.zeros((), dtype=x.dtype)),
                     lambda xp, g, o, x: g * _sigmoid(xp, -x))
hard_sigmoid = _unary("hard_sigmoid", lambda xp, x: xp.clip(x / 6.0 + 0.5, 0.0, 1.0),
                      lambda xp, g, o, x: g * xp.astype((x > -3) & (x < 3), g.dtype) / 6.0)
hard_silu = _unary("hard_silu", lambda xp, x: x * xp.clip(x / 6.0 + 0.5, 0.0, 1.0),
                   lambda xp, g, o, x: g * xp.where(x <= -3, xp.zeros_like(x),
                                                    xp.where(x >= 3, xp.ones_like(x), x / 3.0 + 0.5)))
hard_swish = hard_silu
selu = _unary("selu", lambda xp, x: _SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(
                  xp.minimum(x, xp.zeros((), dtype=x.dtype)))),
              lambda xp, g, o, x: g * _SELU_SCALE * xp.where(
                  x > 0, xp.ones_like(x), _SELU_ALPHA * xp.exp(xp.minimum(x, xp.zeros((), dtype=x.dtype)))))


def _silu_grad(xp, x):
    s = _sigmoid(xp, x)
    return s * (1.0 + x * (1.0 - s))


def _gelu_impl(x, approximate=True):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if approximate:
        return 0.5 * x * (1.0 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + _erf(xp, x / 1.4142135623730951))


def _gelu_vjp(g, out, x, approximate=True):
    xp = namespace_of(g)
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = xp.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
        return (g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner),)
    cdf = 0.5 * (1.0 + _erf(xp, x / 1.4142135623730951))
    pdf = xp.exp(-0.5 * x * x) / 2.5066282746310002
    return (g * (cdf + x * pdf),)


def _erf(xp, x):
    # The standard has no erf; where the namespace lacks one, evaluate it on the host.
    native = getattr(xp, "erf", None)
    if native is not None:
        return native(x)
    host = _to_host(x)
    values = [_math.erf(v) for v in host.reshape(-1).tolist()]
    return xp.reshape(xp.asarray(values, dtype=x.dtype, device=_device(x)), tuple(x.shape))


def _device(x):
    return array_api_compat.device(x)


_gelu = primitive("gelu", _gelu_impl, _gelu_vjp)


def gelu(x, approximate=True):
    """Gaussian error linear unit (tanh approximation by default, as Keras)."""
    return _gelu(x, approximate=approximate)


def _elu_impl(x, alpha=1.0):
    xp = namespace_of(x)
    x = as_array(xp, x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, xp.zeros((), dtype=x.dtype))))


_elu = primitive("elu", _elu_impl, lambda g, o, x, alpha=1.0: (
    g * namespace_of(g).where(x > 0, namespace_of(g).ones_like(x), o + alpha),))


def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0, alpha·(exp(x) - 1) otherwise."""
    return _elu(x, alpha=alpha)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: max(x, 0) + min(0, alpha·(exp(x/alpha) - 1))."""
    return where(greater(x, 0), x, multiply(alpha, subtract(exp(divide(minimum(x, 0.0), alpha)), 1.0)))


def _leaky_impl(x, negative_slope=0.2):
    xp = namespace_of(x)
    x = as_array(xp, x)
    return xp.where(x > 0, x, negative_slope * x)


_leaky = primitive("leaky_relu", _leaky_impl, lambda g, o, x, negative_slope=0.2: (
    g * namespace_of(g).where(x > 0, namespace_of(g).ones_like(x),
                              namespace_of(g).full_like(x, negative_slope)),))


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope·x otherwise."""
    return _leaky(x, negative_slope=negative_slope)


def _softmax_impl(x, axis=-1):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, floatx_dtype(xp))
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _softmax_vjp(g, s, x, axis=-1):
    xp = namespace_of(g)
    return (s * (g - xp.sum(g * s, axis=axis, keepdims=True)),)


def _log_softmax_impl(x, axis=-1):
    xp = namespace_of(x)
    x = as_array(xp, x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_vjp(g, out, x, axis=-1):
    xp = namespace_of(g)
    return (g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),)


_softmax = primitive("softmax", _softmax_impl, _softmax_vjp)
_log_softmax = primitive("log_softmax", _log_softmax_impl, _log_softmax_vjp)


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along ``axis`` (computed stably)."""
    return _softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    return _log_softmax(x, axis=axis)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Integer labels to one-hot vectors (a new axis of ``num_classes`` at ``axis``);
    labels outside [0, num_classes) give all-zero rows, as Keras."""
    v = value_of(x)
    xp = namespace_of(v)
    v = as_array(xp, v)
    if not xp.isdtype(v.dtype, "integral"):
        v = xp.astype(v, xp.int64)
    dt = to_dtype(xp, dtype) if dtype is not None else floatx_dtype(xp)
    classes = xp.arange(int(num_classes), dtype=v.dtype, device=_device(v))
    out = xp.astype(xp.expand_dims(v, axis=-1) == classes, dt)
    if axis != -1 and axis != v.ndim:
        out = xp.moveaxis(out, -1, axis)
    return out


def multi_hot(inputs, num_classes, axis=-1, dtype=None, sparse=False):
    """Several labels per row to one multi-hot vector (1 where any label is the class)."""
    oh = one_hot(inputs, num_classes, axis=-1, dtype=dtype)
    xp = namespace_of(oh)
    return xp.max(oh, axis=-2)


# ----------------------------------------------------------------- statistics
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) of ``x`` over ``axes``."""
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    m = mean(x, axis=axes, keepdims=True)
    v = mean(square(subtract(x, m)), axis=axes, keepdims=True)
    if not keepdims:
        m, v = squeeze(m, axis=axes), squeeze(v, axis=axes)
    return m, v


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):  # noqa: A002
    """(x - mean) / sqrt(variance + epsilon) · scale + offset, the statistics shaped for
    ``axis`` (1-D of that axis's length)."""
    nd = len(x.shape)
    axis = axis % nd
    shape = [1] * nd
    shape[axis] = x.shape[axis]

    def fit(t):
        return None if t is None else reshape(t, tuple(shape))
    y = divide(subtract(x, fit(mean)), sqrt(fit(variance) + epsilon))
    if scale is not None:
        y = multiply(y, fit(scale))
    if offset is not None:
        y = y + fit(offset)
    return y


def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its ``order``-norm along ``axis`` (at least ``epsilon``)."""
    eps = _config.epsilon() if epsilon is None else epsilon
    if order == 2:
        return divide(x, sqrt(maximum(sum(square(x), axis=axis, keepdims=True), eps)))
    n = sum(absolute(x), axis=axis, keepdims=True) if order == 1 else \
        (sum(absolute(x) ** order, axis=axis, keepdims=True) ** (1.0 / order))
    return divide(x, maximum(n, eps))


# ----------------------------------------------------------------- cross-entropies
def binary_crossentropy(target, output, from_logits=False):
    """Element-wise binary cross-entropy (probabilities clipped to [EPS, 1-EPS])."""
    if from_logits:
        # max(x, 0) - x·t + log(1 + exp(-|x|))
        return subtract(relu(output), multiply(output, target)) + log1p(exp(negative(absolute(output))))
    eps = _config.epsilon()
    p = clip(output, eps, 1.0 - eps)
    return negative(multiply(target, log(p)) + multiply(subtract(1.0, target), log(subtract(1.0, p))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-Σ target·log(output) along ``axis`` (output renormalized and clipped, as Keras)."""
    if from_logits:
        return negative(sum(multiply(target, log_softmax(output, axis=axis)), axis=axis))
    eps = _config.epsilon()
    p = divide(output, sum(output, axis=axis, keepdims=True))
    p = clip(p, eps, 1.0 - eps)
    return negative(sum(multiply(target, log(p)), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy with integer class ids as targets."""
    t = value_of(target)
    if len(t.shape) == len(output.shape) and t.shape[-1] == 1:
        t = namespace_of(t).reshape(t, tuple(t.shape[:-1]))
    oh = one_hot(t, output.shape[axis], axis=axis,
                 dtype=str(value_of(output).dtype).rsplit(".", 1)[-1])
    return categorical_crossentropy(oh, output, from_logits=from_logits, axis=axis)


# ----------------------------------------------------------------- convolution / pooling
def _tuple(v, n, name):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"{name}={v!r}; expected {n} integers")
    return v


def _spatial_pads(in_sizes, window, strides, dilation, padding):
    """(output sizes, [(before, after)] pads) for "valid" / "same" (Keras's rules)."""
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"padding={padding!r}; expected 'valid' or 'same'")
    outs, pads = [], []
    for n, k, s, d in zip(in_sizes, window, strides, dilation):
        span = (k - 1) * d + 1
        if padding == "valid":
            out = (n - span) // s + 1
            pads.append((0, 0))
        else:
            out = -(-n // s)
            total = max((out - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        if out <= 0:
            raise ValueError(f"the window ({k}, dilation {d}) is larger than the input ({n})")
        outs.append(out)
    return outs, pads


def _windows(x, window, strides, dilation, outs):
    """The strided views of ``x`` (N, *spatial, C) for every window offset, in row-major
    order of the offsets."""
    views = []
    for offset in itertools.product(*[range(k) for k in window]):
        index = [slice(None)]
        for o, s, d, out in zip(offset, strides, dilation, outs):
            start = o * d
            index.append(slice(start, start + (out - 1) * s + 1, s))
        index.append(slice(None))
        views.append(x[tuple(index)])
    return views


def _channels_last(inputs, data_format):
    fmt = data_format or "channels_last"
    if fmt == "channels_first":
        nd = len(inputs.shape)
        return transpose(inputs, (0,) + tuple(range(2, nd)) + (1,)), True
    return inputs, False


def _back_to_first(y, was_first):
    if not was_first:
        return y
    nd = len(y.shape)
    return transpose(y, (0, nd - 1) + tuple(range(1, nd - 1)))


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (cross-correlation, as every framework): ``inputs`` (N, *spatial, C)
    (channels_last), ``kernel`` (*window, C, F) -> (N, *out, F)."""
    x, first = _channels_last(inputs, data_format)
    nd = len(x.shape) - 2
    window = tuple(kernel.shape[:nd])
    if x.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"ops.conv: the input has {x.shape[-1]} channels but the kernel of "
                         f"shape {tuple(kernel.shape)} expects {kernel.shape[-2]}")
    strides = _tuple(strides, nd, "strides")
    dilation = _tuple(dilation_rate, nd, "dilation_rate")
    outs, pads = _spatial_pads(x.shape[1:-1], window, strides, dilation, padding)
    if any(a or b for a, b in pads):
        x = pad(x, [(0, 0)] + pads + [(0, 0)])
    views = _windows(x, window, strides, dilation, outs)
    cols = concatenate(views, axis=-1) if len(views) > 1 else views[0]
    k = 1
    for w in window:
        k *= w
    y = matmul(cols, reshape(kernel, (k * kernel.shape[-2], kernel.shape[-1])))
    return _back_to_first(y, first)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution: ``kernel`` (*window, C, M) -> output channels C·M."""
    x, first = _channels_last(inputs, data_format)
    nd = len(x.shape) - 2
    window = tuple(kernel.shape[:nd])
    c, m = kernel.shape[-2], kernel.shape[-1]
    strides = _tuple(strides, nd, "strides")
    dilation = _tuple(dilation_rate, nd, "dilation_rate")
    outs, pads = _spatial_pads(x.shape[1:-1], window, strides, dilation, padding)
    if any(a or b for a, b in pads):
        x = pad(x, [(0, 0)] + pads + [(0, 0)])
    views = _windows(x, window, strides, dilation, outs)
    k = len(views)
    cols = stack(views, axis=-2)                            # (N, *out, K, C)
    kern = reshape(kernel, (k, c, m))
    y = einsum("...kc,kcm->...cm".replace("...", "".join("pqrs"[:nd + 1])), cols, kern)
    y = reshape(y, tuple(y.shape[:-2]) + (c * m,))
    return _back_to_first(y, first)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """A depthwise convolution followed by a 1x1 convolution."""
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format)


def _pool(inputs, pool_size, strides, padding, data_format, kind):
    x, first = _channels_last(inputs, data_format)
    nd = len(x.shape) - 2
    window = _tuple(pool_size, nd, "pool_size")
    strides = window if strides is None else _tuple(strides, nd, "strides")
    outs, pads = _spatial_pads(x.shape[1:-1], window, strides, (1,) * nd, padding)
    padded = any(a or b for a, b in pads)
    widths = [(0, 0)] + pads + [(0, 0)]
    if kind == "max":
        if padded:
            x = pad(x, widths, constant_values=-float("inf"))
        y = _max(stack(_windows(x, window, strides, (1,) * nd, outs), axis=-1), axis=-1)
    else:
        xs = pad(x, widths) if padded else x
        total = sum(stack(_windows(xs, window, strides, (1,) * nd, outs), axis=-1), axis=-1)
        if padded:
            # Keras (TF) averages over the window's entries inside the input only.
            v = value_of(x)
            xp = namespace_of(v)
            ones = xp.ones((1,) + tuple(v.shape[1:-1]) + (1,), dtype=v.dtype, device=_device(v))
            ones = _pad_plain(xp, ones, widths)
            count = xp.sum(xp.stack(_windows(ones, window, strides, (1,) * nd, outs), axis=-1), axis=-1)
            y = divide(total, count)
        else:
            k = 1
            for w in window:
                k *= w
            y = divide(total, float(k))
    return _back_to_first(y, first)


def _pad_plain(xp, a, widths):
    return _pad_impl(a, widths)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over windows of ``pool_size`` (strides default: the pool size)."""
    return _pool(inputs, pool_size, strides, padding, data_format, "max")


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling (with "same" padding, over the entries inside the input only)."""
    return _pool(inputs, pool_size, strides, padding, data_format, "avg")


# ----------------------------------------------------------------- attention
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """softmax(Q·Kᵀ·scale + bias, masked) · V for (B, T, N, H) query and (B, S, N, H)
    key/value; ``scale`` default 1/sqrt(H); ``mask`` (broadcastable to (B, N, T, S)) is
    True where attention is allowed."""
    h = query.shape[-1]
    s = (1.0 / h ** 0.5) if scale is None else scale
    logits = multiply(einsum("btnh,bsnh->bnts", query, key), s)
    if attn_logits_soft_cap is not None:
        logits = multiply(tanh(divide(logits, attn_logits_soft_cap)), attn_logits_soft_cap)
    if bias is not None:
        logits = logits + bias
    allowed = None
    if mask is not None:
        m = value_of(mask)
        xp = namespace_of(m)
        allowed = m if m.dtype == xp.bool else m != 0
    if is_causal:
        lv = value_of(logits)
        xp = namespace_of(lv)
        t, sk = lv.shape[-2], lv.shape[-1]
        causal = xp.astype(xp.tril(xp.ones((t, sk), device=_device(lv))), xp.bool)
        allowed = causal if allowed is None else (allowed & causal)
    if allowed is not None:
        big = -1e9 if "float16" not in str(value_of(logits).dtype) else -3e4
        logits = where(allowed, logits, big)
    weights = softmax(logits, axis=-1)
    return einsum("bnts,bsnh->btnh", weights, value)


# ----------------------------------------------------------------- more activations
# The array math is shared with portanet.activations (which imports these helpers).
def _glu_arrays(xp, x, axis=-1):
    n = x.shape[axis]
    if n % 2:
        raise ValueError(f"glu: axis size must be divisible by 2; got x.shape={tuple(x.shape)} "
                         f"with axis={axis}")
    a, b = _halves(xp, x, axis)
    return a * _sigmoid(xp, b)


def _halves(xp, x, axis):
    axis = axis % x.ndim
    h = x.shape[axis] // 2
    lo = [slice(None)] * x.ndim
    hi = [slice(None)] * x.ndim
    lo[axis], hi[axis] = slice(0, h), slice(h, None)
    return x[tuple(lo)], x[tuple(hi)]


def _glu_grad_arrays(xp, x, dy, axis=-1):
    a, b = _halves(xp, x, axis)
    s = _sigmoid(xp, b)
    return xp.concat([dy * s, dy * a * s * (1.0 - s)], axis=axis % x.ndim)


def _sparse_sigmoid_arrays(xp, x):
    return xp.where(x <= -1.0, xp.zeros_like(x), xp.where(x >= 1.0, xp.ones_like(x), 0.5 * (x + 1.0)))


def _sparse_sigmoid_grad_arrays(xp, x, dy):
    return dy * 0.5 * xp.astype((x > -1.0) & (x < 1.0), dy.dtype)


def _sparsemax_parts(xp, x, axis):
    """Keras 3.15.1's sparsemax (backend/{numpy,jax}/nn.py): the support size k, the
    threshold tau = (Σ_{j<=k} cumsum_j - 1)/k over the sorted entries, and each entry's rank.

    Note: Keras sums the cumulative sums over the support (not cumsum_k), so its outputs
    need not sum to 1 (sparsemax([1, .5, 0]) = [.25, 0, 0] in Keras); portanet matches
    Keras's numbers."""
    axis = axis % x.ndim
    srt = -xp.sort(-x, axis=axis)
    csum = xp.cumulative_sum(srt, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    r = xp.reshape(xp.arange(1, x.shape[axis] + 1, dtype=x.dtype, device=_device(x)), tuple(shape))
    support = (srt - (csum - 1.0) / r) > 0
    k = xp.sum(xp.astype(support, x.dtype), axis=axis, keepdims=True)
    tau = (xp.sum(xp.where(support, csum, xp.zeros_like(csum)), axis=axis, keepdims=True) - 1.0) / k
    return k, tau, axis


def _sparsemax_arrays(xp, x, axis=-1):
    _, tau, _ = _sparsemax_parts(xp, x, axis)
    return xp.maximum(x - tau, xp.zeros((), dtype=x.dtype))


def _sparsemax_grad_arrays(xp, x, dy, axis=-1):
    k, tau, axis = _sparsemax_parts(xp, x, axis)
    active = xp.astype(x - tau > 0, dy.dtype)
    # rank of each entry in the descending sort (0-based, ties by position, as a stable sort).
    order = xp.argsort(-x, axis=axis, stable=True)
    rank = xp.astype(xp.argsort(order, axis=axis, stable=True), x.dtype)
    # d tau / d x_i = (k - rank_i)/k for the k largest entries (Σ_{m<=k}(k-m+1)·sorted_m).
    w = xp.where(rank < k, (k - rank) / k, xp.zeros_like(rank))
    gd = dy * active
    return gd - w * xp.sum(gd, axis=axis, keepdims=True)


def _threshold_arrays(xp, x, threshold, default_value):
    return xp.where(x > threshold, x, xp.full_like(x, default_value))


def _threshold_grad_arrays(xp, x, dy, threshold):
    return dy * xp.astype(x > threshold, dy.dtype)


def _float_in(x):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, floatx_dtype(xp))
    return xp, x


_glu = primitive("glu", lambda x, axis=-1: _glu_arrays(*_float_in(x), axis=axis),
                 lambda g, o, x, axis=-1: (_glu_grad_arrays(*_float_in(x), g, axis=axis),))


def glu(x, axis=-1):
    """Gated linear unit: a·sigmoid(b) where ``x`` splits into halves a, b along ``axis``."""
    return _glu(x, axis=axis)


sparse_sigmoid = _unary("sparse_sigmoid", _sparse_sigmoid_arrays,
                        lambda xp, g, o, x: _sparse_sigmoid_grad_arrays(xp, x, g))
_sparsemax = primitive("sparsemax", lambda x, axis=-1: _sparsemax_arrays(*_float_in(x), axis=axis),
                       lambda g, o, x, axis=-1: (_sparsemax_grad_arrays(*_float_in(x), g, axis=axis),))


def sparsemax(x, axis=-1):
    """Sparsemax as Keras 3.15.1 computes it: max(x - tau, 0) along ``axis`` (see
    ``_sparsemax_parts`` for Keras's tau)."""
    return _sparsemax(x, axis=axis)


_threshold = primitive(
    "threshold",
    lambda x, threshold=0.0, default_value=0.0: _threshold_arrays(*_float_in(x), threshold, default_value),
    lambda g, o, x, threshold=0.0, default_value=0.0: (
        _threshold_grad_arrays(*_float_in(x), g, threshold),))


def threshold(x, threshold, default_value):
    """x where x > threshold, else ``default_value``."""
    return _threshold(x, threshold=threshold, default_value=default_value)


def _shrink_grad(g, o, x, threshold=0.5):
    xp, x = _float_in(x)
    return (g * xp.astype(xp.abs(x) > threshold, g.dtype),)


_soft_shrink = primitive("soft_shrink", lambda x, threshold=0.5: (lambda xp, v: xp.where(
    v > threshold, v - threshold, xp.where(v < -threshold, v + threshold, xp.zeros_like(v))))(*_float_in(x)),
    _shrink_grad)
_hard_shrink = primitive("hard_shrink", lambda x, threshold=0.5: (lambda xp, v: xp.where(
    xp.abs(v) > threshold, v, xp.zeros_like(v)))(*_float_in(x)), _shrink_grad)


def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, else 0."""
    return _soft_shrink(x, threshold=threshold)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    return _hard_shrink(x, threshold=threshold)


tanh_shrink = _unary("tanh_shrink", lambda xp, x: x - xp.tanh(x),
                     lambda xp, g, o, x: g * xp.tanh(x) * xp.tanh(x))
hard_tanh = _unary("hard_tanh", lambda xp, x: xp.clip(x, -1.0, 1.0),
                   lambda xp, g, o, x: g * xp.astype((x > -1.0) & (x < 1.0), g.dtype))
sparse_plus = _unary("sparse_plus", lambda xp, x: xp.where(
    x <= -1.0, xp.zeros_like(x), xp.where(x < 1.0, 0.25 * (x + 1.0) * (x + 1.0), x)),
    lambda xp, g, o, x: g * xp.where(x <= -1.0, xp.zeros_like(x),
                                     xp.where(x < 1.0, 0.5 * (x + 1.0), xp.ones_like(x))))
_squareplus = primitive(
    "squareplus", lambda x, b=4: (lambda xp, v: (v + xp.sqrt(v * v + b)) / 2.0)(*_float_in(x)),
    lambda g, o, x, b=4: (lambda xp, v: (g * 0.5 * (1.0 + v / xp.sqrt(v * v + b)),))(*_float_in(x)))


def squareplus(x, b=4):
    """(x + sqrt(x² + b)) / 2."""
    return _squareplus(x, b=b)


# ----------------------------------------------------------------- CTC
_CTC_NEG = -1e30


def _lae(xp, a, b):
    m = xp.maximum(a, b)
    return m + xp.log(xp.exp(a - m) + xp.exp(b - m))


def _ctc_parts(target, output, target_length, output_length, mask_index):
    """Forward-backward in log space over the extended label sequence (blanks between and
    around the labels): log-probabilities, the emission one-hots, log alpha, log beta and
    log P(labels | output) per sequence."""
    xp = namespace_of(output)
    output = as_array(xp, output)
    if not xp.isdtype(output.dtype, "real floating") or output.dtype == getattr(xp, "float16", None):
        output = xp.astype(output, xp.float32)
    dev = _device(output)
    target = as_array(xp, target, like=output)
    target = xp.astype(target, xp.int64)
    tl = xp.astype(as_array(xp, target_length, like=output), xp.int64)
    ol = xp.astype(as_array(xp, output_length, like=output), xp.int64)
    bsz, tmax, ncls = output.shape
    lmax = target.shape[1]
    smax = 2 * lmax + 1
    shifted = output - xp.max(output, axis=-1, keepdims=True)
    logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
    # Extended labels: blank, l1, blank, l2, ..., blank (labels past target_length are blanks).
    lpos = xp.arange(lmax, device=dev)
    lab = xp.where(lpos < tl[:, None], target, xp.full_like(target, mask_index))
    blanks = xp.full_like(lab, mask_index)
    ext = xp.reshape(xp.stack([blanks, lab], axis=2), (bsz, 2 * lmax))
    ext = xp.concat([ext, xp.full((bsz, 1), mask_index, dtype=ext.dtype, device=dev)], axis=1)
    classes = xp.arange(ncls, dtype=ext.dtype, device=dev)
    onehot = xp.astype(ext[:, :, None] == classes, output.dtype)            # (B, S, C)
    lp_ext = xp.matmul(logp, xp.matrix_transpose(onehot))                    # (B, T, S)
    spos = xp.arange(smax, device=dev)
    slen = 2 * tl + 1
    valid_s = spos[None, :] < slen[:, None]
    prev2 = xp.concat([xp.full((bsz, 2), -1, dtype=ext.dtype, device=dev), ext], axis=1)[:, :smax]
    skip = (ext != mask_index) & (ext != prev2) & (spos[None, :] >= 2)
    neg = xp.full((bsz, smax), _CTC_NEG, dtype=output.dtype, device=dev)
    one_col = xp.full((bsz, 1), _CTC_NEG, dtype=output.dtype, device=dev)
    two_col = xp.full((bsz, 2), _CTC_NEG, dtype=output.dtype, device=dev)

    def right(a, n):   # a shifted right by n along s (entries s-n)
        return xp.concat([one_col if n == 1 else two_col, a], axis=1)[:, :smax]

    def left(a, n):    # a shifted left by n (entries s+n)
        return xp.concat([a, one_col if n == 1 else two_col], axis=1)[:, n:n + smax]

    alphas = []
    start = valid_s & (spos[None, :] < 2)
    alpha = xp.where(start, lp_ext[:, 0, :], neg)
    alphas.append(alpha)
    for t in range(1, tmax):
        acc = _lae(xp, alpha, right(alpha, 1))
        acc = xp.where(skip, _lae(xp, acc, right(alpha, 2)), acc)
        new = xp.where(valid_s, lp_ext[:, t, :] + acc, neg)
        alpha = xp.where((t < ol)[:, None], new, alpha)
        alphas.append(alpha)
    last = xp.reshape(slen - 1, (bsz, 1))
    end = (spos[None, :] == last) | ((spos[None, :] == last - 1) & (last >= 1))
    final = xp.where(end, alpha, neg)
    fm = xp.max(final, axis=1, keepdims=True)
    log_p = xp.reshape(fm, (bsz,)) + xp.log(xp.sum(xp.exp(final - fm), axis=1))
    return xp, logp, onehot, lp_ext, alphas, valid_s, skip, end, ol, log_p, neg, left


def _ctc_loss_impl(target, output, target_length, output_length, mask_index=0):
    return -_ctc_parts(target, output, target_length, output_length, mask_index)[9]


def _ctc_loss_vjp(g, out, target, output, target_length, output_length, mask_index=0):
    xp, logp, onehot, lp_ext, alphas, valid_s, skip, end, ol, log_p, neg, left = _ctc_parts(
        target, output, target_length, output_length, mask_index)
    bsz, tmax, _ = logp.shape
    beta = neg
    grads = [None] * tmax
    soft = xp.exp(logp)
    for t in range(tmax - 1, -1, -1):
        acc = _lae(xp, beta, left(beta, 1))
        skip_next = left(xp.astype(skip, logp.dtype), 2) > 0
        acc = xp.where(skip_next, _lae(xp, acc, left(beta, 2)), acc)
        rec = xp.where(valid_s, lp_ext[:, t, :] + acc, neg)
        init = xp.where(end & valid_s, lp_ext[:, t, :], neg)
        beta = xp.where((t == ol - 1)[:, None], init, xp.where((t < ol - 1)[:, None], rec, neg))
        # Occupancy of each extended position at t: alpha·beta / y (both include y_t).
        occ = xp.exp(alphas[t] + beta - lp_ext[:, t, :] - log_p[:, None])
        occ = xp.where(valid_s & (t < ol)[:, None], occ, xp.zeros_like(occ))
        per_class = xp.matmul(occ[:, None, :], onehot)[:, 0, :]              # (B, C)
        active = xp.astype((t < ol)[:, None], logp.dtype)
        grads[t] = (soft[:, t, :] - per_class) * active
    d = xp.stack(grads, axis=1) * xp.reshape(g, (bsz, 1, 1))
    return (None, xp.astype(d, as_array(xp, output).dtype), None, None)


_ctc_loss = primitive("ctc_loss", _ctc_loss_impl, _ctc_loss_vjp)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """CTC loss per sequence, -log P(target | output), as keras.ops.ctc_loss.

    Args:
        target: (batch, max_label_length) integer labels.
        output: (batch, max_length, num_classes) logits (log-softmax is applied here).
        target_length, output_length: (batch,) integer lengths.
        mask_index: the blank class (0).

    The forward (alpha) and backward (beta) recursions run in log space over the extended
    label sequence; the gradient w.r.t. the logits is softmax - the posterior occupancy of
    each class (zero past ``output_length``). An impossible alignment gives a loss of about
    1e30 where Keras's log-epsilon recursion gives about 1e5.
    """
    return _ctc_loss(target, output, target_length, output_length, mask_index=mask_index)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Decode CTC outputs as keras.ops.ctc_decode: greedy or beam search (on the host; the
    algorithm is data-dependent and not differentiable).

    Returns ``(decoded, scores)``: decoded (top_paths, batch, max_length) int32 class ids
    padded with -1 (greedy: top_paths = 1), scores (batch, top_paths) (greedy: the negative
    sum of the per-step maxima of ``inputs``; beam search: log-probabilities).
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(f"ctc_decode: strategy={strategy!r}; expected 'greedy' or 'beam_search'")
    v = value_of(inputs)
    xp = namespace_of(v)
    dev = _device(v)
    host_in = _to_host(as_array(xp, v))
    host_len = _to_host(as_array(xp, value_of(sequence_lengths), like=v))
    if strategy == "greedy":
        paths, scores = _ctc_host.greedy_decode(host_in, host_len, merge_repeated=merge_repeated,
                                               mask_index=mask_index)
    else:
        paths, scores = _ctc_host.beam_search_decode(host_in, host_len, beam_width=beam_width,
                                                    top_paths=top_paths, mask_index=mask_index)
    return (xp.asarray(paths, device=dev), xp.asarray(scores, device=dev))


__all__ = public_names(globals())


# ----------------------------------------------------------------- adaptive pooling
def _adaptive_bins(length, out):
    """Keras 3.15's (and PyTorch's) bins: bin i covers [floor(i·L/O), ceil((i+1)·L/O))."""
    return [((i * length) // out, -((-(i + 1) * length) // out)) for i in range(out)]


def _adaptive_sizes(output_size, nd):
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        sizes = (output_size,) * nd
    else:
        try:
            sizes = tuple(int(s) for s in output_size)
        except TypeError:
            raise ValueError(f"output_size={output_size!r}; expected an int or {nd} ints") from None
    if len(sizes) != nd or any(s <= 0 for s in sizes):
        raise ValueError(f"output_size={output_size!r}; expected an int or {nd} positive ints "
                         f"for an input with {nd} spatial axes")
    return sizes


def _adaptive_pool(inputs, output_size, data_format, kind):
    nd = len(inputs.shape) - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"adaptive_{kind}_pool: inputs of shape {tuple(inputs.shape)}; expected "
                         "rank 3, 4 or 5 (batch, spatial..., channels)")
    fmt = data_format or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format={data_format!r}; expected 'channels_last' or "
                         "'channels_first'")
    sizes = _adaptive_sizes(output_size, nd)
    x, first = _channels_last(inputs, fmt)
    for axis, out in zip(range(1, nd + 1), sizes):
        length = x.shape[axis]
        bins = _adaptive_bins(length, out)
        if kind == "average":
            # A (L, O) averaging matrix: one contraction per axis, exact means.
            v = value_of(x)
            xp = namespace_of(v)
            rows = [[(1.0 / (b - a)) if a <= j < b else 0.0 for (a, b) in bins]
                    for j in range(length)]
            mat = xp.asarray(rows, dtype=v.dtype, device=_device(v))
            moved = transpose(x, tuple(a for a in range(nd + 2) if a != axis) + (axis,))
            pooled = matmul(moved, mat)
            order = list(range(nd + 1))
            order.insert(axis, nd + 1)
            x = transpose(pooled, tuple(order))
        else:
            parts = []
            for a, b in bins:
                index = tuple([slice(None)] * axis + [slice(a, b), Ellipsis])
                parts.append(_max(x[index], axis=axis))
            x = stack(parts, axis=axis)
    return _back_to_first(x, first)


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Adaptive average pooling (Keras 3.15's ``ops.adaptive_average_pool``): each output
    position i of a spatial axis of length L averages the input over
    ``[floor(i·L/O), ceil((i+1)·L/O))``, O = ``output_size`` (an int or one per axis).
    Inputs of rank 3, 4 or 5; ``data_format`` default "channels_last"."""
    return _adaptive_pool(inputs, output_size, data_format, "average")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Adaptive max pooling over the same bins as ``adaptive_average_pool``."""
    return _adaptive_pool(inputs, output_size, data_format, "max")


__all__ = public_names(globals())
