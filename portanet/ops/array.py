"""Shape manipulation, joining and splitting, indexing and sorting (keras.ops names).

Ops whose gradient is a rearrangement of the output gradient have their own
vector-Jacobian product; ``sort``/``top_k``/``tensordot`` are written with other ops,
so their gradients come from those.
"""

import array_api_compat

from .. import backend as _backend
from ._dispatch import (public_names, as_array, is_array, multi_primitive, normalize_axis,
                        primitive, unbroadcast)
from .tape import _OPS, namespace_of, value_of

_builtin_sum = sum


def _arr(x):
    xp = namespace_of(x)
    return xp, as_array(xp, x)


# ----------------------------------------------------------------- reshaping
def _reshape_impl(x, newshape):
    xp, x = _arr(x)
    if isinstance(newshape, int):
        newshape = (newshape,)
    return xp.reshape(x, tuple(int(s) for s in newshape))


_reshape = primitive("reshape", _reshape_impl,
                     lambda g, o, x, newshape: (namespace_of(g).reshape(g, tuple(x.shape)),))


def reshape(x, newshape):
    """``x`` with shape ``newshape`` (one entry may be -1)."""
    return _reshape(x, newshape)


def ravel(x):
    """``x`` flattened to one axis."""
    return _reshape(x, (-1,))


def _transpose_impl(x, axes=None):
    xp, x = _arr(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    return xp.permute_dims(x, tuple(axes))


def _transpose_vjp(g, o, x, axes=None):
    xp = namespace_of(g)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = normalize_axis(tuple(axes), x.ndim)
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (xp.permute_dims(g, tuple(inverse)),)


_transpose = primitive("transpose", _transpose_impl, _transpose_vjp)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return _transpose(x, axes=axes)


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    nd = len(x.shape)
    axes = list(range(nd))
    a, b = axis1 % nd, axis2 % nd
    axes[a], axes[b] = axes[b], axes[a]
    return _transpose(x, axes=tuple(axes))


def moveaxis(x, source, destination):
    """Move axes to new positions (the others keep their order)."""
    nd = len(x.shape)
    src = normalize_axis(source, nd)
    dst = normalize_axis(destination, nd)
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _transpose(x, axes=tuple(order))


def _expand_impl(x, axis):
    xp, x = _arr(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_nd = x.ndim + len(axes)
    for a in sorted(ax % out_nd for ax in axes):
        x = xp.expand_dims(x, axis=a)
    return x


_expand_dims = primitive("expand_dims", _expand_impl,
                         lambda g, o, x, axis: (namespace_of(g).reshape(g, tuple(x.shape)),))


def expand_dims(x, axis):
    """Insert axes of length 1 at ``axis`` (an int or a tuple)."""
    return _expand_dims(x, axis)


def _squeeze_impl(x, axis=None):
    xp, x = _arr(x)
    if axis is None:
        axis = tuple(i for i, s in enumerate(x.shape) if s == 1)
    return xp.squeeze(x, axis=axis)


_squeeze = primitive("squeeze", _squeeze_impl,
                     lambda g, o, x, axis=None: (namespace_of(g).reshape(g, tuple(x.shape)),))


def squeeze(x, axis=None):
    """Remove axes of length 1 (all of them when ``axis`` is None)."""
    return _squeeze(x, axis=axis)


def _broadcast_impl(x, shape):
    xp, x = _arr(x)
    return xp.broadcast_to(x, tuple(shape))


def _broadcast_vjp(g, o, x, shape):
    return (unbroadcast(namespace_of(g), g, x.shape),)


_broadcast_to = primitive("broadcast_to", _broadcast_impl, _broadcast_vjp)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``."""
    return _broadcast_to(x, tuple(shape))


def _flip_impl(x, axis=None):
    xp, x = _arr(x)
    return xp.flip(x, axis=axis)


_flip = primitive("flip", _flip_impl, lambda g, o, x, axis=None: (namespace_of(g).flip(g, axis=axis),))


def flip(x, axis=None):
    """Reverse the order of entries along ``axis`` (all axes when None)."""
    return _flip(x, axis=axis)


def _roll_impl(x, shift, axis=None):
    xp, x = _arr(x)
    return xp.roll(x, shift, axis=axis)


def _roll_vjp(g, o, x, shift, axis=None):
    xp = namespace_of(g)
    back = -shift if isinstance(shift, int) else tuple(-s for s in shift)
    return (xp.roll(g, back, axis=axis), None)


_roll = primitive("roll", _roll_impl, _roll_vjp)


def roll(x, shift, axis=None):
    """Shift entries cyclically by ``shift`` along ``axis``."""
    return _roll(x, shift, axis=axis)


def _tile_impl(x, repeats):
    xp, x = _arr(x)
    reps = (repeats,) if isinstance(repeats, int) else tuple(repeats)
    return xp.tile(x, reps)


def _tile_vjp(g, o, x, repeats):
    xp = namespace_of(g)
    reps = (repeats,) if isinstance(repeats, int) else tuple(repeats)
    nd = g.ndim
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + tuple(x.shape)
    split = []
    for r, s in zip(reps, shape):
        split += [r, s]
    g = xp.reshape(g, tuple(split))
    g = xp.sum(g, axis=tuple(range(0, 2 * nd, 2)))
    return (xp.reshape(g, tuple(x.shape)), None)


_tile = primitive("tile", _tile_impl, _tile_vjp)


def tile(x, repeats):
    """Repeat the whole array ``repeats`` times along each axis."""
    return _tile(x, repeats)


def _repeat_impl(x, repeats, axis=None):
    xp, x = _arr(x)
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    return xp.repeat(x, repeats, axis=axis)


def _repeat_vjp(g, o, x, repeats, axis=None):
    xp = namespace_of(g)
    if not isinstance(repeats, int):
        raise NotImplementedError("ops.repeat: the gradient needs an int repeats")
    if axis is None:
        return (xp.reshape(xp.sum(xp.reshape(g, (-1, repeats)), axis=1), tuple(x.shape)), None)
    axis = axis % x.ndim
    shape = list(x.shape)
    shape.insert(axis + 1, repeats)
    return (xp.sum(xp.reshape(g, tuple(shape)), axis=axis + 1), None)


_repeat = primitive("repeat", _repeat_impl, _repeat_vjp)


def repeat(x, repeats, axis=None):
    """Repeat each entry ``repeats`` times along ``axis`` (of the flattened array when None)."""
    return _repeat(x, repeats, axis=axis)


def _pad_impl(x, pad_width, mode="constant", constant_values=None):
    xp, x = _arr(x)
    if mode != "constant":
        raise ValueError(f"mode={mode!r}; only 'constant' is portable")
    widths = _pad_widths(pad_width, x.ndim)
    shape = tuple(s + a + b for s, (a, b) in zip(x.shape, widths))
    value = 0 if constant_values is None else constant_values
    out = xp.full(shape, value, dtype=x.dtype, device=_device(x))
    out[_inner(x.shape, widths)] = x
    return out


def _pad_widths(pad_width, ndim):
    if isinstance(pad_width, int):
        return [(pad_width, pad_width)] * ndim
    pw = [tuple(p) if isinstance(p, (list, tuple)) else (p, p) for p in pad_width]
    if len(pw) == 1:
        pw = pw * ndim
    return [(int(a), int(b)) for a, b in pw]


def _inner(shape, widths):
    return tuple(slice(a, a + s) for s, (a, _) in zip(shape, widths))


def _device(x):
    return array_api_compat.device(x)


_pad = primitive("pad", _pad_impl,
                 lambda g, o, x, pad_width, mode="constant", constant_values=None:
                 (g[_inner(x.shape, _pad_widths(pad_width, x.ndim))], None))


def pad(x, pad_width, mode="constant", constant_values=None):
    """Pad with ``constant_values`` (0): ``pad_width`` as numpy's ((before, after), ...)."""
    return _pad(x, pad_width, mode=mode, constant_values=constant_values)


# ----------------------------------------------------------------- joining / splitting
def _concat_impl(*xs, axis=0):
    xp = namespace_of(*xs)
    return xp.concat([as_array(xp, x) for x in xs], axis=axis)


def _concat_vjp(g, o, *xs, axis=0):
    out, start = [], 0
    axis = axis % g.ndim
    for x in xs:
        n = x.shape[axis]
        index = (slice(None),) * axis + (slice(start, start + n), Ellipsis)
        out.append(g[index])
        start += n
    return tuple(out)


_concatenate = primitive("concatenate", _concat_impl, _concat_vjp)


def concatenate(xs, axis=0):
    """Join a sequence of tensors along an existing axis."""
    return _concatenate(*xs, axis=axis)


def hstack(xs):
    """Join along axis 1 (axis 0 for 1-D tensors)."""
    return concatenate(xs, axis=0 if len(xs[0].shape) == 1 else 1)


def vstack(xs):
    """Join along axis 0 (1-D tensors become rows)."""
    xs = [expand_dims(x, 0) if len(x.shape) == 1 else x for x in xs]
    return concatenate(xs, axis=0)


def _stack_impl(*xs, axis=0):
    xp = namespace_of(*xs)
    return xp.stack([as_array(xp, x) for x in xs], axis=axis)


def _stack_vjp(g, o, *xs, axis=0):
    xp = namespace_of(g)
    axis = axis % g.ndim
    return tuple(g[(slice(None),) * axis + (i, Ellipsis)] for i in range(len(xs)))


_stack = primitive("stack", _stack_impl, _stack_vjp)


def stack(x, axis=0):
    """Join a sequence of tensors along a new axis."""
    return _stack(*x, axis=axis)


def _split_bounds(n, indices_or_sections):
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"an axis of length {n} cannot be split into "
                             f"{indices_or_sections} equal sections")
        step = n // indices_or_sections
        return [(i * step, (i + 1) * step) for i in range(indices_or_sections)]
    cuts = [0] + [int(i) for i in indices_or_sections] + [n]
    return list(zip(cuts[:-1], cuts[1:]))


def _split_impl(x, indices_or_sections, axis=0):
    xp, x = _arr(x)
    axis = axis % x.ndim
    return [x[(slice(None),) * axis + (slice(a, b), Ellipsis)]
            for a, b in _split_bounds(x.shape[axis], indices_or_sections)]


def _split_vjp(gs, outs, x, indices_or_sections, axis=0):
    xp = namespace_of(*[o for o in outs])
    parts = [g if g is not None else xp.zeros_like(o) for g, o in zip(gs, outs)]
    return (xp.concat(parts, axis=axis), None)


_split = multi_primitive("split", _split_impl, _split_vjp)


def split(x, indices_or_sections, axis=0):
    """Split into equal sections (an int) or at the given indices; returns a list."""
    return list(_split(x, indices_or_sections, axis=axis))


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list."""
    n = x.shape[axis]
    return [squeeze(part, axis=axis) for part in split(x, n, axis=axis)]


# ----------------------------------------------------------------- indexing
def _getitem_impl(x, key):
    xp, x = _arr(x)
    key = _raw_key(key)
    if is_array(key) and not xp.isdtype(key.dtype, "bool"):
        return _take_impl(x, key, axis=0)
    return x[key]


def _raw_key(key):
    """The key with traced parts unwrapped and, for basic indexing, a trailing Ellipsis
    (the standard forbids indexing fewer axes than the array has; numpy allows it)."""
    parts = tuple(value_of(k) for k in key) if isinstance(key, tuple) else (value_of(key),)
    if len(parts) == 1 and is_array(parts[0]):
        return parts[0]
    if any(is_array(k) for k in parts):
        return parts
    if not any(k is Ellipsis for k in parts):
        parts = parts + (Ellipsis,)
    return parts


def _getitem_vjp(g, o, x, key):
    xp = namespace_of(g)
    key = _raw_key(key)
    parts = key if isinstance(key, tuple) else (key,)
    if any(is_array(k) and not xp.isdtype(k.dtype, "bool") for k in parts):
        if len(parts) == 1:
            return _take_vjp(g, o, x, parts[0], axis=0)
        raise NotImplementedError("the gradient of indexing with several integer arrays: "
                                  "use ops.take / ops.take_along_axis")
    stripped = tuple(k for k in parts if k is not None)
    dx = xp.zeros_like(x)
    target = dx[stripped]
    dx[stripped] = xp.reshape(g, tuple(target.shape))
    return (dx, None)


_getitem = primitive("getitem", _getitem_impl, _getitem_vjp)


def _scatter_rows(xp, target, indices, values):
    """``target[indices[k]] += values[k]`` along axis 0 (duplicates accumulate)."""
    b = _backend.current()
    indices = xp.reshape(indices, (-1,))
    if not xp.isdtype(indices.dtype, "integral"):
        indices = xp.astype(indices, xp.int64)
    indices = xp.where(indices < 0, indices + target.shape[0], indices)
    values = xp.reshape(values, (indices.shape[0],) + tuple(target.shape[1:]))
    if b.xp is xp:
        return b.scatter_add(target, indices, values)
    rows = target.shape[0]
    onehot = xp.astype(indices[:, None] == xp.arange(rows, device=_device(target))[None, :],
                       values.dtype)
    update = xp.matrix_transpose(onehot) @ xp.reshape(values, (indices.shape[0], -1))
    return target + xp.reshape(update, target.shape)


def _take_impl(x, indices, axis=None):
    xp, x = _arr(x)
    idx = as_array(xp, indices)
    if not xp.isdtype(idx.dtype, "integral"):
        idx = xp.astype(idx, xp.int64)
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    axis = axis % x.ndim
    idx = xp.where(idx < 0, idx + x.shape[axis], idx)
    flat = xp.take(x, xp.reshape(idx, (-1,)), axis=axis)
    shape = tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:])
    return xp.reshape(flat, shape)


def _take_vjp(g, o, x, indices, axis=None):
    xp = namespace_of(g)
    idx = as_array(xp, indices)
    base = xp.reshape(x, (-1,)) if axis is None else x
    ax = 0 if axis is None else axis % x.ndim
    moved = xp.moveaxis(xp.zeros_like(base), ax, 0)
    k = 1
    for s in idx.shape:
        k *= s
    gm = xp.reshape(g, tuple(base.shape[:ax]) + (k,) + tuple(base.shape[ax + 1:]))
    gm = xp.moveaxis(gm, ax, 0)
    dx = xp.moveaxis(_scatter_rows(xp, moved, idx, gm), 0, ax)
    return (xp.reshape(dx, tuple(x.shape)), None)


_take = primitive("take", _take_impl, _take_vjp)


def take(x, indices, axis=None):
    """Entries of ``x`` at ``indices`` along ``axis`` (of the flattened array when None)."""
    return _take(x, indices, axis=axis)


def _tala_impl(x, indices, axis=None):
    xp, x = _arr(x)
    idx = as_array(xp, indices)
    if not xp.isdtype(idx.dtype, "integral"):
        idx = xp.astype(idx, xp.int64)
    if axis is None:
        x, idx, axis = xp.reshape(x, (-1,)), xp.reshape(idx, (-1,)), 0
    axis = axis % x.ndim
    idx = xp.where(idx < 0, idx + x.shape[axis], idx)
    if idx.ndim == x.ndim:
        shape = tuple(i if a == axis else max(i, s) for a, (i, s) in enumerate(zip(idx.shape, x.shape)))
        idx = xp.broadcast_to(idx, shape)
        x = xp.broadcast_to(x, tuple(s if a == axis else shape[a] for a, s in enumerate(x.shape)))
    return xp.take_along_axis(x, idx, axis=axis)


def _tala_vjp(g, o, x, indices, axis=None):
    xp = namespace_of(g)
    idx = as_array(xp, indices)
    flat = axis is None
    base = xp.reshape(x, (-1,)) if flat else x
    if flat:
        idx = xp.reshape(idx, (-1,))
    ax = 0 if flat else axis % x.ndim
    n = base.shape[ax]
    idx = xp.where(idx < 0, idx + n, idx)
    # dx[..., j, ...] = Σ_k g[..., k, ...]·[idx[..., k, ...] == j]
    classes = xp.reshape(xp.arange(n, dtype=idx.dtype, device=_device(g)),
                         (1,) * (ax + 1) + (n,) + (1,) * (base.ndim - ax - 1))
    onehot = xp.astype(xp.expand_dims(idx, axis=ax + 1) == classes, g.dtype)
    dx = xp.sum(xp.expand_dims(g, axis=ax + 1) * onehot, axis=ax)
    dx = unbroadcast(xp, dx, base.shape) if tuple(dx.shape) != tuple(base.shape) else dx
    return (xp.reshape(dx, tuple(x.shape)), None)


_take_along_axis = primitive("take_along_axis", _tala_impl, _tala_vjp)


def take_along_axis(x, indices, axis=None):
    """``x`` gathered along ``axis`` at ``indices`` of the same rank (as numpy)."""
    return _take_along_axis(x, indices, axis=axis)


# ----------------------------------------------------------------- sorting
def _argsort_impl(x, axis=-1, descending=False):
    xp, x = _arr(x)
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    return xp.argsort(x, axis=axis, descending=descending, stable=True)


_argsort = primitive("argsort", _argsort_impl)


def argsort(x, axis=-1):
    """Indices that sort ``x`` along ``axis`` (stable)."""
    return _argsort(x, axis=axis)


def sort(x, axis=-1):
    """``x`` sorted along ``axis`` (its gradient goes back through the permutation)."""
    if axis is None:
        x, axis = ravel(x), 0
    return take_along_axis(x, _argsort(x, axis=axis), axis=axis)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    """The ``k`` largest entries along the last axis and their indices: ``(values, indices)``."""
    idx = _argsort(x, axis=-1, descending=True)[..., :k]
    return take_along_axis(x, idx, axis=-1), idx


def in_top_k(targets, predictions, k):
    """Whether each target class is among the ``k`` largest predictions of its row."""
    xp = namespace_of(value_of(predictions))
    p = as_array(xp, value_of(predictions))
    t = as_array(xp, value_of(targets))
    if not xp.isdtype(t.dtype, "integral"):
        t = xp.astype(t, xp.int64)
    target_score = xp.take_along_axis(p, xp.reshape(t, (-1, 1)), axis=1)
    return xp.sum(xp.astype(p > target_score, xp.int64), axis=1) < k


_OPS.update({"reshape": reshape, "concatenate": concatenate, "stack": stack})


__all__ = public_names(globals())
