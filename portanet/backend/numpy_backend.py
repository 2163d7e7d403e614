"""NumPy backend (CPU). Overrides the portable services with NumPy's own fast paths."""

import collections
import itertools
import threading
import time

import numpy as np

from .base import Backend
from .fused_numpy import FAST_PATHS, _numba_module

def _find_numpy_cblas():
    """``{dtype: gemm}`` from the OpenBLAS that NumPy itself links (its wheels bundle
    ``scipy_openblas64_``), or {} when it cannot be found.

    np.matmul has no ``beta`` (C += A @ B in place). Calling the very library NumPy uses
    shares its thread pool: a second BLAS (scipy's own OpenBLAS) would bring a second
    pool of spinning threads, which on 2 cores made every step several times slower.
    """
    import ctypes
    import glob
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    candidates = sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))
                        + glob.glob(os.path.join(root, "scipy_openblas64*", "lib", "*openblas*.so*")))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
        found = {}
        # Only the ILP64 names (64-bit integer arguments), whose signature is certain.
        for dtype, names, scalar in ((np.float32, ("scipy_cblas_sgemm64_", "cblas_sgemm64_"), ctypes.c_float),
                                     (np.float64, ("scipy_cblas_dgemm64_", "cblas_dgemm64_"), ctypes.c_double)):
            for name in names:
                fn = getattr(lib, name, None)
                if fn is not None:
                    i64, ptr = ctypes.c_int64, ctypes.c_void_p
                    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, scalar,
                                   ptr, i64, ptr, i64, scalar, ptr, i64]
                    fn.restype = None
                    found[np.dtype(dtype)] = fn
                    break
        if len(found) == 2:
            _BLAS_THREADS.update(_thread_controls(lib))
            return found
    return {}


def _thread_controls(lib):
    """OpenBLAS's thread-count getter and setter and its pool shutdown from ``lib``, each
    only where the library has it (``{}`` for the rest)."""
    import ctypes
    controls = {}
    for key, names, restype, argtypes in (
            ("get", ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"), ctypes.c_int, []),
            ("set", ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads"), None, [ctypes.c_int]),
            ("shutdown", ("blas_thread_shutdown_",), ctypes.c_int, [])):
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype, fn.argtypes = restype, argtypes
                controls[key] = fn
                break
    return controls


_BLAS_THREADS = {}
_CBLAS = _find_numpy_cblas()
_COMPILED_GEMM = {}


def _compiled_gemm(dtype):
    """NumPy's cblas gemm of ``dtype`` as a ctypes function that numba-compiled code can
    call (``lstm_numba``'s time loops): the same entry point as ``_CBLAS``, its pointer
    arguments declared as int64 (compiled code passes ``arr.ctypes.data``; one register
    either way on a 64-bit ABI). None without NumPy's cblas."""
    import ctypes
    dtype = np.dtype(dtype)
    fn = _CBLAS.get(dtype)
    if fn is None:
        return None
    if dtype not in _COMPILED_GEMM:
        i64 = ctypes.c_int64
        scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64,
                                 scalar, i64, i64, i64, i64, scalar, i64, i64)
        _COMPILED_GEMM[dtype] = proto(ctypes.cast(fn, ctypes.c_void_p).value)
    return _COMPILED_GEMM[dtype]
# conv_stride1 is offered as a fast path only with the in-place gemm: its input gradient is
# one accumulating gemm per kernel offset, which the NumPy fallback of _gemm_into turns
# into a temporary and an add per offset (the portable col2im is faster then).
GEMM_INTO_IN_PLACE = bool(_CBLAS)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# conv_stride1 builds the columns of this many output rows at a time (whole images, at
# least one): a chunk's columns, its output and, backward, its masked gradient and the
# columns' gradient stay in a core's cache between the copy and the GEMMs. With a chunk as
# one compiled call (2026-12-03), one image of cnn's 26x26x32 (576 rows, 663 KB of
# columns) beat 2,560 rows: cnn B64 in one process, 2 threads, three A/B runs: 58.6-61.4
# against 66.5-67.4 ms a step; one Conv2D forward + backward, 2 threads: 26x26x32 -> 64
# 43.9 against 52.1 ms, 30x30x64 -> 64 104 against 129, 14x14x64 -> 128 37.3 against
# 44.1, 30x30x16 -> 32 23.8 against 27.8 (1,152 rows in between; 144-288 no better).
# The NumPy chunks (no numba) measured alike at 576-2,560 rows.
_IM2COL_ROWS = 576
# im2col copies offset by offset (one strided copy each) below this many input channels, the
# whole window view at once from it: 64 images of 28x28x1, 3x3: 0.68 ms instead of 1.46;
# of 26x26x32: 12.8 instead of 4.2 (one thread).
_IM2COL_SLICES_BELOW = 8
# Below _IM2COL_SLICES_BELOW channels, the whole batch's columns are built at once and kept
# for the backward when they take at most this many bytes (conv_stride1).
_FULL_COLS_MAX_BYTES = 16 << 20
# With the columns built already, a chunk is only GEMMs and compiled passes: larger chunks,
# fewer Python calls between them (cnn A/B, two runs: 8,192 rows 45.8 / 49.2 ms a step,
# 2,560 rows 47.9 / 50.7).
_FULL_COLS_CHUNK_ROWS = 8192
# conv_stride1's chunks as one compiled call each (conv_numba.forward_chunk/backward_chunk)
# where numba and NumPy's cblas are there; False: NumPy calls per chunk.
_COMPILED_CHUNKS = True


def _gemm_into(c, a, b, accumulate, trans_b=False, trans_a=False):
    """``c = op(a) @ op(b)`` or ``c += op(a) @ op(b)`` in place (op: transpose when
    ``trans_a`` / ``trans_b``) for row-major float32/float64 matrices whose rows are
    contiguous (row slices of C arrays): NumPy's own BLAS gemm with beta, else a NumPy
    fallback."""
    gemm = _CBLAS.get(c.dtype)
    item = c.itemsize
    lds = [_leading_dimension(arr, item) for arr in (a, b, c)]
    if gemm is None or None in lds or a.dtype != c.dtype or b.dtype != c.dtype:
        prod = (a.T if trans_a else a) @ (b.T if trans_b else b)
        if accumulate:
            c += prod
        else:
            c[...] = prod
        return
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    gemm(_ROW_MAJOR, _TRANS if trans_a else _NO_TRANS, _TRANS if trans_b else _NO_TRANS, m, n, k,
         1.0, a.ctypes.data, lds[0], b.ctypes.data, lds[1],
         1.0 if accumulate else 0.0, c.ctypes.data, lds[2])


def _leading_dimension(arr, item):
    """The row pitch (in elements) BLAS needs for a row-major 2-D ``arr``, or None when its
    rows are not contiguous or its pitch is not a valid one (then the NumPy fallback runs).
    An axis of length 1 may carry any stride (even 0 or negative): it is never stepped."""
    rows, cols = arr.shape
    if cols > 1 and arr.strides[1] != item:
        return None
    if rows <= 1:
        return max(1, cols)
    pitch, rem = divmod(arr.strides[0], item)
    return pitch if rem == 0 and pitch >= max(1, cols) else None


_local = threading.local()


def _scratch(role, shape, dtype):
    """A per-thread scratch array of ``shape`` for one role, reused across calls (its
    contents are garbage; nothing may keep it past the call that asked for it)."""
    pool = _local.__dict__.setdefault("scratch", {})
    size = int(np.prod(shape, dtype=np.int64))
    buf = pool.get((role, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = pool[(role, np.dtype(dtype))] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


_split_lock = threading.Lock()
_split_pool = []


def _split_threads():
    """How many threads a chunked kernel (conv_stride1) splits its chunks over: NumPy's
    OpenBLAS thread count, when portanet can set it to one and shut its pool down for the
    time of the split, and no other Python thread is alive (one might be inside a threaded
    BLAS call, which the shutdown must not meet); else 1. ``PORTANET_SPLIT=0`` keeps one
    thread."""
    import os
    if (len(_BLAS_THREADS) < 3
            or os.environ.get("PORTANET_SPLIT", "1").strip().lower() in ("0", "false", "no", "off")):
        return 1
    ours = len(_split_pool[1]._threads) if _split_pool and _split_pool[0] == os.getpid() else 0
    if threading.active_count() > 1 + ours:
        return 1
    if _split_backoff[0] > 0:      # recent splits cost too much here (see _run_split)
        _split_backoff[0] -= 1
        return 1
    return max(1, int(_BLAS_THREADS["get"]()))


# Splitting pauses where it does not pay: when the split's own cost (BLAS pool shutdown and
# restart, waking the pool's thread) summed over the last _SPLIT_WINDOW splits passes
# _SPLIT_MAX_SHARE of the work this thread did in them (a split of 2·w of work over two
# threads saves about w - cost), the next _SPLIT_BACKOFF calls run on one thread, then it
# is measured again. On an oversubscribed virtual machine a thread hand-over took 1-14 ms
# instead of ~0.25 ms and splits made the lstm bench's step 2-3x slower; on the same machine
# with hand-overs of ~0.2 ms (p90 0.4, an odd one 2.4 ms) a pause after any single split
# over 1 ms (the rule before) kept splitting off most of the time
# (bench/results/2026-12-02-xeon2-issue18-night-notes.md, -2026-12-03-xeon2-notes.md).
_SPLIT_MAX_SHARE = 0.5
_SPLIT_WINDOW = 8
_SPLIT_BACKOFF = 200
_split_backoff = [0]
_split_history = collections.deque(maxlen=_SPLIT_WINDOW)


class _SharedChunks:
    """The chunks of one split, handed out one at a time to whichever thread asks next
    (an iterator shared by the split's threads)."""

    def __init__(self, chunks):
        self._next = iter(chunks)
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._next)


def _run_split(fn, chunks, threads):
    """``fn(source)`` on at most ``threads`` threads at once, one this thread and the rest
    portanet's pool, each with single-threaded BLAS (``threads`` from ``_split_threads``);
    ``source`` is one iterator over ``chunks`` shared by all of them, so each thread takes
    the next chunk when it is done with its last (``fn`` must take any subset of the
    chunks, in order, and may get none). Returns the threads' results, this thread's first.

    Why chunks are handed out rather than cut into one part per thread: the two vCPUs of
    the bench VM ran the same GEMMs at different speeds (one 1.1-1.8x slower, 2026-12-03),
    and with fixed halves the split waited on the slow one (cnn's second convolution:
    backward 29.8 ms on one thread, 41.1 on the other). A thread that is slow to wake also
    finds its chunks taken instead of holding the others up.

    Why OpenBLAS's own pool is shut down for the time of the split: after a threaded
    GEMM, its worker spins for ~0.1 s (2^28 cycles) waiting for more work and takes a core
    from the split; on the 2-core bench machine a split with the worker spinning was
    slower than no split (bench/results/2026-12-02-xeon2-issue18-notes.md). The shutdown
    (``blas_thread_shutdown_``, what OpenBLAS itself runs before a fork) joins it; setting
    the thread count back afterwards starts it again."""
    from concurrent.futures import ThreadPoolExecutor
    threads = min(max(threads, 1), len(chunks))
    if threads < 2:
        return [fn(chunks)]
    source = _SharedChunks(chunks)
    import os
    with _split_lock:
        # (A forked child inherits the pool object but not its threads: a new pool there.)
        if (not _split_pool or _split_pool[0] != os.getpid()
                or _split_pool[1]._max_workers < threads - 1):
            _split_pool[:] = [os.getpid(), ThreadPoolExecutor(
                threads - 1, thread_name_prefix="portanet-split")]
        pool = _split_pool[1]
        clock = time.perf_counter
        t0 = clock()
        before = int(_BLAS_THREADS["get"]())
        _BLAS_THREADS["set"](1)
        _BLAS_THREADS["shutdown"]()
        started = []

        def part_fn(part, submitted):
            started.append(clock() - submitted)     # the hand-over's latency
            return fn(part)
        cost = clock() - t0
        work = 0.0
        try:
            futures = [pool.submit(part_fn, source, clock()) for _ in range(threads - 1)]
            try:
                t1 = clock()
                first = fn(source)
                work = clock() - t1
            finally:
                for f in futures:   # every part has finished before BLAS changes back
                    f.exception()
            return [first] + [f.result() for f in futures]
        finally:
            t1 = clock()
            _BLAS_THREADS["set"](before)
            cost += clock() - t1 + max(started, default=0.0)
            _split_history.append((cost, work))
            if (len(_split_history) == _split_history.maxlen
                    and sum(c for c, _ in _split_history)
                    > _SPLIT_MAX_SHARE * sum(w for _, w in _split_history)):
                _split_backoff[0] = _SPLIT_BACKOFF
                _split_history.clear()


# The LSTM's rows are split over threads (``_split_rows``) only when each part keeps at
# least this many: its per-step GEMM (rows x 128) @ (128 x 512) must stay worth a core.
_SPLIT_MIN_ROWS = 16


# conv_stride1 splits its chunks of images over threads when its output has at least
# this many values (smaller ones do not repay the ~0.25 ms a split costs).
_SPLIT_MIN_CONV = 1 << 19
# Max pooling splits its images over threads when each part has at least this many values.
_SPLIT_MIN_POOL = 1 << 19


def _split_rows(fn, batch, *args, min_rows=None, pieces=None):
    """``fn(*args, b0, b1)`` over row ranges covering [0, batch): one range per thread of
    ``_split_threads`` (run by ``_run_split``) with at least ``min_rows`` rows each
    (default ``_SPLIT_MIN_ROWS``), or up to ``pieces`` ranges of that many rows, which the
    threads take in turn as each finishes one (a slower core then does fewer), or one
    range."""
    min_rows = min_rows or _SPLIT_MIN_ROWS
    threads = min(_split_threads(), batch // min_rows)
    if threads < 2:
        fn(*args, 0, batch)
        return
    ranges_n = max(threads, min(pieces or threads, batch // min_rows))
    bounds = [batch * i // ranges_n for i in range(ranges_n + 1)]
    ranges = list(zip(bounds[:-1], bounds[1:]))
    _run_split(lambda part: [fn(*args, b0, b1) for b0, b1 in part], ranges, threads)


def _col2im_kernel(ksize):
    """``conv_numba.col2im_add`` for 1-D and 2-D kernels, or None (no numba,
    ``PORTANET_NUMBA=0``, ``PORTANET_COL2IM=0``, or 3-D: the per-offset gemms then)."""
    import os
    if len(ksize) > 2 or os.environ.get("PORTANET_COL2IM", "1").strip() == "0":
        return None
    mod = _numba_module("conv_numba")
    return None if mod is None else mod.col2im_add


class KerasMaskedArray(np.ndarray):
    """An eager layer output carrying its Keras mask (``x._keras_mask``, as a TensorFlow
    or JAX array does in Keras). A view of the output: it prints like it, and what NumPy
    computes from it is a plain ndarray without the mask."""

    _keras_mask = None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        if return_scalar:
            return array[()]
        return array.view(np.ndarray) if isinstance(array, np.ndarray) else array

    def __repr__(self):
        return repr(self.view(np.ndarray))


class NumpyBackend(Backend):
    name = "numpy"

    def attach_keras_mask(self, x, mask):
        if type(x) is np.ndarray:
            x = x.view(KerasMaskedArray)
        elif not isinstance(x, KerasMaskedArray):
            return super().attach_keras_mask(x, mask)
        x._keras_mask = mask
        return x

    def _make_namespace(self):
        import array_api_compat.numpy as xp
        return xp

    # Bias gradients: OpenBLAS's gemv reads a (rows, cols) array faster than NumPy's
    # axis-0 sum, which loops over the rows with a short inner loop: bench cnn, 36,864 x 64
    # float32: 0.44 ms instead of 0.87; a convolution chunk's 2,028 x 32: 5 us instead of
    # 40 (21 of them a conv backward); Dense's 64 x 128: 1.5 us instead of 3 (2026-12-03,
    # one or two BLAS threads alike).
    sum_rows_gemm_min = 16

    def is_array(self, x):
        return isinstance(x, np.ndarray)

    def from_numpy(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(np.dtype(dtype), copy=False)
        return a

    def to_numpy(self, x):
        self.to_host_calls += 1
        return np.asarray(x)

    def fused_paths(self):
        paths = {**super().fused_paths(), **FAST_PATHS,
                "conv_windows": self.conv_windows, "slice_add": self.slice_add,
                "pool_first_max": self.pool_first_max}
        if GEMM_INTO_IN_PLACE:
            paths["conv_stride1"] = self.conv_stride1
        # Returns None (the NumPy loop) where numba is missing: numba is imported on the
        # first LSTM call, not here.
        paths["lstm_steps"] = self.lstm_steps
        paths["split_rows"] = self.split_rows
        paths["max_pool2d"] = self.max_pool2d
        paths["layer_norm"] = self.layer_norm
        paths["softmax_backward"] = self.softmax_backward
        paths["softmax"] = self.softmax
        return paths

    def softmax(self, s):
        """Softmax over the last axis of a float32 NumPy array in one compiled loop per row
        (``norm_numba.softmax_forward_f32``: a vectorized exp within a few ulps of NumPy's),
        or None (the portable path) without numba, for float64 or anything else, or where
        a row holds a NaN or an infinity (the portable path's NaN/inf rules then apply).
        bench transformer's scores (128·64, 64), one thread: 1.1 ms instead of 2.8."""
        mod = _numba_module("norm_numba")
        if (mod is None or not isinstance(s, np.ndarray) or s.dtype != np.float32
                or s.ndim < 1 or s.shape[-1] == 0):
            return None
        d = s.shape[-1]
        sc = np.ascontiguousarray(s).reshape(-1, d)
        p = np.empty_like(sc)
        mod.softmax_forward_f32(sc, p, np.empty(d, np.int32))
        if not np.isfinite(p.sum()):  # only a NaN/inf input can give a non-finite row
            return None
        return p.reshape(s.shape)

    def layer_norm(self, x, gamma, beta, epsilon):
        """Layer normalisation over the last axis of ``x`` (any rank) in two compiled loops
        (``norm_numba.py``; numba, the optional ``fast`` extra): ``gamma``/``beta`` (d,) or
        None. Returns ``(y, backward)`` with ``backward(dy) -> (dx, dgamma, dbeta)``
        (dgamma/dbeta None where the layer has none), or None (the portable path) without
        numba or for anything but float32/float64 NumPy arrays of one dtype.
        bench transformer's (32, 64, 128) float32, one thread, CPU time on the busy
        machine: forward + backward 0.45 ms instead of NumPy's 3.9 ms."""
        mod = _numba_module("norm_numba")
        if (mod is None or not isinstance(x, np.ndarray) or x.ndim < 1 or x.shape[-1] == 0
                or x.dtype not in (np.float32, np.float64)):
            return None
        d = x.shape[-1]
        for w in (gamma, beta):
            if w is not None and (not isinstance(w, np.ndarray) or w.dtype != x.dtype
                                  or w.shape != (d,)):
                return None
        shape = x.shape
        x2 = np.ascontiguousarray(x).reshape(-1, d)
        g = np.ones(d, x.dtype) if gamma is None else np.ascontiguousarray(gamma)
        b = np.zeros(d, x.dtype) if beta is None else np.ascontiguousarray(beta)
        y = np.empty_like(x2)
        xhat = np.empty_like(x2)
        inv = np.empty(x2.shape[0], x.dtype)
        mod.layer_norm_forward(x2, g, b, float(epsilon), y, xhat, inv)

        def backward(dy):
            dyc = np.ascontiguousarray(dy, dtype=x.dtype).reshape(-1, d)
            dx = np.empty_like(dyc)
            dgamma = np.empty(d, x.dtype)
            dbeta = np.empty(d, x.dtype)
            mod.layer_norm_backward(dyc, xhat, inv, g, dx, dgamma, dbeta)
            return (dx.reshape(shape), None if gamma is None else dgamma,
                    None if beta is None else dbeta)
        return y.reshape(shape), backward

    def softmax_backward(self, p, dp):
        """``p·(dp - Σ dp·p)`` over the last axis (the softmax's input gradient) in one
        compiled loop (``norm_numba.py``), or None (the portable path) without numba or
        for anything but float32/float64 NumPy arrays of one dtype and shape."""
        mod = _numba_module("norm_numba")
        if (mod is None or not isinstance(p, np.ndarray) or not isinstance(dp, np.ndarray)
                or p.dtype not in (np.float32, np.float64) or dp.dtype != p.dtype
                or dp.shape != p.shape or p.ndim < 1 or p.shape[-1] == 0):
            return None
        d = p.shape[-1]
        pc = np.ascontiguousarray(p).reshape(-1, d)
        ds = np.empty_like(pc)
        mod.softmax_backward(pc, np.ascontiguousarray(dp).reshape(-1, d), ds)
        return ds.reshape(p.shape)

    def max_pool2d(self, x, pool, training=True):
        """Non-overlapping 2-D max pooling of the tiled part ``x`` (N, oh·ph, ow·pw, C) of a
        channels_last input, as two compiled loops (``pool_numba.py``; numba, the optional
        ``fast`` extra): returns ``(y, backward)`` with ``backward(dy) -> dx`` (x's shape;
        dy to each window's first maximum, as "pool_first_max"), or None (the portable
        path) without numba or for anything but float32/float64 NumPy arrays. With
        ``training`` the forward keeps each window's offset of its maximum (int16) and the
        backward reads only those and dy; without, the forward is a little faster and the
        backward compares x with y. bench cnn's pooling (64x24x24x64 float32, one thread):
        forward + backward 2.2 ms with the offsets, 3.3-3.5 without (pool_numba.py)."""
        mod = _numba_module("pool_numba")
        if (mod is None or not isinstance(x, np.ndarray) or x.ndim != 4
                or x.dtype not in (np.float32, np.float64) or len(pool) != 2):
            return None
        ph, pw = int(pool[0]), int(pool[1])
        n, h, w, channels = x.shape
        if h % ph or w % pw or ph * pw > 2 ** 30:
            return None
        xc = np.ascontiguousarray(x)
        y = np.empty((n, h // ph, w // pw, channels), x.dtype)
        first = (np.empty(y.shape, np.int16 if ph * pw < 2 ** 15 else np.int32)
                 if training else None)
        # Images split over threads (_split_rows) for a large activation only: a split
        # costs ~0.25 ms (the BLAS pool's shutdown and restart, the hand-over).
        per_part = max(1, -(-_SPLIT_MIN_POOL // max(xc[0].size, 1)))
        if first is not None:
            _split_rows(lambda b0, b1: mod.forward_argmax(xc[b0:b1], y[b0:b1], first[b0:b1],
                                                          ph, pw), n, min_rows=per_part)
        else:
            _split_rows(lambda b0, b1: mod.forward(xc[b0:b1], y[b0:b1], ph, pw), n,
                        min_rows=per_part)

        def backward(dy):
            dyc = np.ascontiguousarray(dy, dtype=x.dtype)
            dx = np.empty(xc.shape, x.dtype)
            zero = x.dtype.type(0)
            if first is not None:
                _split_rows(lambda b0, b1: mod.backward_argmax(
                    first[b0:b1], dyc[b0:b1], dx[b0:b1], ph, pw, zero), n, min_rows=per_part)
                return dx
            _split_rows(lambda b0, b1: mod.backward(
                xc[b0:b1], y[b0:b1], dyc[b0:b1], dx[b0:b1], np.empty((channels,), np.int32),
                ph, pw, zero), n, min_rows=per_part)
            return dx
        return y, backward

    def split_rows(self, fn, n, min_rows=1, pieces=None):
        """``fn(b0, b1)`` over row ranges covering [0, n), on two or more threads with
        single-threaded BLAS each when the split applies (``_split_threads``, at least
        ``min_rows`` rows a range, up to ``pieces`` ranges handed out in turn), else once
        over [0, n). ``fn`` must write only its rows of any shared output. Used by the
        attention products (MultiHeadAttention)."""
        _split_rows(fn, n, min_rows=max(1, int(min_rows)),
                    pieces=None if pieces is None else max(1, int(pieces)))

    def lstm_steps(self, proj, rk, h0, c0, bias=None):
        """The default LSTM's time loop (``layers/recurrent/lstm.py``, ``_fast_sequence``)
        as one BLAS gemm and one compiled loop per step (``lstm_numba.py``; numba, the
        optional ``fast`` extra). ``proj`` (steps, batch, 4u) is the scaled input
        projection, ``bias`` (4u,) the scaled bias (None: none, or in proj already; added
        inside the loop, which saves a pass over proj: bench lstm's 2,048 x 512, 0.7 ms),
        ``rk`` (u, 4u) the scaled recurrent kernel, h0/c0 the initial states. Returns
        ``(hs, c, keep, backward)`` (``lstm_numba.run_forward``;
        ``backward(rk_t, d_seq, dh, dc) -> (q_buf, dh0, dc0)``), or None for anything but
        float32 NumPy arrays (float64 keeps NumPy's tanh; see the module docstring).
        bench lstm (batch 64, 32 steps, 128 units, one thread): see
        bench/results/2026-12-02-issue18-notes.md."""
        mod = _numba_module("lstm_numba")
        arrays = (proj, rk, h0, c0) + (() if bias is None else (bias,))
        gemm = _compiled_gemm(np.float32)
        if mod is None or gemm is None or not all(
                isinstance(a, np.ndarray) and a.dtype == np.float32 for a in arrays):
            return None
        hs, c, keep = mod.run_forward(proj, rk, h0, c0, gemm, _split_rows, bias=bias)

        def backward(rk_t, d_seq, dh, dc):
            return mod.run_backward(keep, np.asarray(rk_t, dtype=np.float32), d_seq, dh, dc,
                                    gemm, _split_rows)
        return hs, c, keep, backward

    def scatter_add(self, target, indices, values):
        out = target.copy()
        np.add.at(out, indices.reshape(-1), values.reshape((-1,) + target.shape[1:]))
        return out

    # Convolution windows (the fast path of portanet/layers/_windows.py; its portable path
    # stacks one slice per kernel offset). One strided view copied once is ~2x faster than
    # stacking slices, and an in-place add into a view beats slice assignment (col2im).
    def conv_windows(self, x, kernel, strides, dilation, out):
        """im2col of a channels_last array: (N, *out, K, C), K = prod(kernel) row-major."""
        nd = len(kernel)
        st = x.strides
        shape = (x.shape[0],) + tuple(out) + tuple(kernel) + (x.shape[-1],)
        steps = ((st[0],) + tuple(st[1 + i] * strides[i] for i in range(nd))
                 + tuple(st[1 + i] * dilation[i] for i in range(nd)) + (st[-1],))
        view = np.lib.stride_tricks.as_strided(x, shape, steps, writeable=False)
        return view.reshape(shape[:1 + nd] + (-1, x.shape[-1]))

    def slice_add(self, dst, index, value):
        """``dst[index] += value`` in place (no temporary); returns dst."""
        view = dst[index]
        np.add(view, value, out=view)
        return dst

    def pool_first_max(self, x, y, dy, pool):
        """Gradient of non-overlapping max pooling (strides == pool_size) on the tiled part
        ``x`` (N, o0*p0, ..., C) of a channels_last input: ``dy`` goes to the first maximum
        (row-major) of each window. One comparison against ``y`` over the whole input,
        ties settled in place on boolean views, one multiply: about half the time of the
        portable per-offset path (bench cnn: 64x24x24x64, 2.5 ms instead of 4-7 ms)."""
        out = tuple(y.shape[1:-1])
        tiled = (x.shape[0],) + tuple(v for o, p in zip(out, pool) for v in (o, p)) + (x.shape[-1],)
        kept = (y.shape[0],) + tuple(v for o in out for v in (o, 1)) + (y.shape[-1],)
        first = np.equal(np.reshape(x, tiled), np.reshape(y, kept))
        taken = None
        for offset in itertools.product(*(range(p) for p in pool)):
            index = ((slice(None),) + tuple(v for o in offset for v in (slice(None), o))
                     + (slice(None),))
            view = first[index]
            if taken is None:
                taken = view.copy()
            else:
                np.greater(view, taken, out=view)  # a hit only where no earlier offset hit
                np.logical_or(taken, view, out=taken)
        dx = np.multiply(first, np.reshape(dy, kept), dtype=dy.dtype)
        return dx.reshape(x.shape)

    def conv_stride1(self, xpad, kernel, dilation, bias=None, relu=False):
        """Stride-1 convolution of a (padded) channels_last array with a Keras kernel,
        optionally followed by ``+ bias`` and relu (a convolution layer's own epilogue).

        Forward: im2col a few images at a time (about ``_IM2COL_ROWS`` output rows) into a
        scratch buffer that stays in cache, one gemm per chunk straight into the output,
        then the bias (the gemm accumulates onto it) and relu on the chunk while it is in
        cache. Backward, chunk by chunk: relu's mask, the bias gradient (``sum_rows``: a
        ones-vector gemv), the kernel gradient im2col^T @ dz accumulated with BLAS beta=1 (a long inner
        dimension is far faster than K gemms of one offset each), and dz copied into a
        "wide" layout for the input gradient, which needs no col2im: the input flattened to
        rows (N*prod(spatial), C) makes every kernel offset a contiguous row range, so the
        wide dz times each offset's kernel slice is one gemm accumulating into its row
        range of dx (with numba: one gemm dz @ Wᵀ per chunk and a compiled col2im). The
        chunk buffers and the wide dz are per-thread scratch buffers.

        Chunks are split over threads (``_run_split``) for large outputs; with numba and
        NumPy's cblas, for 1-D and 2-D kernels, each chunk is one compiled call
        (``conv_numba.forward_chunk`` / ``backward_chunk``) so that the threads do not wait
        for the GIL between a chunk's steps. Below ``_IM2COL_SLICES_BELOW`` input channels
        the whole batch's columns are built once (when small) and kept for the backward.

        Returns ``(y, backward)`` with ``backward(dy, want_dx) -> (dxpad or None, dkernel,
        dbias or None)``, or None (the portable path) for anything but float32/float64
        arrays of one dtype. bench cnn (batch 64, one thread, CPU time), second conv
        (26x26x32 -> 64 filters): forward 11.5 ms instead of 14.0 with one gemm per offset
        over the wide rows; backward 25 ms instead of 34.5 with one full im2col; with the
        bias and relu inside, forward + backward 47.6 instead of 54.0 ms with them as
        separate passes over the whole activation.
        """
        if (not isinstance(xpad, np.ndarray) or xpad.dtype not in (np.float32, np.float64)
                or kernel.dtype != xpad.dtype or xpad.shape[0] == 0
                or (bias is not None and (not isinstance(bias, np.ndarray)
                                          or bias.dtype != xpad.dtype))):
            return None
        dtype = xpad.dtype
        ksize = tuple(kernel.shape[:-2])
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        spatial = tuple(xpad.shape[1:-1])
        batch = xpad.shape[0]
        out = tuple(n - (k - 1) * d for n, k, d in zip(spatial, ksize, dilation))
        row_steps = [int(np.prod(spatial[i + 1:], dtype=np.int64)) for i in range(len(spatial))]
        offsets = [sum(o * d * r for o, d, r in zip(offset, dilation, row_steps))
                   for offset in itertools.product(*(range(k) for k in ksize))]
        rows = batch * int(np.prod(spatial, dtype=np.int64))
        # Every valid output row r reads rows r + offset < rows: r < rows - max(offsets).
        span = rows - offsets[-1]
        xc = np.ascontiguousarray(xpad)
        wk = np.ascontiguousarray(kernel).reshape(len(offsets), channels, filters)
        w2 = wk.reshape(len(offsets) * channels, filters)
        st = xc.strides
        window_view = np.lib.stride_tricks.as_strided(
            xc, (batch,) + out + ksize + (channels,),
            st[:-1] + tuple(st[1 + i] * d for i, d in enumerate(dilation)) + st[-1:],
            writeable=False)
        per_image = int(np.prod(out, dtype=np.int64))
        offset_slices = [tuple(slice(o * d, o * d + n) for o, d, n in zip(offset, dilation, out))
                         for offset in itertools.product(*(range(k) for k in ksize))]
        lead = (slice(None),) * (1 + len(out))

        def fill_cols(part, s, e):
            """im2col of images [s, e) into ``part`` (e - s, *out, *ksize, C)."""
            if channels >= _IM2COL_SLICES_BELOW:
                np.copyto(part, window_view[s:e])
                return
            # Few channels: one strided copy per kernel offset (inner loops over a whole
            # output row) instead of the window view's inner loops of C values.
            for offset, window in zip(itertools.product(*(range(k) for k in ksize)),
                                      offset_slices):
                part[lead + offset] = xc[(slice(s, e),) + window]

        # Few channels and small columns (the first layer of a CNN: 64x28x28x1, 3x3: 1.5 MB):
        # the whole batch's columns are built once, before any split, and kept for the
        # backward, so the chunks run only GEMMs and compiled passes. Built per chunk, its
        # nine small Python-level copies a chunk made the two threads of a split queue for
        # the GIL (conv1's forward was slower split than not).
        full_cols = None
        if (channels < _IM2COL_SLICES_BELOW and batch * per_image * len(offsets) * channels
                * np.dtype(dtype).itemsize <= _FULL_COLS_MAX_BYTES):
            full_cols = np.empty((batch,) + window_view.shape[1:], dtype)
            fill_cols(full_cols, 0, batch)

        def chunk_cols(buf, s, e):
            """The columns of images [s, e): a slice of ``full_cols``, or built in ``buf``."""
            if full_cols is not None:
                return full_cols[s:e]
            part = buf[:e - s]
            fill_cols(part, s, e)
            return part
        big = batch * per_image * filters >= _SPLIT_MIN_CONV
        threads = _split_threads() if big else 1
        rows_per_chunk = _IM2COL_ROWS if full_cols is None else _FULL_COLS_CHUNK_ROWS
        group = max(1, min(batch, rows_per_chunk // max(per_image, 1), -(-batch // threads)))
        chunks = [(s, min(s + group, batch)) for s in range(0, batch if per_image else 0, group)]
        cols_shape = (group,) + window_view.shape[1:]
        z = np.empty((batch,) + out + (filters,), dtype)
        zr = z.reshape(batch, -1, filters)

        numba_mod = _numba_module("conv_numba")
        # With bias and relu and numba, the GEMM writes the chunk (beta=0) and one compiled
        # pass adds the bias and applies relu while it is in cache; else the bias is copied
        # in first (the GEMM accumulates onto it) and relu is a second pass. cnn's first
        # convolution (64x28x28x1 -> 32), one thread: 1.52 -> 0.79 ms; second: 16.6 -> 15.3.
        conv_mod = numba_mod if relu and bias is not None else None
        # 1-D and 2-D kernels as 2-D ones (a leading axis of 1), for the compiled loops:
        # output (h, w), kernel (kh, kw), dilation (dh, dw), x as (N, H, W, C).
        if len(ksize) <= 2:
            hw2 = (1,) * (2 - len(out)) + tuple(out)
            kk2 = (1,) * (2 - len(ksize)) + ksize
            dd2 = (1,) * (2 - len(dilation)) + tuple(dilation)
            shape4 = (batch,) + (1,) * (2 - len(out)) + tuple(xc.shape[1:])
            geometry = hw2 + kk2 + dd2

        # 1-D and 2-D with numba and NumPy's cblas: each chunk as one compiled call
        # (conv_numba.forward_chunk / backward_chunk), which a split's threads run without
        # queueing for the GIL between a chunk's dozen NumPy calls.
        compiled = numba_mod if len(ksize) <= 2 and _COMPILED_CHUNKS else None
        gemm_fn = _compiled_gemm(dtype) if compiled is not None else None
        if gemm_fn is None:
            compiled = None
        else:
            kc = w2.shape[0]
            x4 = xc.reshape(shape4)
            z2 = z.reshape(-1, filters)
            full2 = None if full_cols is None else full_cols.reshape(-1, kc)
            bias_arr = (np.ascontiguousarray(bias) if bias is not None
                        else np.zeros((filters,), dtype))
            one, zero = dtype.type(1), dtype.type(0)

        def forward_chunks(part_chunks):
            if compiled is not None:
                buf = (_scratch("cols_rows", (group * per_image, kc), dtype)
                       if full2 is None else None)
                for s, e in part_chunks:
                    cols = buf if full2 is None else full2[s * per_image:e * per_image]
                    compiled.forward_chunk(gemm_fn, x4, cols, full2 is None, w2, z2, bias_arr,
                                           bias is not None, relu, s, e, *geometry, one, zero)
                return
            chunk = (_scratch("cols_chunk", cols_shape, dtype)   # this thread's
                     if full_cols is None else None)
            for s, e in part_chunks:
                part = chunk_cols(chunk, s, e)
                zc = zr[s:e].reshape(-1, filters)
                if conv_mod is not None:
                    _gemm_into(zc, part.reshape(-1, w2.shape[0]), w2, False)
                    conv_mod.bias_relu(zc, bias)
                    continue
                if bias is not None:
                    zc[...] = bias
                _gemm_into(zc, part.reshape(-1, w2.shape[0]), w2, bias is not None)
                if relu:
                    np.maximum(zc, dtype.type(0), out=zc)
        _run_split(forward_chunks, chunks, threads)
        valid = (slice(None),) + tuple(slice(0, o) for o in out) + (slice(None),)

        def backward(dy, want_dx=True):
            # BLAS is handed raw pointers: every operand must be a C array of the layer's dtype.
            dy = np.ascontiguousarray(dy, dtype=dtype)
            dyr = dy.reshape(batch, -1, filters)
            dbias = None
            dzw = dz_full = dxc = None
            col2im = _col2im_kernel(ksize) if want_dx else None
            if col2im is not None:
                # One gemm per chunk, dz @ Wᵀ (a wide right factor), scattered into dx by
                # a compiled col2im while the columns are in cache (conv_numba.py).
                # Each chunk zeroes its own images of dx (in cache, on its thread) before
                # its col2im adds into them: the chunks' images are disjoint.
                dxc = (np.empty if chunks else np.zeros)(xc.shape, dtype)
                dx4 = dxc.reshape(shape4)
            elif want_dx:
                dzw = _scratch("dz_wide", (rows, filters), dtype)
                dz_full = dzw.reshape((batch,) + spatial + (filters,))
                for i, o in enumerate(out):  # zero the invalid (wide-only) positions
                    dz_full[(slice(None),) + tuple(slice(0, v) for v in out[:i])
                            + (slice(o, None),)] = 0
            relu_grad = None if numba_mod is None or not relu else numba_mod.relu_grad
            use_compiled = compiled is not None and (not want_dx or col2im is not None)
            if use_compiled:
                dy2 = dy.reshape(-1, filters)
                dx_arr = dx4 if want_dx else np.zeros((1, 1, 1, 1), dtype)   # (unused then)

            def backward_chunks_compiled(part_chunks):
                rows_max = group * per_image
                buf = _scratch("cols_rows", (rows_max, kc), dtype) if full2 is None else None
                masked = _scratch("dz_chunk", (rows_max if relu else 1, filters), dtype)
                dcols = _scratch("dcols_chunk", (rows_max if want_dx else 1, kc), dtype)
                dkernel = np.zeros((kc, filters), dtype)
                dbias = np.zeros((filters,), dtype)
                for s, e in part_chunks:
                    cols = buf if full2 is None else full2[s * per_image:e * per_image]
                    compiled.backward_chunk(gemm_fn, x4, cols, full2 is None, w2, z2, dy2,
                                            masked, dkernel, dbias, bias is not None, relu,
                                            dcols, dx_arr, want_dx, s, e, *geometry, one,
                                            zero)
                return dkernel, (dbias if bias is not None else None)

            def backward_chunks(part_chunks):
                # This thread's scratch buffers and its own kernel/bias gradient sums.
                cols = _scratch("cols_chunk", cols_shape, dtype) if full_cols is None else None
                masked = (_scratch("dz_chunk", (group * per_image, filters), dtype)
                          if relu else None)
                hit = (_scratch("relu_mask", (group * per_image, filters), np.bool_)
                       if relu and relu_grad is None else None)
                dcols = (_scratch("dcols_chunk", (group * per_image, w2.shape[0]), dtype)
                         if col2im is not None else None)
                dkernel = np.zeros((w2.shape[0], filters), dtype)
                dbias = None if bias is None else np.zeros((filters,), dtype)
                for s, e in part_chunks:
                    n = (e - s) * per_image
                    dz = dyr[s:e].reshape(-1, filters)
                    if relu and relu_grad is not None:
                        relu_grad(dz.reshape(-1), zr[s:e].reshape(-1), masked[:n].reshape(-1))
                        dz = masked[:n]
                    elif relu:
                        np.greater(zr[s:e].reshape(-1, filters), 0, out=hit[:n])
                        dz = np.multiply(dz, hit[:n], out=masked[:n])
                    if bias is not None:
                        dbias += self.sum_rows(dz)
                    part = chunk_cols(cols, s, e)
                    _gemm_into(dkernel, part.reshape(-1, w2.shape[0]), dz, True, trans_a=True)
                    if col2im is not None:
                        _gemm_into(dcols[:n], dz, w2, False, trans_b=True)
                        dxc[s:e] = 0
                        col2im(dcols[:n], dx4, s, *geometry)
                    elif want_dx:
                        dz_full[s:e][valid] = dz.reshape((e - s,) + out + (filters,))
                return dkernel, dbias
            sums = _run_split(backward_chunks_compiled if use_compiled else backward_chunks,
                              chunks, min(threads, _split_threads()))
            dkernel = sums[0][0]
            for more, _ in sums[1:]:
                dkernel += more
            if bias is not None:
                dbias = sums[0][1]
                for _, more in sums[1:]:
                    dbias += more
            dkernel = dkernel.reshape(kernel.shape)
            if not want_dx:
                return None, dkernel, dbias
            if dxc is not None:
                return dxc, dkernel, dbias
            # Offset 0 (the first) writes rows [0, span) outright; only the rest starts at zero.
            dxf = np.empty((rows, channels), dtype)
            dxf[max(span, 0):] = 0
            for k, off in enumerate(offsets):
                if span > 0:
                    _gemm_into(dxf[off:off + span], dzw[:span], wk[k], k > 0, trans_b=True)
            return dxf.reshape(xpad.shape), dkernel, dbias
        return z, backward

