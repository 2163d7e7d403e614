"""keras.ops's linear algebra (keras/src/ops/linalg.py) over the Array API ``linalg``
extension: decompositions, inverses, solves and determinants, on stacks of matrices
(``(..., M, N)``).

Differentiable inside a trace: ``inv``, ``det``, ``slogdet``/``logdet``, ``solve``,
``solve_triangular``, ``cholesky``, ``eigh`` (distinct eigenvalues), ``svd`` (singular values
only, ``compute_uv=False``); ``pinv``, ``lstsq`` and ``cholesky_inverse`` are written with
those. ``eig`` (general, complex results) runs on the host: the standard has no general
eigendecomposition.
"""

from ..backend import host_math as _host_math
from ._dispatch import public_names, as_array, floatx_dtype, multi_primitive, primitive
from . import array as _a
from . import math as _m
from .linalg import matmul as _matmul
from .tape import _to_host, namespace_of, value_of

import array_api_compat


def _arr(x):
    xp = namespace_of(x)
    x = as_array(xp, x)
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        x = xp.astype(x, floatx_dtype(xp))
    return xp, x


def _check_square(name, x):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.{name}: x has shape {tuple(x.shape)}; expected square matrices (..., N, N)")


def _mT(xp, a):
    return xp.matrix_transpose(a) if hasattr(xp, "matrix_transpose") else xp.swapaxes(a, -1, -2)


# ----------------------------------------------------------------- inverse, determinant
def _inv_impl(x):
    xp, x = _arr(x)
    _check_square("inv", x)
    return xp.linalg.inv(x)


def _inv_vjp(g, out, x):
    xp = namespace_of(g)
    oT = _mT(xp, out)
    return (-(oT @ g @ oT),)


inv = primitive("inv", _inv_impl, _inv_vjp)
inv.__doc__ = "The inverse of square matrices."


def _det_impl(x):
    xp, x = _arr(x)
    _check_square("det", x)
    return xp.linalg.det(x)


def _det_vjp(g, out, x):
    xp = namespace_of(g)
    invT = _mT(xp, xp.linalg.inv(x))
    return ((g * out)[..., None, None] * invT,)


det = primitive("det", _det_impl, _det_vjp)
det.__doc__ = "The determinant of square matrices."


def _slogdet_impl(x):
    xp, x = _arr(x)
    _check_square("slogdet", x)
    res = xp.linalg.slogdet(x)
    return res.sign, res.logabsdet


def _slogdet_vjp(gs, outs, x):
    xp = namespace_of(x)
    g = gs[1]
    if g is None:
        return (None,)
    invT = _mT(xp, xp.linalg.inv(x))
    return (g[..., None, None] * invT,)


_slogdet = multi_primitive("slogdet", _slogdet_impl, _slogdet_vjp)


def slogdet(x):
    """(sign, log|det|) of square matrices."""
    return _slogdet(x)


def logdet(x):
    """log(det(x)) of positive-definite matrices (NaN where det <= 0)."""
    sign, logabs = slogdet(x)
    return _m.where(value_of(sign) > 0, logabs, float("nan"))


# ----------------------------------------------------------------- solves
def _solve_impl(a, b):
    xp, a = _arr(a)
    b = as_array(xp, b, like=a, dtype=a.dtype)
    _check_square("solve", a)
    if b.ndim == a.ndim - 1:
        return xp.linalg.solve(a, b[..., None])[..., 0]
    return xp.linalg.solve(a, b)


def _solve_vjp(g, out, a, b):
    xp = namespace_of(g)
    vec = out.ndim == a.ndim - 1
    g2 = g[..., None] if vec else g
    o2 = out[..., None] if vec else out
    db = xp.linalg.solve(_mT(xp, a), g2)
    da = -(db @ _mT(xp, o2))
    return da, (db[..., 0] if vec else db)


solve = primitive("solve", _solve_impl, _solve_vjp)
solve.__doc__ = "The solution x of a @ x = b."


def _solve_tri_impl(a, b, lower=False):
    xp, a = _arr(a)
    b = as_array(xp, b, like=a, dtype=a.dtype)
    a = xp.tril(a) if lower else xp.triu(a)
    if b.ndim == a.ndim - 1:
        return xp.linalg.solve(a, b[..., None])[..., 0]
    return xp.linalg.solve(a, b)


def _solve_tri_vjp(g, out, a, b, lower=False):
    xp = namespace_of(g)
    tri = xp.tril(a) if lower else xp.triu(a)
    da, db = _solve_vjp(g, out, tri, b)
    return (xp.tril(da) if lower else xp.triu(da)), db


_solve_triangular = primitive("solve_triangular", _solve_tri_impl, _solve_tri_vjp)


def solve_triangular(a, b, lower=False):
    """The solution x of a @ x = b for triangular ``a`` (only its ``lower`` or upper triangle is read)."""
    return _solve_triangular(a, b, lower=lower)


# ----------------------------------------------------------------- decompositions
def _cholesky_impl(x, upper=False):
    xp, x = _arr(x)
    _check_square("cholesky", x)
    L = xp.linalg.cholesky(x)
    if bool(xp.any(xp.isnan(L))):
        raise ValueError("ops.cholesky: the matrix is not positive definite")
    return _mT(xp, L) if upper else L


def _phi(xp, a):
    # Lower triangle with the diagonal halved.
    return xp.tril(a) - 0.5 * _diag_embed(xp, _diag(xp, a))


def _diag(xp, a):
    n = a.shape[-1]
    eye = xp.eye(n, dtype=a.dtype, device=array_api_compat.device(a))
    return xp.sum(a * eye, axis=-1)


def _diag_embed(xp, d):
    n = d.shape[-1]
    eye = xp.eye(n, dtype=d.dtype, device=array_api_compat.device(d))
    return d[..., None] * eye


def _cholesky_vjp(g, out, x, upper=False):
    xp = namespace_of(g)
    L = _mT(xp, out) if upper else out
    gL = _mT(xp, g) if upper else g
    # Murray (2016): Σ = L^-T Φ(L^T gL) L^-1, symmetrized.
    P = _phi(xp, _mT(xp, L) @ gL)
    Linv = xp.linalg.inv(L)
    S = _mT(xp, Linv) @ P @ Linv
    return (0.5 * (S + _mT(xp, S)),)


_cholesky = primitive("cholesky", _cholesky_impl, _cholesky_vjp)


def cholesky(x, upper=False):
    """The Cholesky factor of symmetric positive-definite matrices (lower, or upper with ``upper``)."""
    return _cholesky(x, upper=upper)


def cholesky_inverse(x, upper=False):
    """The inverse of A from its Cholesky factor ``x`` (A = L L^T, or U^T U with ``upper``)."""
    if upper:
        a = _matmul(_a.swapaxes(x, -1, -2), x)
    else:
        a = _matmul(x, _a.swapaxes(x, -1, -2))
    return inv(a)


def _eigh_impl(x):
    xp, x = _arr(x)
    _check_square("eigh", x)
    res = xp.linalg.eigh(x)
    return res.eigenvalues, res.eigenvectors


def _eigh_vjp(gs, outs, x):
    xp = namespace_of(x)
    w, v = outs
    gw, gv = gs
    vT = _mT(xp, v)
    inner = xp.zeros_like(x)
    if gw is not None:
        inner = inner + _diag_embed(xp, gw)
    if gv is not None:
        diff = w[..., None, :] - w[..., :, None]
        n = w.shape[-1]
        eye = xp.eye(n, dtype=x.dtype, device=array_api_compat.device(x))
        f = xp.where(eye > 0, xp.zeros_like(diff), 1.0 / xp.where(eye > 0, xp.ones_like(diff), diff))
        inner = inner + f * (vT @ gv)
    grad = v @ inner @ vT
    return (0.5 * (grad + _mT(xp, grad)),)


_eigh = multi_primitive("eigh", _eigh_impl, _eigh_vjp)


def eigh(x):
    """(eigenvalues ascending, eigenvectors) of symmetric (Hermitian) matrices."""
    return _eigh(x)


def eig(x):
    """(eigenvalues, eigenvectors) of general square matrices (complex; on the host)."""
    xp, xv = _arr(x)
    _check_square("eig", xv)
    w, v = _host_math.eig(_to_host(xv))
    dev = array_api_compat.device(xv)
    return xp.asarray(w, device=dev), xp.asarray(v, device=dev)


def qr(x, mode="reduced"):
    """(Q, R) of matrices; ``mode`` "reduced" or "complete"."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"ops.qr: mode={mode!r}; expected 'reduced' or 'complete'")
    xp, xv = _arr(x)
    res = xp.linalg.qr(xv, mode=mode)
    return res.Q, res.R


def _svd_vals_impl(x):
    xp, x = _arr(x)
    return xp.linalg.svdvals(x)


def _svd_vals_vjp(g, out, x):
    xp = namespace_of(g)
    res = xp.linalg.svd(x, full_matrices=False)
    return ((res.U * g[..., None, :]) @ res.Vh,)


_svdvals = primitive("svdvals", _svd_vals_impl, _svd_vals_vjp)


def svd(x, full_matrices=True, compute_uv=True):
    """(U, S, Vh) of matrices (``S`` only with ``compute_uv=False``, differentiable)."""
    if not compute_uv:
        return _svdvals(x)
    xp, xv = _arr(x)
    res = xp.linalg.svd(xv, full_matrices=full_matrices)
    return res.U, res.S, res.Vh


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse (singular values below ``rcond`` * largest dropped)."""
    xp, xv = _arr(x)
    if rcond is None:
        rcond = max(xv.shape[-2:]) * float(xp.finfo(xv.dtype).eps)
    return xp.linalg.pinv(xv, rtol=rcond)


def matrix_rank(x, tol=None):
    """The number of singular values above ``tol`` (default: max(M, N) * eps * largest)."""
    xp, xv = _arr(x)
    s = xp.linalg.svdvals(xv)
    if tol is None:
        tol = xp.max(s, axis=-1, keepdims=True) * max(xv.shape[-2:]) * float(xp.finfo(xv.dtype).eps)
    return xp.sum(xp.astype(s > tol, xp.int32), axis=-1)


def lstsq(a, b, rcond=None):
    """The least-squares solution x of a @ x ≈ b (``b`` 1-D or 2-D), through the pseudo-inverse."""
    xp, av = _arr(a)
    bv = as_array(xp, value_of(b), like=av, dtype=av.dtype)
    if av.ndim != 2 or bv.ndim not in (1, 2) or bv.shape[0] != av.shape[0]:
        raise ValueError(f"ops.lstsq: a has shape {tuple(av.shape)} and b {tuple(bv.shape)}; expected "
                         "a (M, N) matrix and b with M rows")
    return xp.linalg.pinv(av, rtol=rcond if rcond is not None else
                          max(av.shape) * float(xp.finfo(av.dtype).eps)) @ bv


def lu_factor(x):
    """(LU, pivots) with partial pivoting, as scipy.linalg.lu_factor: L (unit lower, below the
    diagonal) and U (upper) packed in one matrix; ``pivots[i]`` is the row swapped with row i."""
    xp, xv = _arr(x)
    _check_square("lu_factor", xv)
    if xv.ndim != 2:
        raise ValueError(f"ops.lu_factor: x has shape {tuple(xv.shape)}; expected one (N, N) matrix")
    n = xv.shape[0]
    dev = array_api_compat.device(xv)
    a = xp.asarray(xv, copy=True)
    rows = xp.arange(n, device=dev)
    piv = []
    for k in range(n):
        col = xp.abs(a[k:, k])
        p = int(xp.argmax(col)) + k
        piv.append(p)
        if p != k:
            perm = xp.where(rows == k, xp.full_like(rows, p), xp.where(rows == p, xp.full_like(rows, k), rows))
            a = xp.take(a, perm, axis=0)
        pivot = a[k, k]
        if float(pivot) != 0.0 and k + 1 < n:
            factors = a[k + 1:, k] / pivot
            below = a[k + 1:, :] - factors[:, None] * a[k, :][None, :]
            mask_col = xp.reshape(rows == k, (1, n))
            below = xp.where(mask_col, factors[:, None], below)
            below = xp.where(xp.reshape(rows < k, (1, n)), a[k + 1:, :], below)
            a = xp.concat([a[:k + 1, :], below], axis=0)
    return a, xp.asarray(piv, dtype=xp.int32, device=dev)


__all__ = public_names(globals())
