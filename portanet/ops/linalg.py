"""Products: ``matmul``, ``dot``, ``tensordot``, ``einsum``, ``outer``, ``inner``, ``vdot``,
``trace``.

``einsum`` uses the namespace's own ``einsum`` where it has one (NumPy, CuPy) and, in a
namespace without it (array-api-strict), a portable product of broadcast operands summed
over the contracted labels. Its gradient with respect to one operand is an einsum of the
output gradient with the other operands.
"""

from ._dispatch import public_names, as_array, pair, primitive, unbroadcast
from .array import expand_dims, reshape, transpose
from .creation import eye
from .math import multiply, sum
from .tape import namespace_of


def _stacked_by_matrix(a, b):
    """True for (..., m, k) @ (k, n) with a of rank > 2: run as one 2-D GEMM over all
    leading axes (NumPy loops a small GEMM per leading index otherwise)."""
    return getattr(a, "ndim", 0) > 2 and getattr(b, "ndim", 0) == 2


def _matmul_impl(a, b):
    xp, a, b = pair(a, b)
    if _stacked_by_matrix(a, b):
        lead = tuple(a.shape[:-1])
        return xp.reshape(xp.reshape(a, (-1, a.shape[-1])) @ b, lead + (b.shape[-1],))
    return a @ b


def _matmul_vjp(g, out, a, b, _needs=(True, True)):
    xp = namespace_of(g)
    if _stacked_by_matrix(a, b) and hasattr(a, "shape"):
        g2 = xp.reshape(g, (-1, g.shape[-1]))
        da = (xp.reshape(g2 @ xp.matrix_transpose(b), tuple(a.shape))
              if _needs[0] else None)
        db = (xp.matrix_transpose(xp.reshape(a, (-1, a.shape[-1]))) @ g2
              if _needs[1] and hasattr(b, "shape") else None)
        return da, db
    a1 = a if a.ndim > 1 else xp.expand_dims(a, axis=0)
    b1 = b if b.ndim > 1 else xp.expand_dims(b, axis=-1)
    g1 = g
    if a.ndim == 1:
        g1 = xp.expand_dims(g1, axis=-2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        g1 = xp.expand_dims(g1, axis=-1)
    da = db = None
    if _needs[0] and hasattr(a, "shape"):
        da = g1 @ xp.matrix_transpose(b1)
        da = xp.reshape(unbroadcast(xp, da, a1.shape), tuple(a.shape))
    if _needs[1] and hasattr(b, "shape"):
        db = xp.matrix_transpose(a1) @ g1
        db = xp.reshape(unbroadcast(xp, db, b1.shape), tuple(b.shape))
    return da, db


matmul = primitive("matmul", _matmul_impl, _matmul_vjp, needs_mask=True)
matmul.__doc__ = "Matrix product with numpy's broadcasting and 1-D rules (``x1 @ x2``)."


def dot(x1, x2):
    """numpy's ``dot``: a product for scalars, ``matmul`` up to a 2-D ``x2``, otherwise a
    contraction of the last axis of ``x1`` with the second-to-last of ``x2``."""
    n1, n2 = len(x1.shape) if hasattr(x1, "shape") else 0, len(x2.shape) if hasattr(x2, "shape") else 0
    if n1 == 0 or n2 == 0:
        return multiply(x1, x2)
    if n2 <= 2:
        return matmul(x1, x2)
    return tensordot(x1, x2, axes=([n1 - 1], [n2 - 2]))


def tensordot(x1, x2, axes=2):
    """Sum of products over ``axes`` (an int: the last ``axes`` of x1 with the first of x2;
    or a pair of axis lists). Written with transpose, reshape and matmul."""
    n1, n2 = len(x1.shape), len(x2.shape)
    if isinstance(axes, int):
        a_axes = list(range(n1 - axes, n1))
        b_axes = list(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, int) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, int) else list(b_axes)
    a_axes = [a % n1 for a in a_axes]
    b_axes = [b % n2 for b in b_axes]
    if len(a_axes) != len(b_axes):
        raise ValueError(f"ops.tensordot: axes {a_axes} and {b_axes} have different lengths "
                         f"(shapes {tuple(x1.shape)} and {tuple(x2.shape)})")
    for a, b in zip(a_axes, b_axes):
        if x1.shape[a] != x2.shape[b]:
            raise ValueError(f"ops.tensordot: axis {a} of x1 (shape {tuple(x1.shape)}) and axis "
                             f"{b} of x2 (shape {tuple(x2.shape)}) differ in length")
    a_free = [i for i in range(n1) if i not in a_axes]
    b_free = [i for i in range(n2) if i not in b_axes]
    k = 1
    for a in a_axes:
        k *= x1.shape[a]
    a2 = reshape(transpose(x1, a_free + a_axes), (-1, k))
    b2 = reshape(transpose(x2, b_axes + b_free), (k, -1))
    out_shape = tuple(x1.shape[i] for i in a_free) + tuple(x2.shape[i] for i in b_free)
    return reshape(matmul(a2, b2), out_shape)


def outer(x1, x2):
    """Outer product of two vectors (flattened first)."""
    return matmul(expand_dims(reshape(x1, (-1,)), 1), expand_dims(reshape(x2, (-1,)), 0))


def inner(x1, x2):
    """Inner product over the last axes."""
    return tensordot(x1, x2, axes=([-1], [-1]))


def vdot(x1, x2):
    """Dot product of the flattened inputs."""
    return matmul(reshape(x1, (-1,)), reshape(x2, (-1,)))


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along a diagonal of ``x``."""
    v = x
    n, m = v.shape[axis1], v.shape[axis2]
    mask = eye(n, m, k=offset, dtype=str(v.dtype).rsplit(".", 1)[-1])
    nd = len(v.shape)
    moved = transpose(v, [i for i in range(nd) if i not in (axis1 % nd, axis2 % nd)]
                      + [axis1 % nd, axis2 % nd])
    return sum(multiply(moved, mask), axis=(-2, -1))


# ----------------------------------------------------------------- einsum
def _parse(subscripts, n):
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum {subscripts!r}: ellipsis is not supported")
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins = spec
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    if len(ins) != n:
        raise ValueError(f"einsum {subscripts!r} names {len(ins)} operands; got {n}")
    for term in ins:
        if len(set(term)) != len(term):
            raise ValueError(f"einsum {subscripts!r}: a label repeated within one operand "
                             "(a diagonal) is not supported")
    return ins, out


def _einsum_portable(xp, ins, out, arrays):
    labels = []
    for term in ins + [out]:
        for c in term:
            if c not in labels:
                labels.append(c)
    sizes = {}
    aligned = []
    for term, a in zip(ins, arrays):
        for c, s in zip(term, a.shape):
            sizes[c] = s
        order = [term.index(c) for c in labels if c in term]
        t = xp.permute_dims(a, tuple(order)) if order != list(range(len(order))) else a
        shape = tuple(sizes[c] if c in term else 1 for c in labels)
        aligned.append(xp.reshape(t, shape))
    prod = aligned[0]
    for t in aligned[1:]:
        prod = prod * t
    summed = tuple(i for i, c in enumerate(labels) if c not in out)
    if summed:
        prod = xp.sum(prod, axis=summed)
    kept = [c for c in labels if c in out]
    order = [kept.index(c) for c in out]
    return xp.permute_dims(prod, tuple(order)) if order != list(range(len(order))) else prod


def _einsum_arrays(xp, ins, out, arrays):
    native = getattr(xp, "einsum", None)
    if native is not None:
        return native(",".join(ins) + "->" + out, *arrays)
    return _einsum_portable(xp, ins, out, arrays)


def _einsum_impl(subscripts, *operands):
    xp = namespace_of(*operands)
    arrays = [as_array(xp, a) for a in operands]
    ins, out = _parse(subscripts, len(arrays))
    return _einsum_arrays(xp, ins, out, arrays)


def _einsum_vjp(g, result, subscripts, *operands):
    xp = namespace_of(g)
    ins, out = _parse(subscripts, len(operands))
    grads = [None]
    for i, (term, a) in enumerate(zip(ins, operands)):
        others = [t for j, t in enumerate(ins) if j != i]
        present = set(out).union(*others) if others else set(out)
        reduced = "".join(c for c in term if c in present)
        d = _einsum_arrays(xp, [out] + others, reduced,
                           [g] + [o for j, o in enumerate(operands) if j != i])
        # Labels only this operand had were summed away: broadcast the gradient back.
        for pos, c in enumerate(term):
            if c not in present:
                d = xp.expand_dims(d, axis=pos)
        grads.append(xp.broadcast_to(d, tuple(a.shape)))
    return tuple(grads)


_einsum = primitive("einsum", _einsum_impl, _einsum_vjp)


def einsum(subscripts, *operands):
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)`` (no ellipsis, no
    repeated label within one operand)."""
    return _einsum(subscripts, *operands)


__all__ = public_names(globals())
