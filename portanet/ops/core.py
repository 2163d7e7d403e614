"""Core ops (keras.ops.core): ``stop_gradient``, control flow run eagerly in Python
(``cond``, ``switch``, ``fori_loop``, ``while_loop``, ``scan``, ``map``,
``vectorized_map`` as a loop) and functional updates (``scatter``, ``scatter_update``,
``slice``, ``slice_update``). Under the tape, control flow is simply the ops it runs.
"""

import builtins

import array_api_compat

from ._dispatch import public_names, as_array, primitive
from .array import _scatter_rows, stack, unstack
from .tape import Tensor, VariableLike, namespace_of, value_of


def stop_gradient(variable):
    """The value of ``variable`` as a constant: no gradient flows back through it."""
    if isinstance(variable, (Tensor, VariableLike)):
        return variable.value
    return variable


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``."""
    return true_fn() if bool(value_of(pred)) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)`` (index clamped to the valid range, as Keras)."""
    i = int(value_of(index))
    i = 0 if i < 0 else (len(branches) - 1 if i >= len(branches) else i)
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for i in [lower, upper); returns the final val."""
    val = init_val
    for i in range(int(value_of(lower)), int(value_of(upper))):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):  # noqa: A002 - Keras's name
    """Run ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``."""
    single = not isinstance(loop_vars, (list, tuple))
    vars_ = (loop_vars,) if single else tuple(loop_vars)
    n = 0
    while bool(value_of(cond(*vars_))) and (maximum_iterations is None or n < maximum_iterations):
        out = body(*vars_)
        vars_ = (out,) if single or not isinstance(out, (list, tuple)) else tuple(out)
        n += 1
    return vars_[0] if single else type(loop_vars)(vars_)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns
    ``(carry, stacked ys)``."""
    items = unstack(xs) if xs is not None else [None] * int(length)
    if reverse:
        items = items[::-1]
    carry, ys = init, []
    for x in items:
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys = ys[::-1]
    return carry, (stack(ys) if ys and ys[0] is not None else None)


def map(f, xs):  # noqa: A001 - Keras's name
    """``stack([f(x) for x in xs])`` over the leading axis."""
    return stack([f(x) for x in unstack(xs)])


def vectorized_map(function, elements):
    """``function`` applied to each slice along the leading axis, stacked (a Python loop)."""
    if isinstance(elements, (list, tuple)):
        n = elements[0].shape[0]
        outs = [function(type(elements)(e[i] for e in elements)) for i in range(n)]
    else:
        outs = [function(e) for e in unstack(elements)]
    return stack(outs)


# ----------------------------------------------------------------- functional updates
def _linear_rows(xp, indices, shape):
    """Row numbers of ``indices`` (n, k) in ``shape`` seen as (prod(shape[:k]), rest)."""
    idx = as_array(xp, indices)
    if not xp.isdtype(idx.dtype, "integral"):
        idx = xp.astype(idx, xp.int64)
    k = idx.shape[-1]
    idx = xp.reshape(idx, (-1, k))
    linear = None
    for j in range(k):
        col = idx[:, j]
        col = xp.where(col < 0, col + shape[j], col)
        linear = col if linear is None else linear * shape[j] + col
    rows = 1
    for s in shape[:k]:
        rows *= s
    return linear, rows, tuple(shape[k:])


def _scatter_impl(indices, values, shape):
    xp = namespace_of(values, indices)
    values = as_array(xp, values)
    shape = tuple(int(s) for s in shape)
    linear, rows, rest = _linear_rows(xp, indices, shape)
    target = xp.zeros((rows,) + rest, dtype=values.dtype, device=_device(values))
    return xp.reshape(_scatter_rows(xp, target, linear, values), shape)


def _gather_rows(xp, g, indices, shape):
    linear, rows, rest = _linear_rows(xp, indices, shape)
    return xp.take(xp.reshape(g, (rows,) + rest), linear, axis=0)


def _scatter_vjp(g, out, indices, values, shape):
    xp = namespace_of(g)
    return None, xp.reshape(_gather_rows(xp, g, indices, tuple(out.shape)), tuple(values.shape)), None


def _device(x):
    return array_api_compat.device(x)


_scatter = primitive("scatter", _scatter_impl, _scatter_vjp)


def scatter(indices, values, shape):
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` ((n, k) index rows;
    duplicates accumulate)."""
    return _scatter(indices, values, tuple(shape))


def _update_mask(xp, indices, shape, dtype, device):
    linear, rows, rest = _linear_rows(xp, indices, shape)
    ones = xp.ones((linear.shape[0],) + rest, dtype=dtype, device=device)
    target = xp.zeros((rows,) + rest, dtype=dtype, device=device)
    hit = _scatter_rows(xp, target, linear, ones)
    return xp.reshape(xp.astype(hit > 0, dtype), shape)


def _scatter_update_impl(inputs, indices, updates):
    xp = namespace_of(inputs)
    inputs = as_array(xp, inputs)
    updates = as_array(xp, updates, dtype=inputs.dtype)
    shape = tuple(inputs.shape)
    mask = _update_mask(xp, indices, shape, inputs.dtype, _device(inputs))
    return inputs * (1 - mask) + _scatter_impl(indices, updates, shape)


def _scatter_update_vjp(g, out, inputs, indices, updates):
    xp = namespace_of(g)
    shape = tuple(inputs.shape)
    mask = _update_mask(xp, indices, shape, g.dtype, _device(g))
    du = xp.reshape(_gather_rows(xp, g, indices, shape), tuple(updates.shape))
    return g * (1 - mask), None, du


_scatter_update = primitive("scatter_update", _scatter_update_impl, _scatter_update_vjp)


def scatter_update(inputs, indices, updates):
    """``inputs`` with the entries (or slices) at ``indices`` replaced by ``updates``."""
    return _scatter_update(inputs, indices, updates)


def _region(start_indices, shape):
    starts = [int(value_of(s)) for s in (value_of(start_indices) if not hasattr(
        value_of(start_indices), "shape") else list(value_of(start_indices)))]
    return tuple(builtins.slice(s, s + int(n)) for s, n in zip(starts, shape)) + (Ellipsis,)


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """The block of ``shape`` starting at ``start_indices``."""
    return inputs[_region(start_indices, shape)]


def _slice_update_impl(inputs, start_indices, updates):
    xp = namespace_of(inputs)
    out = xp.asarray(as_array(xp, inputs), copy=True)
    updates = as_array(xp, updates, dtype=out.dtype)
    out[_region(start_indices, updates.shape)] = updates
    return out


def _slice_update_vjp(g, out, inputs, start_indices, updates):
    xp = namespace_of(g)
    region = _region(start_indices, updates.shape)
    d_in = xp.asarray(g, copy=True)
    d_in[region] = xp.zeros(tuple(updates.shape), dtype=g.dtype, device=_device(g))
    return d_in, None, g[region]


_slice_update = primitive("slice_update", _slice_update_impl, _slice_update_vjp)


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``."""
    return _slice_update(inputs, tuple(int(value_of(s)) for s in start_indices)
                         if isinstance(start_indices, (list, tuple)) else start_indices, updates)


__all__ = public_names(globals())
