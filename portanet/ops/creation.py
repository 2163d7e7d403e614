"""Creating and converting tensors: ``convert_to_tensor``, ``convert_to_numpy``, ``cast``,
``zeros``, ``ones``, ``full``, ``arange``, ``eye``, ``linspace``, the ``*_like`` family and
``shape``. New tensors live on the active backend (``pn.set_backend``)."""

import array_api_compat

from .. import backend as _backend
from .. import config as _config
from ._dispatch import public_names, as_array, is_array, primitive, to_dtype
from .math import multiply
from .tape import (Tensor, VariableLike, _conversion_error, _stack, _to_host, namespace_of,
                   own_namespace, value_of)


def _xp():
    return _backend.current().xp


def _dt(dtype, default=None):
    xp = _xp()
    if dtype is None:
        dtype = default
    return to_dtype(xp, dtype)


def _dev():
    return _backend.current().device


def is_tensor(x):
    """Whether ``x`` is a tensor of the active backend (or a traced Tensor)."""
    if isinstance(x, Tensor):
        return True
    return _backend.current().is_array(x)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` (a NumPy array, a list, a scalar, a Variable or a tensor) as a tensor of the
    active backend. Python floats become ``floatx``, Python ints int32 (as Keras).
    Inside a trace a traced tensor or a Variable stays traced (a cast when ``dtype``
    is given)."""
    if isinstance(x, (Tensor, VariableLike)):
        if dtype is not None and x.dtype != to_dtype(namespace_of(value_of(x)), dtype):
            return cast(x, dtype)
        if isinstance(x, VariableLike) and not _stack:
            return x.value
        return x
    backend = _backend.current()
    if backend.is_array(x):
        return x if dtype is None else backend.asarray(x, dtype=dtype)
    if dtype is None and not is_array(x):
        dtype = _python_dtype(x)
    return backend.from_numpy(_backend.host_xp().asarray(x), dtype)


def _python_dtype(x):
    flat = x
    while isinstance(flat, (list, tuple)) and flat:
        flat = flat[0]
    if isinstance(flat, bool):
        return "bool"
    if isinstance(flat, int):
        return "int32"
    if isinstance(flat, float):
        return _config.floatx()
    return None


def convert_to_numpy(x):
    """A host NumPy array of ``x``. Inside a traced call this is an error for traced
    tensors and Variables: gradients cannot flow through NumPy."""
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, VariableLike):
        if _stack:
            raise _conversion_error("NumPy")
        x = x.value
    if is_array(x) and own_namespace(x) is not None:
        return _to_host(x)
    return _backend.host_xp().asarray(x)


def _cast_impl(x, dtype):
    xp = namespace_of(x)
    x = as_array(xp, x)
    return xp.astype(x, to_dtype(xp, dtype))


def _cast_vjp(g, out, x, dtype):
    xp = namespace_of(g)
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        return (None, None)
    return (xp.astype(g, x.dtype), None)


_cast = primitive("cast", _cast_impl, _cast_vjp)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a name such as "float32" or a dtype)."""
    return _cast(x, dtype)


def shape(x):
    """The shape of ``x`` as a tuple of ints."""
    return tuple(value_of(x).shape) if hasattr(value_of(x), "shape") else ()


def ndim(x):
    """The number of axes of ``x``."""
    return len(shape(x))


def size(x):
    """The number of entries of ``x``."""
    n = 1
    for s in shape(x):
        n *= s
    return n


def dtype(x):
    """The dtype name of ``x`` ("float32", ...), as Keras's ``standardize_dtype``."""
    text = str(value_of(x).dtype)
    return text.rsplit(".", 1)[-1]


def _shape(shape):
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def zeros(shape, dtype=None):
    """A tensor of zeros (``dtype`` default floatx)."""
    return _xp().zeros(_shape(shape), dtype=_dt(dtype, _config.floatx()), device=_dev())


def ones(shape, dtype=None):
    """A tensor of ones (``dtype`` default floatx)."""
    return _xp().ones(_shape(shape), dtype=_dt(dtype, _config.floatx()), device=_dev())


def empty(shape, dtype=None):
    """An uninitialized tensor (zeros here: the standard's ``empty`` values are arbitrary)."""
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    """A tensor filled with ``fill_value`` (``dtype`` default floatx, or int for an int)."""
    default = "int32" if isinstance(fill_value, int) and not isinstance(fill_value, bool) \
        else _config.floatx()
    return _xp().full(_shape(shape), value_of(fill_value) if not is_array(fill_value)
                      else float(value_of(fill_value)),
                      dtype=_dt(dtype, default), device=_dev())


def _like(name, fill):
    def impl(x, dtype=None):
        xp = namespace_of(x)
        x = as_array(xp, x)
        dt = to_dtype(xp, dtype) if dtype is not None else x.dtype
        return xp.full(tuple(x.shape), fill, dtype=dt, device=_device(x))
    op = primitive(name, impl)

    def public(x, dtype=None):
        return op(x, dtype=dtype)
    public.__name__ = public.__qualname__ = name
    public.__doc__ = f"A tensor of {fill}s with the shape (and dtype, unless given) of ``x``."
    return public


def _device(x):
    return array_api_compat.device(x)


zeros_like = _like("zeros_like", 0)
ones_like = _like("ones_like", 1)


def full_like(x, fill_value, dtype=None):
    """A tensor filled with ``fill_value`` with the shape (and dtype) of ``x``."""
    v = value_of(x)
    xp = namespace_of(v)
    v = as_array(xp, v)
    dt = to_dtype(xp, dtype) if dtype is not None else v.dtype
    return xp.full(tuple(v.shape), fill_value, dtype=dt, device=_device(v))


def empty_like(x, dtype=None):
    """A tensor of zeros shaped like ``x``."""
    return zeros_like(x, dtype=dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)``: int32 for int arguments, else floatx."""
    if stop is None:
        start, stop = 0, start
    floats = any(isinstance(v, float) for v in (start, stop, step))
    default = _config.floatx() if floats else "int32"
    return _xp().arange(start, stop, step, dtype=_dt(dtype, default), device=_dev())


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (scalars)."""
    out = _xp().linspace(float(start), float(stop), int(num), endpoint=endpoint,
                         dtype=_dt(dtype, _config.floatx()), device=_dev())
    if retstep:
        step = (float(stop) - float(start)) / max(int(num) - (1 if endpoint else 0), 1)
        return out, step
    return out


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    """A 2-D tensor with ones on the ``k``-th diagonal."""
    return _xp().eye(int(N), None if M is None else int(M), k=int(k),
                     dtype=_dt(dtype, _config.floatx()), device=_dev())


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix."""
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803
    """Ones at and below the ``k``-th diagonal."""
    xp = _xp()
    m = N if M is None else M
    return xp.tril(xp.ones((int(N), int(m)), dtype=_dt(dtype, _config.floatx()), device=_dev()), k=k)


def tril(x, k=0):
    """``x`` with the entries above the ``k``-th diagonal zeroed."""
    return _tri_mask(x, k, lower=True)


def triu(x, k=0):
    """``x`` with the entries below the ``k``-th diagonal zeroed."""
    return _tri_mask(x, k, lower=False)


def _tri_mask(x, k, lower):
    v = value_of(x)
    xp = namespace_of(v)
    ones_ = xp.ones(tuple(v.shape[-2:]), dtype=v.dtype, device=_device(v))
    mask = xp.tril(ones_, k=k) if lower else xp.triu(ones_, k=k)
    return multiply(x, mask)


def meshgrid(*x, indexing="xy"):
    """Coordinate matrices from coordinate vectors (not differentiable)."""
    values = [value_of(v) for v in x]
    return list(namespace_of(*values).meshgrid(*values, indexing=indexing))


__all__ = public_names(globals())
