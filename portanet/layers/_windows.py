"""Sliding windows for convolution and pooling, written with the Array API standard only.

``extract_windows`` is im2col: it stacks one strided slice per kernel offset,
``x[:, i*d : i*d + s*(out-1) + 1 : s, ..., :]``, so the windows of a channels_last array
come out as ``(N, *out, K, C)`` with K = prod(kernel) in row-major kernel order, ready
for one matmul against a Keras kernel reshaped to ``(K*C, filters)``.
``add_windows`` is its adjoint (col2im): each offset's slice is added back into a
zero array with slice assignment, which the standard allows (only integer-array
assignment is left undefined).

A backend may offer faster primitives through ``backend.fused``: "conv_windows" (im2col
through one strided view) and "slice_add" (an in-place add into a slice); NumPy does (and
"conv_stride1" and "pool_first_max", used by conv.py and pooling.py).
``fast_windows(False)``, ``backend.fused_disabled()`` or ``PORTANET_FUSED=none`` force the
portable path, which the tests compare against.

Every helper works on channels_last arrays; layers with ``data_format="channels_first"``
move the channel axis around these calls.
"""

import contextlib
import itertools
import operator

from ..validation import check_one_of

_DATA_FORMATS = ("channels_last", "channels_first")
_use_fast = True
# A backend's im2col-free "conv_stride1" runs one gemm per kernel offset with an inner
# dimension of C (input channels): with few channels im2col's single gemm (inner K*C) wins.
# NumPy, 64x26x26xC, 3x3 to 32 filters, forward + backward, one thread: C=8 12.4 vs
# 10.5 ms, C=16 17.3 vs 17.2, C=32 31.3 vs 35.9.
FLAT_MIN_CHANNELS = 32
# With the bias and relu inside it (Conv with use_bias and relu), the stride-1 path wins from
# fewer channels: 64x28x28xC, 3x3 to 32 filters, one thread, forward + backward with the input
# gradient: C=3 10.3 vs 12.2 ms, C=8 13.4 vs 14.2, C=16 18.7 vs 24.8; C=1 7.9 vs 7.1. Without
# the input gradient (the layer reading the model's input) it wins from C=1: 4.0 vs 4.5.
EPILOGUE_MIN_CHANNELS = 3


@contextlib.contextmanager
def fast_windows(enabled):
    """Context manager: ``with fast_windows(False):`` runs every window op on the portable
    path (the tests compare both paths)."""
    global _use_fast
    previous = _use_fast
    _use_fast = bool(enabled)
    try:
        yield
    finally:
        _use_fast = previous


# --------------------------------------------------------------------------- arguments
def normalize_tuple(value, n, name, owner, minimum=1):
    """An int or a sequence of ``n`` ints (each >= minimum) as a tuple of ``n`` ints."""
    expected = f"an int or a tuple of {n} ints, each >= {minimum}"
    if isinstance(value, bool):
        raise TypeError(f"{owner}: {name}={value!r}; expected {expected}")
    try:
        items = (operator.index(value),) * n
    except TypeError:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{owner}: {name}={value!r}; expected {expected}") from None
        try:
            items = tuple(operator.index(v) for v in items if not isinstance(v, bool))
        except TypeError:
            raise TypeError(f"{owner}: {name}={value!r}; expected {expected}") from None
    if len(items) != n or any(v < minimum for v in items):
        raise ValueError(f"{owner}: {name}={value!r}; expected {expected}")
    return items


def normalize_padding(value, owner, allowed=("valid", "same")):
    if not isinstance(value, str) or value.lower() not in allowed:
        check_one_of(value, "padding", owner, allowed)  # raises: case-insensitive miss
    return value.lower()


def normalize_data_format(value, owner):
    if value is None:
        return "channels_last"
    if not isinstance(value, str) or value.lower() not in _DATA_FORMATS:
        raise ValueError(f"{owner}: data_format={value!r}; expected one of {_DATA_FORMATS} (or None)")
    return value.lower()


# --------------------------------------------------------------------------- geometry
def output_length(n, k, padding, stride, dilation=1):
    """Keras's conv/pool output length ('valid', 'same' and 'causal'); None stays None."""
    if n is None:
        return None
    effective = (k - 1) * dilation + 1
    if padding == "valid":
        return (n - effective) // stride + 1 if n >= effective else 0
    return -(-n // stride)  # 'same' and 'causal': ceil(n / stride)


def padding_amounts(n, k, padding, stride, dilation=1):
    """(before, after) zero padding of one spatial axis.

    'same' pads ``max((out-1)*s + (k-1)*d + 1 - n, 0)`` in total with the extra element at
    the end (bottom/right), as Keras/TF; 'causal' pads ``(k-1)*d`` at the start only.
    """
    effective = (k - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (effective - 1, 0)
    out = -(-n // stride)
    total = max((out - 1) * stride + effective - n, 0)
    return (total // 2, total - total // 2)


def transpose_output_length(n, k, padding, stride, dilation=1, output_padding=None):
    """Keras's ``deconv_output_length``: the output length of a transposed convolution."""
    if n is None:
        return None
    effective = (k - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return n * stride + max(effective - stride, 0)
        return n * stride
    pad = effective // 2 if padding == "same" else 0
    return (n - 1) * stride + effective - 2 * pad + output_padding


def transpose_geometry(n, k, padding, stride, dilation, length):
    """(before, padded_length) of the buffer a transposed convolution scatters into.

    A transposed convolution is the adjoint of the convolution that maps ``length`` back to
    ``n``: its windows are added into a buffer padded by that convolution's 'same' rule, which
    is then cropped to ``[before, before + length)``.
    """
    effective = (k - 1) * dilation + 1
    before = 0
    if padding == "same":
        before = max((n - 1) * stride + effective - length, 0) // 2
    padded = max((n - 1) * stride + effective, before + length)
    return before, padded


# --------------------------------------------------------------------------- padding
def interior(pads, spatial):
    """The index of the unpadded region inside a padded channels_last array."""
    return ((slice(None),) + tuple(slice(a, a + n) for (a, _), n in zip(pads, spatial))
            + (slice(None),))


def pad(backend, x, pads, value=0.0):
    """Pad the spatial axes of a channels_last array with a constant ((before, after) per axis)."""
    if all(a == 0 and b == 0 for a, b in pads):
        return x
    xp = backend.xp
    spatial = tuple(x.shape[1:-1])
    shape = ((x.shape[0],) + tuple(n + a + b for n, (a, b) in zip(spatial, pads))
             + (x.shape[-1],))
    out = xp.full(shape, value, dtype=x.dtype, device=backend.device)
    out[interior(pads, spatial)] = x
    return out


def crop(x, pads):
    """Inverse of ``pad``: drop (before, after) elements of each spatial axis."""
    if all(a == 0 and b == 0 for a, b in pads):
        return x
    spatial = tuple(x.shape[1:-1])
    return x[interior(pads, tuple(n - a - b for n, (a, b) in zip(spatial, pads)))]


# --------------------------------------------------------------------------- windows
def window_index(offset, strides, dilation, out):
    """The slice picking kernel offset ``offset`` of every window (channels_last)."""
    return ((slice(None),)
            + tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                    for o, s, d, n in zip(offset, strides, dilation, out))
            + (slice(None),))


def window_offsets(kernel):
    return list(itertools.product(*(range(k) for k in kernel)))


def window_slices(x, kernel, strides, dilation, out):
    """One strided view (N, *out, C) per kernel offset, in row-major kernel order."""
    return [x[window_index(o, strides, dilation, out)] for o in window_offsets(kernel)]


def extract_windows(backend, x, kernel, strides, dilation, out, fast=None):
    """im2col: the windows of a (padded) channels_last array as ``(N, *out, K, C)``."""
    fast = _use_fast if fast is None else fast
    fast_fn = backend.fused("conv_windows") if fast else None
    if fast_fn is not None:
        return fast_fn(x, kernel, strides, dilation, out)
    return backend.xp.stack(window_slices(x, kernel, strides, dilation, out), axis=-2)


def add_into(backend, dst, index, value):
    """``dst[index] += value`` for a slice index; returns dst. Portable: slice assignment;
    a backend's ``slice_add`` may add in place instead (NumPy: no temporary)."""
    fast_fn = backend.fused("slice_add") if _use_fast else None
    if fast_fn is not None:
        return fast_fn(dst, index, value)
    dst[index] = dst[index] + value
    return dst


def add_windows(backend, cols, shape, kernel, strides, dilation, out):
    """col2im, the adjoint of ``extract_windows``: window values ``(N, *out, K, C)`` added
    back into a zero array of ``shape`` (overlapping windows accumulate)."""
    dx = backend.xp.zeros(shape, dtype=cols.dtype, device=backend.device)
    for k, offset in enumerate(window_offsets(kernel)):
        dx = add_into(backend, dx, window_index(offset, strides, dilation, out), cols[..., k, :])
    return dx


def add_window_products(backend, a, weights, shape, kernel, strides, dilation, out):
    """col2im of ``a @ weights[k]`` without building the columns: for each kernel offset k,
    ``a (P, F) @ weights[k] (F, C)`` shaped (N, *out, C) is added into zeros of ``shape``.

    Equal to ``add_windows(reshape(a @ concat(weights), (N, *out, K, C)))`` but never holds
    the K-times-larger column array, which makes the input gradient of a convolution about
    twice as fast (the columns do not fit in cache).
    """
    xp = backend.xp
    dx = xp.zeros(shape, dtype=a.dtype, device=backend.device)
    window_shape = (shape[0],) + tuple(out) + (shape[-1],)
    for k, offset in enumerate(window_offsets(kernel)):
        dx = add_into(backend, dx, window_index(offset, strides, dilation, out),
                      xp.reshape(a @ weights[k], window_shape))
    return dx


def tall_gram(xp, a, b, chunk=16384):
    """``a.T @ b`` for tall ``a`` (P, F) and ``b`` (P, C): the kernel gradient of a conv.

    With P in the hundreds of thousands (large batches) and F·C small, one GEMM has almost
    no output to parallelize over and cuBLAS runs it on a handful of SMs (measured: 16.7 ms
    for the bench CNN's conv backward at batch 1024 on an H200, against 1.8 ms forward). Cut
    the reduction into chunks of ``chunk`` rows, one batched matmul over them, then a sum:
    the same numbers up to summation order. Below 4 chunks it is one plain matmul.
    """
    rows = a.shape[0]
    n = rows // chunk
    if n < 4:
        return xp.matrix_transpose(a) @ b
    head = n * chunk
    a3 = xp.reshape(a[:head, ...], (n, chunk, a.shape[1]))
    b3 = xp.reshape(b[:head, ...], (n, chunk, b.shape[1]))
    out = xp.sum(xp.matrix_transpose(a3) @ b3, axis=0)
    if head < rows:
        out = out + xp.matrix_transpose(a[head:, ...]) @ b[head:, ...]
    return out


# --------------------------------------------------------------------------- layouts
def to_channels_last(xp, x):
    nd = x.ndim
    return xp.permute_dims(x, (0,) + tuple(range(2, nd)) + (1,))


def to_channels_first(xp, x):
    nd = x.ndim
    return xp.permute_dims(x, (0, nd - 1) + tuple(range(1, nd - 1)))


def spatial_shape(shape, data_format):
    """The spatial part of a full (batch-included) shape."""
    shape = tuple(shape)
    return shape[2:] if data_format == "channels_first" else shape[1:-1]


def channels_of(shape, data_format):
    return shape[1] if data_format == "channels_first" else shape[-1]


def assemble_shape(batch, spatial, channels, data_format):
    if data_format == "channels_first":
        return (batch, channels) + tuple(spatial)
    return (batch,) + tuple(spatial) + (channels,)


def check_rank(owner, input_shape, rank):
    if len(input_shape) != rank:
        raise ValueError(f"{owner}: expected input of rank {rank} (batch axis included); "
                         f"got shape {tuple(input_shape)}")
