"""The rest of keras.ops's core and nn functions: ``custom_gradient``, ``vectorize``,
``associative_scan``, ``jvp``, ``rearrange`` (einops), ``layer_normalization``,
``rms_normalization``, ``psnr``, ``depth_to_space`` / ``space_to_depth``, ``unfold`` /
``fold`` and ``conv_transpose`` — written with other ops, so they are differentiable
inside a trace (``custom_gradient`` records the user's own gradient).
"""

import re as _re

import array_api_compat

from .. import config as _config
from . import array as _a
from . import math as _m
from ._dispatch import public_names, as_array
from .tape import Tensor, VariableLike, _stack, namespace_of, value_of

_pyrange = range


# ----------------------------------------------------------------- custom_gradient
def custom_gradient(f):
    """Decorator: ``f(*args)`` returns ``(y, grad_fn)``; inside a trace, the gradient of ``y``
    with respect to each argument is ``grad_fn(upstream)`` (one gradient per argument, or a
    single one for one argument), as keras.ops.custom_gradient. ``grad_fn`` may also be
    written ``grad_fn(*args, upstream=None)`` (Keras's backend-neutral form)."""

    def wrapper(*args, **kwargs):
        if not _stack:
            y, _ = f(*args, **kwargs)
            return y
        tape = _stack[-1]
        inputs = [a if (isinstance(a, Tensor) and a.tape is tape) or isinstance(a, VariableLike) else None
                  for a in args]
        # Run f on plain values with recording off: its own ops are not differentiated.
        _stack.pop()
        try:
            y, grad_fn = f(*[value_of(a) for a in args], **kwargs)
        finally:
            _stack.append(tape)
        if not any(i is not None for i in inputs):
            return y

        def vjp(g):
            try:
                grads = grad_fn(g)
            except TypeError:
                grads = grad_fn(upstream=g)
            if not isinstance(grads, (list, tuple)):
                grads = (grads,)
            return tuple(None if gr is None else value_of(gr) for gr in grads)

        result = Tensor(value_of(y), tape)
        tape.record("custom_gradient", inputs, [result], vjp)
        return result

    wrapper.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapper.__doc__ = getattr(f, "__doc__", None)
    return wrapper


# ----------------------------------------------------------------- mapping and scans
def vectorize(pyfunc, *, excluded=None, signature=None):
    """numpy.vectorize for ops: ``pyfunc`` on each element (or on each core slice of a
    ``signature`` such as ``"(n),(n)->()"``), results stacked; differentiable when
    ``pyfunc`` is written with ops."""
    excluded = set(excluded or ())
    core_dims = None
    if signature is not None:
        m = _re.fullmatch(r"\s*(.*?)\s*->\s*(.*?)\s*", signature)
        if m is None:
            raise ValueError(f"ops.vectorize: signature={signature!r}; expected a form like '(n),(n)->()'")
        core_dims = [len([d for d in g.split(",") if d.strip()]) for g in _re.findall(r"\(([^)]*)\)", m.group(1))]

    def wrapped(*args, **kwargs):
        mapped = [i for i in _pyrange(len(args)) if i not in excluded]
        if not mapped:
            return pyfunc(*args, **kwargs)
        cores = core_dims or [0] * len(args)
        batch_shapes = [tuple(value_of(args[i]).shape[:value_of(args[i]).ndim - cores[i]]) for i in mapped]
        batch = ()
        for s in batch_shapes:
            if len(s) > len(batch):
                batch = s
        n = 1
        for s in batch:
            n *= s
        flat_args = list(args)
        for i, s in zip(mapped, batch_shapes):
            core = tuple(value_of(args[i]).shape[len(s):])
            full = _a.broadcast_to(args[i], batch + core) if s != batch else args[i]
            flat_args[i] = _a.reshape(full, (n,) + core)
        outs = []
        for k in _pyrange(n):
            call_args = [flat_args[i][k, ...] if i in mapped else flat_args[i] for i in _pyrange(len(args))]
            outs.append(pyfunc(*call_args, **kwargs))
        if isinstance(outs[0], tuple):
            return tuple(_a.reshape(_a.stack([o[j] for o in outs]), batch + tuple(value_of(outs[0][j]).shape))
                         for j in _pyrange(len(outs[0])))
        stacked = _a.stack([_m.multiply(o, 1) if not hasattr(value_of(o), "shape") else o for o in outs])
        return _a.reshape(stacked, batch + tuple(value_of(outs[0]).shape))

    return wrapped


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive scan of ``elems`` (an array, or a list/tuple of arrays scanned together)
    along ``axis`` with the associative ``f(a, b)``: out[i] = f(out[i - 1], elems[i])."""
    multi = isinstance(elems, (list, tuple))
    leaves = list(elems) if multi else [elems]
    n = value_of(leaves[0]).shape[axis]
    for leaf in leaves:
        if value_of(leaf).shape[axis] != n:
            raise ValueError("ops.associative_scan: every element must have the same size along axis "
                             f"{axis}; got {[tuple(value_of(v).shape) for v in leaves]}")
    order = list(_pyrange(n - 1, -1, -1)) if reverse else list(_pyrange(n))
    carry = None
    results = [None] * n
    for i in order:
        item = [_a.take(leaf, i, axis=axis) for leaf in leaves]
        cur = item if multi else item[0]
        if carry is None:
            carry = cur
        else:
            carry = f(carry, cur)
        results[i] = carry
    if multi:
        return type(elems)(_a.stack([r[j] for r in results], axis=axis) for j in _pyrange(len(leaves)))
    return _a.stack(results, axis=axis)


def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode product J·t of ``fun`` at ``primals`` with ``tangents`` (sequences of
    tensors), as jax.jvp: returns ``(fun(*primals), J·t)`` (and ``aux`` with ``has_aux``).
    Computed as the transpose of reverse-mode products, one per output element."""
    from .tape import GradientTape
    primals, tangents = list(primals), list(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"ops.jvp: {len(primals)} primals and {len(tangents)} tangents; expected as many")
    tape = GradientTape(persistent=True)
    with tape:
        watched = [tape.watch(as_array(namespace_of(value_of(p)), value_of(p))) for p in primals]
        result = fun(*watched)
    aux = None
    if has_aux:
        result, aux = result
    y = value_of(result)
    xp = namespace_of(y)
    flat_t = [xp.reshape(as_array(xp, value_of(t)), (-1,)) for t in tangents]
    out = xp.zeros((y.size if y.ndim else 1,), dtype=y.dtype, device=array_api_compat.device(y))
    size = y.size if y.ndim else 1
    values = []
    for k in _pyrange(size):
        seed = xp.reshape(xp.astype(xp.arange(size) == k, y.dtype), tuple(y.shape))
        grads = tape.gradient(result, watched, output_gradients=seed)
        total = 0.0
        for g, t in zip(grads, flat_t):
            if g is not None:
                total = total + xp.sum(xp.reshape(g, (-1,)) * xp.astype(t, g.dtype))
        values.append(total)
    out = xp.reshape(xp.stack([as_array(xp, v, dtype=y.dtype) for v in values]), tuple(y.shape)) \
        if size else out
    return (y, out, aux) if has_aux else (y, out)


# ----------------------------------------------------------------- einops
def rearrange(tensor, pattern, **axes_lengths):
    """Rearrange axes einops-style (keras.ops.rearrange): ``"b (h w) c -> b h w c"`` with
    ``h=...`` given; reshape, transpose, reshape."""
    try:
        left, right = _re.split(r"\s*->\s*", pattern)
    except ValueError:
        raise ValueError(f"ops.rearrange: pattern={pattern!r}; expected 'input axes -> output axes'") from None
    in_axes = _re.findall(r"\w+|\(.*?\)", left)
    out_axes = _re.findall(r"\w+|\(.*?\)", right)
    shape = tuple(value_of(tensor).shape)
    if len(in_axes) != len(shape):
        raise ValueError(f"ops.rearrange: the pattern names {len(in_axes)} input axes but the tensor has "
                         f"shape {shape}")
    lengths = dict(axes_lengths)
    sizes = {}
    decomposed, names = [], []
    for axis, dim in zip(in_axes, shape):
        group = _re.match(r"\(([\w\s]+)\)", axis)
        if group:
            inner = group.group(1).split()
            known = 1
            for a in inner:
                if a in lengths:
                    known *= lengths[a]
            unknown = [a for a in inner if a not in lengths]
            if unknown:
                lengths[unknown[0]] = dim // known
            for a in inner:
                sizes[a] = lengths[a]
                decomposed.append(lengths[a])
                names.append(a)
        else:
            sizes[axis] = dim
            decomposed.append(dim)
            names.append(axis)
    out_groups = [(_re.match(r"\(([\w\s]+)\)", a).group(1).split() if a.startswith("(") else [a])
                  for a in out_axes]
    flat_out = [a for g in out_groups for a in g]
    missing = [a for a in flat_out if a not in sizes]
    if missing or sorted(flat_out) != sorted(names):
        raise ValueError(f"ops.rearrange: pattern={pattern!r}: the output axes {flat_out} must be the input "
                         f"axes {names} rearranged")
    if tuple(decomposed) != shape:
        tensor = _a.reshape(tensor, tuple(decomposed))
    perm = [names.index(a) for a in flat_out]
    if perm != list(_pyrange(len(perm))):
        tensor = _a.transpose(tensor, perm)
    final = []
    for g in out_groups:
        size = 1
        for a in g:
            size *= sizes[a]
        final.append(size)
    if tuple(final) != tuple(value_of(tensor).shape):
        tensor = _a.reshape(tensor, tuple(final))
    return tensor


# ----------------------------------------------------------------- normalization
def _axes(axis, ndim):
    if isinstance(axis, int):
        axis = [axis]
    return sorted(a % ndim for a in axis)


def _broadcast_param(v, axes, shape):
    if v is None:
        return None
    nd = len(shape)
    vv = value_of(v)
    if vv.ndim != nd and axes != [nd - 1]:
        b = [1] * nd
        for d in axes:
            b[d] = shape[d]
        return _a.reshape(v, tuple(b))
    return v


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalize ``x`` to zero mean and unit variance over ``axis``, then ``* gamma + beta``
    (keras.ops.layer_normalization; ``epsilon`` defaults to ``pn.config.epsilon()``)."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"ops.layer_normalization: unexpected arguments {sorted(kwargs)}")
    eps = _config.epsilon() if epsilon is None else epsilon
    shape = tuple(value_of(x).shape)
    axes = _axes(axis, len(shape))
    gamma = _broadcast_param(gamma, axes, shape)
    beta = _broadcast_param(beta, axes, shape)
    if rms_scaling:
        var = _m.var(x, axis=tuple(axes), keepdims=True)
        out = _m.multiply(x, _m.rsqrt(_m.add(var, eps)))
        return out if gamma is None else _m.multiply(out, gamma)
    mean = _m.mean(x, axis=tuple(axes), keepdims=True)
    var = _m.mean(_m.square(_m.subtract(x, mean)), axis=tuple(axes), keepdims=True)
    inv = _m.rsqrt(_m.add(var, eps))
    if gamma is not None:
        inv = _m.multiply(inv, gamma)
    res = _m.multiply(_m.negative(mean), inv)
    if beta is not None:
        res = _m.add(res, beta)
    return _m.add(_m.multiply(x, inv), res)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x * rsqrt(mean(x**2, axis) + epsilon) * scale`` (keras.ops.rms_normalization)."""
    eps = _config.epsilon() if epsilon is None else epsilon
    if value_of(x).ndim == 0:
        x = _a.expand_dims(x, 0)
    axes = tuple(_axes(axis, value_of(x).ndim))
    rrms = _m.rsqrt(_m.add(_m.mean(_m.square(x), axis=axes, keepdims=True), eps))
    out = _m.multiply(x, rrms)
    return out if scale is None else _m.multiply(out, scale)


def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio: 20 log10(max_val) - 10 log10(mean((x1 - x2)**2))."""
    s1, s2 = tuple(value_of(x1).shape), tuple(value_of(x2).shape)
    if s1 != s2:
        raise ValueError(f"ops.psnr: x1 has shape {s1} and x2 {s2}; expected equal shapes")
    mse = _m.mean(_m.square(_m.subtract(x1, x2)))
    import math
    return _m.subtract(20.0 * math.log10(max_val), _m.multiply(_m.log10(mse), 10.0))


# ----------------------------------------------------------------- pixel shuffles
def _check_4d(name, x):
    if value_of(x).ndim != 4:
        raise ValueError(f"ops.{name}: x has shape {tuple(value_of(x).shape)}; expected a 4-D tensor")


def _check_format(name, data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"ops.{name}: data_format={data_format!r}; expected 'channels_last' or 'channels_first'")


def depth_to_space(x, block_size, data_format="channels_last"):
    """(N, H, W, C r²) -> (N, H r, W r, C) (pixel shuffle; DCR order as TensorFlow)."""
    _check_4d("depth_to_space", x)
    _check_format("depth_to_space", data_format)
    r = int(block_size)
    if data_format == "channels_first":
        x = _a.transpose(x, (0, 2, 3, 1))
    n, h, w, c = value_of(x).shape
    if c % (r * r):
        raise ValueError(f"ops.depth_to_space: {c} channels are not divisible by block_size**2 = {r * r}")
    y = _a.reshape(x, (n, h, w, r, r, c // (r * r)))
    y = _a.transpose(y, (0, 1, 3, 2, 4, 5))
    y = _a.reshape(y, (n, h * r, w * r, c // (r * r)))
    return _a.transpose(y, (0, 3, 1, 2)) if data_format == "channels_first" else y


def space_to_depth(x, block_size, data_format="channels_last"):
    """(N, H r, W r, C) -> (N, H, W, C r²), the inverse of ``depth_to_space``."""
    _check_4d("space_to_depth", x)
    _check_format("space_to_depth", data_format)
    r = int(block_size)
    if data_format == "channels_first":
        x = _a.transpose(x, (0, 2, 3, 1))
    n, h, w, c = value_of(x).shape
    if h % r or w % r:
        raise ValueError(f"ops.space_to_depth: spatial size {(h, w)} is not divisible by block_size={r}")
    y = _a.reshape(x, (n, h // r, r, w // r, r, c))
    y = _a.transpose(y, (0, 1, 3, 2, 4, 5))
    y = _a.reshape(y, (n, h // r, w // r, r * r * c))
    return _a.transpose(y, (0, 3, 1, 2)) if data_format == "channels_first" else y


# ----------------------------------------------------------------- im2col
def _pair2(v):
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _patch_index(xp, dev, H, W, k, d, s):
    oh = (H - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (W - (k[1] - 1) * d[1] - 1) // s[1] + 1
    # rows: (kh, kw) offsets; columns: the oh*ow patch positions; values: flat H*W index.
    ki = xp.reshape(xp.arange(k[0], device=dev) * d[0], (-1, 1, 1, 1))
    kj = xp.reshape(xp.arange(k[1], device=dev) * d[1], (1, -1, 1, 1))
    pi = xp.reshape(xp.arange(oh, device=dev) * s[0], (1, 1, -1, 1))
    pj = xp.reshape(xp.arange(ow, device=dev) * s[1], (1, 1, 1, -1))
    idx = (ki + pi) * W + (kj + pj)
    return xp.reshape(idx, (k[0] * k[1], oh * ow)), oh, ow


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of an (N, C, H, W) tensor as (N, C kH kW, L) (im2col, torch's Unfold)."""
    _check_4d("unfold", x)
    k, d, p, s = _pair2(kernel_size), _pair2(dilation), _pair2(padding), _pair2(stride)
    if p[0] or p[1]:
        x = _a.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    n, c, H, W = value_of(x).shape
    xp = namespace_of(value_of(x))
    idx, oh, ow = _patch_index(xp, array_api_compat.device(value_of(x)), H, W, k, d, s)
    flat = _a.reshape(x, (n, c, H * W))
    patches = _a.take(flat, xp.reshape(idx, (-1,)), axis=2)           # (n, c, kk*L)
    return _a.reshape(patches, (n, c * k[0] * k[1], oh * ow))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of ``unfold``: (N, C kH kW, L) blocks summed into (N, C, H, W) (col2im)."""
    xv = value_of(x)
    if xv.ndim != 3:
        raise ValueError(f"ops.fold: x has shape {tuple(xv.shape)}; expected (N, C*kH*kW, L)")
    k, d, p, s = _pair2(kernel_size), _pair2(dilation), _pair2(padding), _pair2(stride)
    oh_out, ow_out = _pair2(output_size)
    H, W = oh_out + 2 * p[0], ow_out + 2 * p[1]
    n, ckk, L = xv.shape
    kk = k[0] * k[1]
    if ckk % kk:
        raise ValueError(f"ops.fold: {ckk} rows are not a multiple of kH*kW = {kk}")
    c = ckk // kk
    xp = namespace_of(xv)
    dev = array_api_compat.device(xv)
    idx, oh, ow = _patch_index(xp, dev, H, W, k, d, s)
    if oh * ow != L:
        raise ValueError(f"ops.fold: x has {L} blocks but output_size={output_size} with these kernel, "
                         f"dilation, padding and stride gives {oh * ow}")
    onehot = xp.astype(xp.reshape(idx, (-1, 1)) == xp.reshape(xp.arange(H * W, device=dev), (1, -1)), xv.dtype)
    from .linalg import matmul
    flat = matmul(_a.reshape(x, (n, c, kk * L)), onehot)              # (n, c, H*W)
    out = _a.reshape(flat, (n, c, H, W))
    if p[0] or p[1]:
        out = out[:, :, p[0]:p[0] + oh_out, p[1]:p[1] + ow_out]
    return out


# ----------------------------------------------------------------- transposed convolution
def _dilate(x, axis, stride):
    if stride == 1:
        return x
    xv = value_of(x)
    shape = tuple(xv.shape)
    xp = namespace_of(xv)
    zeros_shape = shape[:axis + 1] + (stride - 1,) + shape[axis + 1:]
    zeros = xp.zeros(zeros_shape, dtype=xv.dtype, device=array_api_compat.device(xv))
    y = _a.concatenate([_a.expand_dims(x, axis + 1), zeros], axis=axis + 1)
    y = _a.reshape(y, shape[:axis] + (shape[axis] * stride,) + shape[axis + 1:])
    keep = (shape[axis] - 1) * stride + 1
    return _a.take(y, xp.arange(keep, device=array_api_compat.device(xv)), axis=axis)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Transposed convolution, as keras.ops.conv_transpose: ``kernel`` of shape
    (*window, output_channels, input_channels); output size per Keras's padding rules."""
    from .nn import conv
    fmt = data_format or _config.image_data_format()
    x = inputs
    nd = value_of(x).ndim - 2
    if fmt == "channels_first":
        x = _a.moveaxis(x, 1, -1)
    kv = value_of(kernel)
    window = tuple(kv.shape[:nd])
    if value_of(x).shape[-1] != kv.shape[-1]:
        raise ValueError(f"ops.conv_transpose: the input has {value_of(x).shape[-1]} channels but the kernel "
                         f"of shape {tuple(kv.shape)} expects {kv.shape[-1]} (its last axis)")
    strides = (strides,) * nd if isinstance(strides, int) else tuple(strides)
    dil = (dilation_rate,) * nd if isinstance(dilation_rate, int) else tuple(dilation_rate)
    outp = (output_padding,) * nd if isinstance(output_padding, int) or output_padding is None \
        else tuple(output_padding)
    if padding.lower() not in ("valid", "same"):
        raise ValueError(f"ops.conv_transpose: padding={padding!r}; expected 'valid' or 'same'")
    pads = []
    for i in _pyrange(nd):
        k_eff = (window[i] - 1) * dil[i] + 1
        s, op = strides[i], outp[i]
        if padding.lower() == "valid":
            op = max(k_eff, s) - k_eff if op is None else op
            left, right = k_eff - 1, k_eff - 1 + op
        else:
            pad_len = s + k_eff - 2 if op is None else k_eff + k_eff % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
            right = pad_len - left
        pads.append((left, right))
    for i in _pyrange(nd):
        x = _dilate(x, 1 + i, strides[i])
    pos = [(0, 0)] + [(max(a, 0), max(b, 0)) for a, b in pads] + [(0, 0)]
    if any(a or b for a, b in pos):
        x = _a.pad(x, pos)
    for i, (a, b) in enumerate(pads):
        if a < 0 or b < 0:
            size = value_of(x).shape[1 + i]
            xp = namespace_of(value_of(x))
            x = _a.take(x, xp.arange(max(-a, 0), size - max(-b, 0)), axis=1 + i)
    k2 = _a.swapaxes(kernel, -1, -2)
    k2 = _a.flip(k2, axis=tuple(_pyrange(nd)))
    y = conv(x, k2, strides=1, padding="valid", data_format="channels_last", dilation_rate=dil)
    if fmt == "channels_first":
        y = _a.moveaxis(y, -1, 1)
    return y


__all__ = public_names(globals())
