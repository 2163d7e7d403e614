"""How an op is made: a forward on arrays, a vector-Jacobian product, and the wrapper
that records it on the tape only inside a trace.

``primitive(name, impl, vjp)`` returns the public op. ``impl(*values, **kw)`` computes
the output from plain arrays (namespace from the arrays); ``vjp(g, out, *values, **kw)``
returns one gradient (or None) per positional argument. Outside a trace the op is
``impl`` on the unwrapped arguments: no recording, no extra arrays.
"""

import array_api_compat

from .. import backend as _backend
from .. import config as _config
from .tape import (Tensor, VariableLike, TracedConversionError, _OPS, _stack,
                   namespace_of, own_namespace, paused, value_of)

_SCALARS = (bool, int, float)


class OpError(Exception):
    """Marks an error already described by an op (not wrapped again by outer ops)."""


class OpValueError(OpError, ValueError):
    pass


class OpTypeError(OpError, TypeError):
    pass


def _describe(values):
    parts = []
    for v in values:
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            parts.append(f"shape={tuple(v.shape)} dtype={_dtype_name(v.dtype)}")
        elif isinstance(v, (list, tuple)) and v and all(hasattr(e, "shape") for e in v):
            parts.append("[" + ", ".join(f"shape={tuple(e.shape)} dtype={_dtype_name(e.dtype)}"
                                         for e in v) + "]")
        else:
            parts.append(repr(v) if len(repr(v)) < 60 else type(v).__name__)
    return "; ".join(parts)


def _dtype_name(dtype):
    text = str(dtype)
    return text.rsplit(".", 1)[-1] if "array_api_strict" in text else text


def call(name, impl, values, kw):
    """``impl(*values, **kw)``; an error gets the op's name and its inputs' shapes/dtypes."""
    try:
        return impl(*values, **kw)
    except (OpError, TracedConversionError):
        raise
    except (ValueError, TypeError, IndexError) as e:
        cls = OpTypeError if isinstance(e, TypeError) else OpValueError
        raise cls(f"ops.{name}: {e} (inputs: {_describe(values)})") from e


def _call_on_values(tape, name, impl, values, kw):
    """``call`` inside a trace. With arrays watched TensorFlow-style (``tape.watch(a)``) the
    values may be those watched arrays themselves: ``impl`` runs with the tapes paused, so a
    public op it uses inside (silu's sigmoid) computes on them instead of tracing them again."""
    if tape.watched:
        with paused():
            return call(name, impl, values, kw)
    return call(name, impl, values, kw)


def primitive(name, impl, vjp=None, needs_mask=False):
    """The public op ``name``: ``impl`` on arrays, recorded with ``vjp`` inside a trace
    when any positional argument is traced (a Tensor of the tape or a Variable).
    ``needs_mask``: ``vjp`` also gets ``_needs`` (which arguments are traced), so it can skip
    gradients nobody reads (matmul's input gradient of a constant input)."""

    def op(*args, **kw):
        if not _stack:
            return call(name, impl, [value_of(a) for a in args], kw)
        tape = _stack[-1]
        if tape.watched:
            args = [tape.traced(a) for a in args]
        inputs = []
        any_traced = False
        for a in args:
            if (isinstance(a, Tensor) and a.tape is tape) or isinstance(a, VariableLike):
                inputs.append(a)
                any_traced = True
            else:
                inputs.append(None)
        values = [value_of(a) for a in args]
        out = _call_on_values(tape, name, impl, values, kw)
        if vjp is None or not any_traced:
            return out
        result = Tensor(out, tape)
        if needs_mask:
            needs = tuple(i is not None for i in inputs)
            tape.record(name, inputs, [result], lambda g: vjp(g, out, *values, _needs=needs, **kw))
        else:
            tape.record(name, inputs, [result], lambda g: vjp(g, out, *values, **kw))
        return result

    op.__name__ = op.__qualname__ = name
    op.impl = impl
    op.vjp = vjp
    _OPS[name] = op
    return op


def multi_primitive(name, impl, vjp):
    """Like ``primitive`` for an op returning a tuple of arrays; ``vjp(gs, outs, *values)``
    gets one gradient per output (None where the output was not used)."""

    def op(*args, **kw):
        if not _stack:
            return call(name, impl, [value_of(a) for a in args], kw)
        tape = _stack[-1]
        if tape.watched:
            args = [tape.traced(a) for a in args]
        inputs = [a if (isinstance(a, Tensor) and a.tape is tape) or isinstance(a, VariableLike)
                  else None for a in args]
        values = [value_of(a) for a in args]
        outs = _call_on_values(tape, name, impl, values, kw)
        if not any(i is not None for i in inputs):
            return outs
        results = [Tensor(o, tape) for o in outs]
        tape.record(name, inputs, results, lambda gs: vjp(gs, outs, *values, **kw),
                    multi_out=True)
        return type(outs)(results) if isinstance(outs, tuple) else results

    op.__name__ = op.__qualname__ = name
    op.impl = impl
    _OPS[name] = op
    return op


# ----------------------------------------------------------------- helpers for impls
def is_array(x):
    return hasattr(x, "shape") and hasattr(x, "dtype")


def as_array(xp, x, like=None, dtype=None):
    """``x`` as an array of ``xp`` (on ``like``'s device when given)."""
    if is_array(x) and own_namespace(x) is xp:
        if dtype is not None and x.dtype != dtype:
            return xp.astype(x, dtype)
        return x
    device = _device(like)
    if device is not None:
        return xp.asarray(x, dtype=dtype, device=device)
    return xp.asarray(x, dtype=dtype)


def _device(like):
    if like is None or not is_array(like):
        return None
    return array_api_compat.device(like)


def pair(a, b):
    """Two operands of a binary op as ``(xp, a, b)``: arrays of one namespace, Python
    scalars kept (the standard's operators take them), an integer array meeting a float
    scalar cast to the default float (Keras's promotion)."""
    xp = namespace_of(a, b)
    a_arr, b_arr = is_array(a), is_array(b)
    if a_arr and b_arr:
        return xp, as_array(xp, a), as_array(xp, b)
    if a_arr:
        a = as_array(xp, a)
        return xp, _promote_for(xp, a, b), b
    if b_arr:
        b = as_array(xp, b)
        return xp, a, _promote_for(xp, b, a)
    if isinstance(a, _SCALARS) and isinstance(b, _SCALARS):
        dtype = floatx_dtype(xp) if isinstance(a, float) or isinstance(b, float) else None
        return xp, as_array(xp, a, dtype=dtype), b
    return xp, as_array(xp, a), as_array(xp, b)


def _promote_for(xp, arr, scalar):
    if isinstance(scalar, float) and not isinstance(scalar, bool) and \
            not xp.isdtype(arr.dtype, ("real floating", "complex floating")):
        return xp.astype(arr, floatx_dtype(xp))
    return arr


def floatx_dtype(xp):
    return getattr(xp, _config.floatx())


def to_dtype(xp, dtype):
    """A namespace dtype from a name ("float32"), a dtype object or None (None)."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = {"float": "float64", "int": "int64"}.get(dtype, dtype)
        try:
            return getattr(xp, name)
        except AttributeError:
            raise OpValueError(f"dtype={dtype!r} is not a dtype of this backend") from None
    if dtype is float:
        return floatx_dtype(xp)
    if dtype is int:
        return xp.int64
    if dtype is bool:
        return xp.bool
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]
    return getattr(xp, name, dtype)


def unbroadcast(xp, g, shape):
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting)."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    if g.ndim == 2 and len(shape) == 1 and shape[0] == g.shape[1]:
        # A bias gradient: the backend's row sum (a ones-vector GEMM where that is faster).
        b = _backend.current()
        if b.xp is xp:
            return b.sum_rows(g)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = xp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, shape) if tuple(g.shape) != shape else g


def shape_of(x):
    return tuple(x.shape) if is_array(x) else ()


def normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else 0 for a in axis)


_HELPERS = {"as_array", "pair", "primitive", "multi_primitive", "is_array", "floatx_dtype",
            "to_dtype", "unbroadcast", "normalize_axis", "shape_of", "call", "namespace_of",
            "value_of", "public_names"}


def public_names(namespace):
    """The ops a module exports (its ``__all__``): public functions, not the helpers."""
    return sorted(n for n, v in namespace.items()
                  if not n.startswith("_") and callable(v) and not isinstance(v, type)
                  and n not in _HELPERS and getattr(v, "__module__", "").startswith("portanet.ops"))
