"""PROTOTYPE, not used by portanet (issue 18: tried and dropped; numbers in
bench/results/2026-12-02-issue18-notes.md). Kept so that a next attempt starts from a
correct implementation: ``python -m bench.winograd_prototype`` checks it against the NumPy
backend's direct convolution and times both (the first run compiles for minutes).

Winograd convolution for stride-1 3x3 kernels on NumPy, F(2x2, 3x3) and
F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).

For an output tile of m x m and a 3x3 kernel, Winograd's minimal filtering computes

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

from an input tile d of (m + 2) x (m + 2): (m + 2)² multiplications per tile and channel
pair instead of 9 m². Summed over the input channels, the products are (m + 2)² GEMMs
``V[k] (tiles, C) @ U[k] (C, F)``: 2.25x (m = 2) or 4x (m = 4) fewer multiply-adds than
the direct convolution's one GEMM, which on a 2-core CPU is most of a CNN's step.

Both gradients are Winograd too:

- kernel: dL/dg = Gᵀ [ Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B) ] G, i.e. (m + 2)² GEMMs
  ``V[k]ᵀ (C, tiles) @ D[k] (tiles, F)`` with a long inner dimension (BLAS's best case),
  reusing the forward's transformed input V;
- input: dx is the correlation of dz (read at an offset of -2, zero outside) with the
  kernel turned by 180° and its channel axes swapped: the forward algorithm again.

The tile transforms are small fixed linear maps, compiled with numba from the source
``kernel_source()`` generates (straight-line code per tile, channels in blocks of CB so
that LLVM vectorizes the transform). Why it lost on the bench machine: the transforms
cost more than the GEMM time they save (see the notes). The numerical error grows
with m (the transforms' coefficients reach 8 for m = 4); the tests bound it against the
direct path in float32 and float64.
"""

import os

import numpy as np

# Transform matrices (Lavin & Gray; the F(4x4, 3x3) points 0, ±1, ±2, ∞).
_MATRICES = {
    2: (((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1))),
    4: (((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
         (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
        ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
         (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
        ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))),
}

TILES = (2, 4)

# Channels handled together in the compiled tile loops: the tile is gathered into a flat
# buffer of (entries, CB) so that every access of the transform has a constant offset
# (LLVM vectorizes that loop; with row pointers of runtime stride it does not).
CB = 16


def matrices(m):
    """``(Bᵀ, G, Aᵀ)`` of F(m x m, 3x3) as float64 arrays."""
    bt, g, at = _MATRICES[m]
    return np.array(bt, float), np.array(g, float), np.array(at, float)


# --------------------------------------------------------------------------- code generation
def _constants(*mats):
    values = sorted({abs(float(v)) for mat in mats for v in np.ravel(mat)} - {0.0, 1.0})
    return values


def _linear(coefs, names, consts):
    terms = []
    for c, name in zip(coefs, names):
        c = float(c)
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        mag = abs(c)
        term = name if mag == 1 else f"k{consts.index(mag)} * {name}"
        terms.append((sign, term))
    if not terms:
        return "zero"
    first_sign, first = terms[0]
    text = ("-" if first_sign == "-" else "") + first
    for sign, term in terms[1:]:
        text += f" {sign} {term}"
    return text


def _transform_lines(left, right, src, dst, consts, indent):
    """Lines computing ``dst = left @ src @ rightᵀ`` on scalars ``{src}{i}_{j}``."""
    lines = []
    for i in range(left.shape[0]):
        for l in range(right.shape[1]):
            lines.append(f"{indent}t{i}_{l} = "
                         + _linear(left[i], [f"{src}{k}_{l}" for k in range(left.shape[1])], consts))
    for i in range(left.shape[0]):
        for j in range(right.shape[0]):
            lines.append(f"{indent}{dst}{i}_{j} = "
                         + _linear(right[j], [f"t{i}_{l}" for l in range(right.shape[1])], consts))
    return lines


def _tiles_in(name, mat, step, size, consts):
    """Kernel: tiles of ``size`` x ``size`` of x (N, H, W, C), read from (ty·step - oy,
    tx·step - ox) with zeros outside, each turned into ``mat @ tile @ matᵀ`` and stored as
    out[t] (q², C) for tile t = (n·th + ty)·tw + tx, q = mat.shape[0] (tile-major: a
    tile's rows are one contiguous block; plane-major rows, 36 streams a tile, made the
    output transform 4x slower)."""
    q = mat.shape[0]
    ind = " " * 24
    lines = [
        "@numba.njit(cache=True, nogil=True, error_model='numpy')",
        f"def {name}(x, out, oy, ox, th, tw, k):",
        "    N, H, W, C = x.shape",
        "    zero = k[0] * 0",
    ]
    lines += [f"    k{i} = k[{i}]" for i in range(len(consts))]
    lines += [
        f"    tb = np.zeros({size * size * CB}, x.dtype)",
        f"    ob = np.empty({q * q * CB}, x.dtype)",
        "    for n in range(N):",
        "        for ty in range(th):",
        f"            y0 = ty * {step} - oy",
        "            for tx in range(tw):",
        f"                x0 = tx * {step} - ox",
        "                t = (n * th + ty) * tw + tx",
        f"                inside = y0 >= 0 and x0 >= 0 and y0 + {size} <= H and x0 + {size} <= W",
        f"                for c0 in range(0, C, {CB}):",
        f"                    nc = min({CB}, C - c0)",
        f"                    for i in range({size}):",
        "                        yy = y0 + i",
        f"                        for j in range({size}):",
        "                            xx = x0 + j",
        f"                            base = (i * {size} + j) * {CB}",
        "                            if inside or (0 <= yy < H and 0 <= xx < W):",
        "                                for c in range(nc):",
        "                                    tb[base + c] = x[n, yy, xx, c0 + c]",
        "                            else:",
        "                                for c in range(nc):",
        "                                    tb[base + c] = zero",
        f"                    for c in range({CB}):",
    ]
    for i in range(size):
        for j in range(size):
            lines.append(f"{ind}d{i}_{j} = tb[{(i * size + j) * CB} + c]")
    lines += _transform_lines(mat, mat, "d", "v", consts, ind)
    for i in range(q):
        for j in range(q):
            lines.append(f"{ind}ob[{(i * q + j) * CB} + c] = v{i}_{j}")
    lines += [
        f"                    for r in range({q * q}):",
        "                        for c in range(nc):",
        f"                            out[t, r, c0 + c] = ob[r * {CB} + c]",
    ]
    return lines


def _tiles_out(name, mat, consts):
    """Kernel: the tiles M[t] (q², F) (tile-major, as ``_tiles_in`` writes) turned into m x m tiles ``mat @ tile @ matᵀ``
    (m = mat.shape[0]), plus ``bias`` when ``has_bias``, relu when ``relu``, written into
    y (N, Ho, Wo, F) where they fall inside it."""
    m, q = mat.shape
    ind = " " * 24
    lines = [
        "@numba.njit(cache=True, nogil=True, error_model='numpy')",
        f"def {name}(M, y, bias, has_bias, relu, th, tw, k):",
        "    N, Ho, Wo, F = y.shape",
        "    zero = k[0] * 0",
    ]
    lines += [f"    k{i} = k[{i}]" for i in range(len(consts))]
    lines += [
        f"    tb = np.empty({q * q * CB}, M.dtype)",
        f"    ob = np.empty({m * m * CB}, M.dtype)",
        "    for n in range(N):",
        "        for ty in range(th):",
        "            for tx in range(tw):",
        "                t = (n * th + ty) * tw + tx",
        f"                for f0 in range(0, F, {CB}):",
        f"                    nf = min({CB}, F - f0)",
        f"                    for r in range({q * q}):",
        "                        for c in range(nf):",
        f"                            tb[r * {CB} + c] = M[t, r, f0 + c]",
        f"                    for c in range({CB}):",
    ]
    for i in range(q):
        for j in range(q):
            lines.append(f"{ind}d{i}_{j} = tb[{(i * q + j) * CB} + c]")
    lines += _transform_lines(mat, mat, "d", "v", consts, ind)
    for i in range(m):
        for j in range(m):
            lines.append(f"{ind}ob[{(i * m + j) * CB} + c] = v{i}_{j}")
    lines += [
        f"                    for i in range({m}):",
        f"                        yy = ty * {m} + i",
        "                        if yy >= Ho:",
        "                            break",
        f"                        for j in range({m}):",
        f"                            xx = tx * {m} + j",
        "                            if xx >= Wo:",
        "                                break",
        f"                            base = (i * {m} + j) * {CB}",
        "                            if has_bias and relu:",
        "                                for c in range(nf):",
        "                                    v = ob[base + c] + bias[f0 + c]",
        "                                    y[n, yy, xx, f0 + c] = zero if v < zero else v",
        "                            elif has_bias:",
        "                                for c in range(nf):",
        "                                    y[n, yy, xx, f0 + c] = ob[base + c] + bias[f0 + c]",
        "                            elif relu:",
        "                                for c in range(nf):",
        "                                    v = ob[base + c]",
        "                                    y[n, yy, xx, f0 + c] = zero if v < zero else v",
        "                            else:",
        "                                for c in range(nf):",
        "                                    y[n, yy, xx, f0 + c] = ob[base + c]",
    ]
    return lines


_RELU_GRAD = '''
@numba.njit(cache=True, nogil=True, error_model='numpy')
def relu_grad(dy, y, dz, dbias, zero):
    """dz = dy where y > 0 else 0 (rows x F), and dbias += the column sums of dz (float64);
    ``zero`` is 0 in the arrays' dtype."""
    rows, F = dy.shape
    for r in range(rows):
        for f in range(F):
            v = dy[r, f] if y[r, f] > zero else zero
            dz[r, f] = v
            dbias[f] += v
'''


def kernel_source():
    """The text of ``_winograd_kernels.py`` (generated; see the module docstring)."""
    out = ['"""Generated by portanet.backend.winograd.kernel_source(); do not edit.',
           "",
           "The compiled tile transforms of the Winograd convolution (numba; imported only",
           'when numba is installed)."""',
           "",
           "import numba",
           "import numpy as np",
           "",
           f"CB = {CB}",
           ""]
    consts_table = {}
    for m in TILES:
        bt, _, at = matrices(m)
        for kind, lines_fn, args in (
                ("input", _tiles_in, (bt, m, m + 2)),
                ("grad", _tiles_in, (at.T.copy(), m, m)),
                ("output", _tiles_out, (at,))):
            name = f"{kind}_tiles_{m}"
            consts = _constants(args[0]) or [2.0]
            consts_table[name] = consts
            out += ["", ""] + lines_fn(name, *args, consts)
    out += ["", "", "CONSTANTS = {"]
    for name, consts in consts_table.items():
        out.append(f"    {name!r}: {tuple(consts)!r},")
    out += ["}", ""]
    out += _RELU_GRAD.strip("\n").splitlines()
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- runtime
_state = {}


def _enabled_tiles():
    """The tile sizes allowed by ``PORTANET_WINOGRAD`` ("0"/"off": none; "2" or "4": only
    that one; unset: both) and ``PORTANET_NUMBA`` ("0": none)."""
    numba_flag = os.environ.get("PORTANET_NUMBA", "1").strip().lower()
    if numba_flag in ("0", "false", "no", "off"):
        return ()
    flag = os.environ.get("PORTANET_WINOGRAD", "").strip().lower()
    if flag in ("0", "false", "no", "off", "none"):
        return ()
    if flag in ("2", "4"):
        return (int(flag),)
    return TILES


def kernels():
    """The compiled kernels module, or None when numba is not installed (or broken)."""
    if "module" not in _state:
        import types
        module = types.ModuleType("winograd_kernels")
        exec(kernel_source().replace("cache=True", "cache=False"), module.__dict__)
        _state["module"] = module
    return _state["module"]
# (kernels(): no numba import at this module's import; exec'd kernels cannot be cached, so
# every process compiles them again: minutes on the busy 2-core machine.)


def _constants_array(name, dtype):
    key = (name, np.dtype(dtype))
    arr = _state.get(key)
    if arr is None:
        arr = _state[key] = np.array(kernels().CONSTANTS[name], dtype=dtype)
    return arr


def choose_tile(batch, spatial, channels, filters, dtype):
    """The tile size m (2 or 4) for a stride-1 3x3 convolution of this shape, or None for
    the direct (im2col + GEMM) path. An untuned placeholder rule (C and F >= 16; F(4x4)
    where the output is at least 6 wide): the prototype never beat the direct path on the
    bench machine, so no shape was found where it should be chosen.
    """
    allowed = _enabled_tiles()
    if not allowed or kernels() is None or np.dtype(dtype) not in (np.float32, np.float64):
        return None
    if min(channels, filters) < 16 or len(spatial) != 2:
        return None
    out_h, out_w = spatial[0] - 2, spatial[1] - 2
    if out_h < 2 or out_w < 2:
        return None
    if 4 in allowed and min(out_h, out_w) >= 6:
        return 4
    return 2 if 2 in allowed else (4 if 4 in allowed else None)


def _kernel_transform(kernel, m):
    """U = G g Gᵀ for every channel pair: (q², C, F) from a (3, 3, C, F) kernel."""
    _, g, _ = matrices(m)
    q = g.shape[0]
    u = np.einsum("ai,ijcf,bj->abcf", g, kernel.astype(np.float64, copy=False), g)
    return np.ascontiguousarray(u.reshape(q * q, kernel.shape[2], kernel.shape[3]),
                                dtype=kernel.dtype)


def _kernel_untransform(du, m, dtype):
    """dg = Gᵀ dU G: (3, 3, C, F) from the (q², C, F) gradient of U."""
    _, g, _ = matrices(m)
    q = g.shape[0]
    du = du.reshape(q, q, du.shape[1], du.shape[2]).astype(np.float64, copy=False)
    return np.einsum("ai,abcf,bj->ijcf", g, du, g).astype(dtype)


def _gemm_numpy(c, a, b, accumulate, trans_b=False, trans_a=False):
    """``c (+)= op(a) @ op(b)`` with NumPy (the stand-in for the backend's BLAS gemm)."""
    prod = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if accumulate:
        c += prod
    else:
        c[...] = prod


def _correlate(x, u, m, oy, ox, out_shape, gemm, bias=None, relu=False, keep_tiles=False):
    """Winograd correlation of x (N, H, W, C) read from offset (-oy, -ox) with zeros
    outside, with the transformed kernel ``u`` (q², C, F), into a new (N, *out_shape, F)
    array (+ bias, relu). Returns ``(y, V)`` (V (tiles, q², C): the transformed input
    tiles, kept for the kernel gradient when ``keep_tiles``, else None)."""
    mod = kernels()
    n = x.shape[0]
    th, tw = -(-out_shape[0] // m), -(-out_shape[1] // m)
    q2 = (m + 2) ** 2
    tiles = n * th * tw
    dtype = x.dtype
    filters = u.shape[-1]
    xc = np.ascontiguousarray(x)
    v = np.empty((tiles, q2, x.shape[-1]), dtype)
    getattr(mod, f"input_tiles_{m}")(xc, v, oy, ox, th, tw,
                                     _constants_array(f"input_tiles_{m}", dtype))
    prod = np.empty((tiles, q2, filters), dtype)
    for k in range(q2):  # one GEMM per tile entry: (tiles, C) @ (C, F), strided rows
        gemm(prod[:, k, :], v[:, k, :], u[k], False)
    y = np.empty((n,) + tuple(out_shape) + (filters,), dtype)
    has_bias = bias is not None
    b = bias if has_bias else np.zeros((filters,), dtype)
    getattr(mod, f"output_tiles_{m}")(prod, y, b, has_bias, bool(relu), th, tw,
                                      _constants_array(f"output_tiles_{m}", dtype))
    return y, (v if keep_tiles else None)


def conv3x3(xpad, kernel, m, bias=None, relu=False, gemm=None):
    """Stride-1, undilated 3x3 convolution of a (padded) channels_last xpad (N, H, W, C)
    with a Keras kernel (3, 3, C, F), by Winograd F(m x m, 3x3), optionally + bias and
    relu. ``gemm(c, a, b, accumulate, trans_b=False, trans_a=False)`` computes
    ``c (+)= op(a) @ op(b)`` in place on row-major matrices with strided rows (the NumPy
    backend passes its BLAS call). Same contract as ``NumpyBackend.conv_stride1``: returns
    ``(y, backward)`` with ``backward(dy, want_dx) -> (dxpad or None, dkernel, dbias or
    None)``."""
    mod = kernels()
    gemm = gemm or _gemm_numpy
    dtype = xpad.dtype
    n, h, w, channels = xpad.shape
    filters = kernel.shape[-1]
    out_shape = (h - 2, w - 2)
    u = _kernel_transform(kernel, m)
    y, v = _correlate(xpad, u, m, 0, 0, out_shape, gemm, bias=bias, relu=relu, keep_tiles=True)

    def backward(dy, want_dx=True):
        dy = np.ascontiguousarray(dy, dtype=dtype)
        dbias = None
        if relu:
            dz = np.empty_like(dy)
            acc = np.zeros((filters,), np.float64)
            mod.relu_grad(dy.reshape(-1, filters), y.reshape(-1, filters),
                          dz.reshape(-1, filters), acc, dtype.type(0))
            if bias is not None:
                dbias = acc.astype(dtype)
        else:
            dz = dy
            if bias is not None:
                dbias = np.sum(dz.reshape(-1, filters), axis=0, dtype=np.float64).astype(dtype)
        th, tw = -(-out_shape[0] // m), -(-out_shape[1] // m)
        q2 = v.shape[1]
        d = np.empty((v.shape[0], q2, filters), dtype)
        name = f"grad_tiles_{m}"
        getattr(mod, name)(dz, d, 0, 0, th, tw, _constants_array(name, dtype))
        du = np.empty((q2, channels, filters), dtype)
        for k in range(q2):  # (C, tiles) @ (tiles, F): a long inner dimension
            gemm(du[k], v[:, k, :], d[:, k, :], False, trans_a=True)
        dkernel = _kernel_untransform(du, m, dtype)
        if not want_dx:
            return None, dkernel, dbias
        # dx = dz (zero-padded by 2) correlated with the kernel turned by 180°, C <-> F.
        flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
        dx, _ = _correlate(dz, _kernel_transform(flipped, m), m, 2, 2, (h, w), gemm)
        return dx, dkernel, dbias
    return y, backward


def _main():
    import time
    import portanet as pn
    from portanet.backend.numpy_backend import _gemm_into
    backend = pn.backend.get("numpy")
    rng = np.random.default_rng(0)

    def timed(fn, n=5):
        fn()
        times = []
        for _ in range(n):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        return sorted(times)[n // 2] * 1e3

    n, h, w, c, f = 64, 26, 26, 32, 64  # bench cnn's second convolution
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    k = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(np.float32)
    b = np.zeros(f, np.float32)
    dy = rng.standard_normal((n, h - 2, w - 2, f)).astype(np.float32)
    ref, ref_back = backend.conv_stride1(x, k, (1, 1), bias=b, relu=True)
    dref = ref_back(dy, True)
    for m in TILES:
        y, back = conv3x3(x, k, m, bias=b, relu=True, gemm=_gemm_into)
        grads = back(dy, True)
        err = [float(np.abs(a - r).max() / np.abs(r).max()) for a, r in
               zip((y,) + tuple(grads[:2]), (ref,) + tuple(dref[:2]))]
        print(f"F({m}x{m},3x3) relative errors y, dx, dkernel: {err}")
    for name, fn in [("direct", lambda: backend.conv_stride1(x, k, (1, 1), bias=b, relu=True))] + [
            (f"winograd F({m}x{m})", lambda m=m: conv3x3(x, k, m, bias=b, relu=True, gemm=_gemm_into))
            for m in TILES]:
        fw = timed(fn)
        _, back = fn()
        bw = timed(lambda: back(dy, True))
        print(f"{name}: forward {fw:.1f} ms, backward {bw:.1f} ms (CPU time)")


if __name__ == "__main__":
    _main()
