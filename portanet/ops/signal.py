"""keras.ops's Fourier transforms, framing and segment reductions (keras/src/ops/math.py).

As in Keras, complex values travel as a ``(real, imaginary)`` pair of real tensors: ``fft``,
``fft2``, ``ifft2`` and ``irfft`` take such a pair, ``fft``, ``fft2``, ``ifft2``, ``rfft`` and
``stft`` return one. The transforms use the Array API ``fft`` extension and carry their own
vector-Jacobian products (each is linear), so ``stft``/``istft``, written with them, are
differentiable too.
"""

import math as _pymath

import array_api_compat

from ._dispatch import public_names, as_array, floatx_dtype, multi_primitive
from . import array as _a
from . import math as _m
from .tape import namespace_of, value_of


def _pair_in(name, x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"ops.{name}: x={type(x).__name__}; expected a tuple (real, imaginary) of two tensors")
    real, imag = x
    rs, is_ = tuple(value_of(real).shape), tuple(value_of(imag).shape)
    if rs != is_:
        raise ValueError(f"ops.{name}: real part has shape {rs} and imaginary part {is_}; expected equal shapes")
    return real, imag


def _complex(xp, r, i):
    r = _float(xp, r)
    i = xp.astype(i, r.dtype)
    cdtype = xp.complex128 if r.dtype == xp.float64 else xp.complex64
    return xp.astype(r, cdtype) + 1j * xp.astype(i, cdtype)


def _float(xp, x):
    if not xp.isdtype(x.dtype, "real floating"):
        return xp.astype(x, floatx_dtype(xp))
    return x


def _split(xp, z):
    return xp.real(z), xp.imag(z)


# ----------------------------------------------------------------- complex transforms
def _fft_kind(name, axes, inverse):
    def impl(real, imag):
        xp = namespace_of(real, imag)
        real, imag = as_array(xp, real), as_array(xp, imag)
        z = _complex(xp, real, imag)
        fn = xp.fft.ifftn if inverse else xp.fft.fftn
        return _split(xp, fn(z, axes=axes))

    def vjp(gs, outs, real, imag):
        xp = namespace_of(outs[0])
        gr = gs[0] if gs[0] is not None else xp.zeros_like(outs[0])
        gi = gs[1] if gs[1] is not None else xp.zeros_like(outs[1])
        g = _complex(xp, gr, gi)
        n = 1
        for ax in axes:
            n *= g.shape[ax]
        # The adjoint of the unnormalized DFT is n * inverse DFT, and of the inverse DFT
        # is DFT / n.
        back = xp.fft.fftn(g, axes=axes) / n if inverse else xp.fft.ifftn(g, axes=axes) * n
        return xp.real(back), xp.imag(back)

    return multi_primitive(name, impl, vjp)


_fft = _fft_kind("fft", (-1,), False)
_fft2 = _fft_kind("fft2", (-2, -1), False)
_ifft2 = _fft_kind("ifft2", (-2, -1), True)


def fft(x):
    """The discrete Fourier transform over the last axis of ``(real, imag)``; returns ``(real, imag)``."""
    return _fft(*_pair_in("fft", x))


def fft2(x):
    """The 2-D discrete Fourier transform over the last two axes; returns ``(real, imag)``."""
    return _fft2(*_pair_in("fft2", x))


def ifft2(x):
    """The 2-D inverse discrete Fourier transform over the last two axes; returns ``(real, imag)``."""
    return _ifft2(*_pair_in("ifft2", x))


# ----------------------------------------------------------------- real transforms
def _rfft_impl(x, fft_length=None):
    xp = namespace_of(x)
    x = _float(xp, as_array(xp, x))
    n = x.shape[-1] if fft_length is None else int(fft_length)
    return _split(xp, xp.fft.rfft(x, n=n, axis=-1))


def _rfft_vjp(gs, outs, x, fft_length=None):
    xp = namespace_of(outs[0])
    n_in = x.shape[-1]
    n = n_in if fft_length is None else int(fft_length)
    gr = gs[0] if gs[0] is not None else xp.zeros_like(outs[0])
    gi = gs[1] if gs[1] is not None else xp.zeros_like(outs[1])
    g = _complex(xp, gr, gi)
    m = g.shape[-1]
    pad = xp.zeros(g.shape[:-1] + (n - m,), dtype=g.dtype, device=array_api_compat.device(g))
    full = xp.concat([g, pad], axis=-1)
    dx = xp.real(xp.fft.ifft(full, axis=-1)) * n
    # rfft crops or zero-pads the input to n samples.
    if n_in <= n:
        dx = dx[..., :n_in]
    else:
        zeros = xp.zeros(dx.shape[:-1] + (n_in - n,), dtype=dx.dtype, device=array_api_compat.device(dx))
        dx = xp.concat([dx, zeros], axis=-1)
    return (dx,)


_rfft = multi_primitive("rfft", _rfft_impl, _rfft_vjp)


def rfft(x, fft_length=None):
    """The DFT of a real signal over its last axis (``fft_length`` samples, cropped or
    zero-padded); the ``fft_length // 2 + 1`` non-negative frequencies as ``(real, imag)``."""
    return _rfft(x, fft_length=fft_length)


def _irfft_impl(real, imag, fft_length=None):
    xp = namespace_of(real, imag)
    real, imag = as_array(xp, real), as_array(xp, imag)
    z = _complex(xp, real, imag)
    n = 2 * (z.shape[-1] - 1) if fft_length is None else int(fft_length)
    return (xp.fft.irfft(z, n=n, axis=-1),)


def _irfft_vjp(gs, outs, real, imag, fft_length=None):
    g = gs[0]
    xp = namespace_of(g)
    n = g.shape[-1]
    m_in = real.shape[-1]
    m = n // 2 + 1
    G = xp.fft.rfft(g, axis=-1)
    dev = array_api_compat.device(G)
    k = xp.arange(m, device=dev)
    c = xp.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), xp.ones((m,), dtype=g.dtype, device=dev),
                 xp.full((m,), 2.0, dtype=g.dtype, device=dev)) / n
    dr = xp.real(G) * c
    di = xp.imag(G) * c
    if m_in <= m:
        dr, di = dr[..., :m_in], di[..., :m_in]
    else:
        zeros = xp.zeros(dr.shape[:-1] + (m_in - m,), dtype=dr.dtype, device=dev)
        dr, di = xp.concat([dr, zeros], axis=-1), xp.concat([di, zeros], axis=-1)
    return dr, di


_irfft = multi_primitive("irfft", _irfft_impl, _irfft_vjp)


def irfft(x, fft_length=None):
    """The inverse of ``rfft``: a real signal of ``fft_length`` samples (default
    ``2 * (n - 1)``) from ``(real, imag)`` non-negative frequencies."""
    return _irfft(*_pair_in("irfft", x), fft_length=fft_length)[0]


# ----------------------------------------------------------------- framing, STFT
def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of ``sequence_length`` samples every ``sequence_stride`` along the last axis:
    shape ``(..., num_sequences, sequence_length)``."""
    n = value_of(x).shape[-1]
    if sequence_length > n:
        raise ValueError(f"ops.extract_sequences: sequence_length={sequence_length} is longer than the "
                         f"last axis ({n})")
    count = (n - sequence_length) // sequence_stride + 1
    xp = namespace_of(value_of(x))
    dev = array_api_compat.device(value_of(x))
    idx = xp.reshape(xp.arange(count, device=dev) * sequence_stride, (-1, 1)) + \
        xp.reshape(xp.arange(sequence_length, device=dev), (1, -1))
    flat = _a.take(x, xp.reshape(idx, (-1,)), axis=-1)
    shape = tuple(value_of(x).shape[:-1]) + (count, sequence_length)
    return _a.reshape(flat, shape)


def _window_values(xp, window, sequence_length, dtype, name):
    if window is None:
        return None
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"ops.{name}: window={window!r}; expected 'hann', 'hamming', a tensor or None")
        k = xp.astype(xp.arange(sequence_length), dtype)
        a = 0.5 if window == "hann" else 0.54
        # scipy.signal.get_window's periodic windows (as Keras).
        return a - (1.0 - a) * xp.cos(2.0 * _pymath.pi * k / sequence_length)
    w = as_array(xp, value_of(window), dtype=dtype)
    if w.ndim != 1 or w.shape[0] != sequence_length:
        raise ValueError(f"ops.{name}: window has shape {tuple(w.shape)}; expected ({sequence_length},)")
    return w


def _padded_window(xp, win, sequence_length, fft_length, dtype):
    l_pad = (fft_length - sequence_length) // 2
    r_pad = fft_length - sequence_length - l_pad
    if win is None:
        return xp.ones((fft_length,), dtype=dtype)
    return xp.concat([xp.zeros((l_pad,), dtype=dtype), win, xp.zeros((r_pad,), dtype=dtype)])


def _reflect_pad_last(x, p):
    if p == 0:
        return x
    n = value_of(x).shape[-1]
    if p >= n:
        raise ValueError(f"ops.stft: center=True pads by fft_length // 2 = {p} by reflection, which needs "
                         f"more than {p} samples; the signal has {n}")
    xp = namespace_of(value_of(x))
    dev = array_api_compat.device(value_of(x))
    left = _a.take(x, xp.arange(p, 0, -1, device=dev), axis=-1)
    right = _a.take(x, xp.arange(n - 2, n - 2 - p, -1, device=dev), axis=-1)
    return _a.concatenate([left, x, right], axis=-1)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform over the last axis, as Keras: frames of
    ``sequence_length`` every ``sequence_stride`` (reflect-padded by ``fft_length // 2`` with
    ``center``), windowed, zero-padded to ``fft_length``; returns ``(real, imag)`` of shape
    ``(..., num_sequences, fft_length // 2 + 1)``."""
    xv = value_of(x)
    xp = namespace_of(xv)
    if not xp.isdtype(xv.dtype, "real floating"):
        raise TypeError(f"ops.stft: x has dtype {xv.dtype}; expected float32 or float64")
    if fft_length < sequence_length:
        raise ValueError(f"ops.stft: fft_length={fft_length} < sequence_length={sequence_length}; "
                         "fft_length must be at least sequence_length")
    win = _padded_window(xp, _window_values(xp, window, sequence_length, xv.dtype, "stft"),
                         sequence_length, fft_length, xv.dtype)
    if center:
        x = _reflect_pad_last(x, fft_length // 2)
    frames = extract_sequences(x, fft_length, sequence_stride)
    return rfft(_m.multiply(frames, win), fft_length=fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The inverse of ``stft`` (windowed overlap-add, as Keras)."""
    real, imag = _pair_in("istft", x)
    rv = value_of(real)
    xp = namespace_of(rv)
    dtype = _float(xp, rv).dtype
    given = _window_values(xp, window, sequence_length, dtype, "istft")
    win = _padded_window(xp, given, sequence_length, fft_length, dtype)
    frames = irfft((real, imag), fft_length=fft_length)      # (..., T, fft_length)
    frames = _m.multiply(frames, win)
    count = rv.shape[-2]
    out_len = fft_length + sequence_stride * (count - 1)
    # Overlap-add as one scatter: frame t, sample j lands at t * stride + j.
    dev = array_api_compat.device(rv)
    pos = xp.reshape(xp.reshape(xp.arange(count, device=dev) * sequence_stride, (-1, 1))
                     + xp.reshape(xp.arange(fft_length, device=dev), (1, -1)), (-1,))
    onehot = xp.astype(xp.reshape(pos, (-1, 1)) == xp.reshape(xp.arange(out_len, device=dev), (1, -1)), dtype)
    lead = tuple(rv.shape[:-2])
    flat = _a.reshape(frames, lead + (count * fft_length,))
    from .linalg import matmul
    signal = matmul(flat, onehot)
    norm = xp.reshape(xp.reshape(win * win, (1, -1)) * xp.ones((count, 1), dtype=dtype), (-1,)) @ onehot
    scale = 1.0 if given is not None else fft_length / sequence_stride
    signal = _m.divide(_m.multiply(signal, scale), xp.where(norm > 1e-10, norm, xp.ones_like(norm)))
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = out_len - fft_length // 2
    else:
        end = out_len
    return signal[..., start:end]


# ----------------------------------------------------------------- segment reductions
def _segments(name, data, segment_ids, num_segments):
    xp = namespace_of(value_of(data))
    ids = as_array(xp, value_of(segment_ids))
    if ids.ndim != 1 or ids.shape[0] != value_of(data).shape[0]:
        raise ValueError(f"ops.{name}: segment_ids has shape {tuple(ids.shape)}; expected "
                         f"({value_of(data).shape[0]},), one id per row of data")
    if num_segments is None:
        num_segments = int(xp.max(ids)) + 1 if ids.shape[0] else 0
    member = xp.reshape(ids, (1, -1)) == xp.reshape(xp.arange(num_segments, device=array_api_compat.device(ids)),
                                                     (-1, 1))
    return xp, member, num_segments


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sum of the rows of ``data`` in each segment (rows with id >= num_segments dropped)."""
    xp, member, n = _segments("segment_sum", data, segment_ids, num_segments)
    dv = value_of(data)
    flat = _a.reshape(data, (dv.shape[0], -1))
    out = _matmul(xp.astype(member, dv.dtype), flat)
    return _a.reshape(out, (n,) + tuple(dv.shape[1:]))


def _matmul(a, b):
    from .linalg import matmul
    return matmul(a, b)


def _segment_extreme(name, data, segment_ids, num_segments, fill, reduce):
    xp, member, n = _segments(name, data, segment_ids, num_segments)
    dv = value_of(data)
    flat = _a.reshape(data, (1, dv.shape[0], -1))
    mask = xp.reshape(member, (n, dv.shape[0], 1))
    out = reduce(_m.where(mask, flat, fill), axis=1)
    return _a.reshape(out, (n,) + tuple(dv.shape[1:]))


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Maximum of the rows of ``data`` in each segment (-inf / the dtype's minimum where empty)."""
    return _segment_extreme("segment_max", data, segment_ids, num_segments, _lowest(data), _m.max)


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Minimum of the rows of ``data`` in each segment (+inf / the dtype's maximum where empty)."""
    return _segment_extreme("segment_min", data, segment_ids, num_segments, _highest(data), _m.min)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Product of the rows of ``data`` in each segment (1 where empty)."""
    return _segment_extreme("segment_prod", data, segment_ids, num_segments, 1, _m.prod)


def _lowest(data):
    dv = value_of(data)
    xp = namespace_of(dv)
    return float("-inf") if xp.isdtype(dv.dtype, "real floating") else int(xp.iinfo(dv.dtype).min)


def _highest(data):
    dv = value_of(data)
    xp = namespace_of(dv)
    return float("inf") if xp.isdtype(dv.dtype, "real floating") else int(xp.iinfo(dv.dtype).max)


__all__ = public_names(globals())
