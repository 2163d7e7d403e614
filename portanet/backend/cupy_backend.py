"""CuPy backend (NVIDIA GPUs). CuPy is imported only when this backend is selected.

``pn.set_backend("cupy", device=1)`` puts everything on GPU 1: arrays are created under
that device, and selecting the backend (``set_backend``, ``use_backend``, fit and the
other entry points of a model) makes it CuPy's current device, so every kernel runs there.

The fast paths (``Backend.fused``) are elementwise kernels that replace several launches
of the portable path with one; a small step is bound by the host's ~15 us per launch
(measured with bench/), so launches are what they save. Each is tested against the portable
path (tests/test_backend.py) and kept only where bench/ shows a gain.
"""

import collections
import os

import numpy as np

from .. import config
from .base import Backend, softmax_cross_entropy_grad


class CupyBackend(Backend):
    name = "cupy"

    def _make_namespace(self):
        try:
            import cupy
        except ImportError as exc:
            raise RuntimeError(
                "backend 'cupy' needs CuPy, which is not installed ("
                f"{exc}); install it with pip install -e \".[cuda12]\" or \".[cuda13]\" "
                "to match your CUDA driver") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise RuntimeError(f"backend 'cupy' found no usable NVIDIA GPU: {exc}") from None
        index = _device_index(self.device)
        if count == 0 or not 0 <= index < count:
            raise RuntimeError(f"backend 'cupy': device={index!r} is not available; "
                               f"this machine has {count} GPU(s) (valid: 0 to {count - 1})")
        self._cupy = cupy
        self.device = cupy.cuda.Device(index)
        self.device.use()
        import array_api_compat.cupy as xp
        with self.device:
            self._gen = cupy.random.default_rng()
        self._copy_stream = None
        self._inflight = collections.deque()
        return xp

    def activate(self):
        """Make this backend's GPU CuPy's current device (kernels run on the current one)."""
        self.device.use()

    def reseed(self, seed):
        super().reseed(seed)
        if getattr(self, "_cupy", None) is not None:
            with self.device:
                self._gen = self._cupy.random.default_rng(None if seed is None else int(seed) + 1)

    def begin_epoch(self):
        # One host draw per epoch seeds the device generator: shuffles and dropout masks stay
        # on the device, yet a resumed run (host state restored) repeats them exactly.
        seed = int(self._rng.integers(0, 2**63 - 1))
        with self.device:
            self._gen = self._cupy.random.default_rng(seed)

    # CuPy reduces axis 0 of a (rows, cols) array with one block per output column and
    # strided reads: for the bench CNN's bias gradient at batch 1024 (692,224 x 32) that
    # left most SMs idle. A ones-vector GEMM (Backend.sum_rows) reads the rows coalesced.
    sum_rows_gemm_min = 65536

    def _ones_row(self, n, dtype):
        with self.device:
            return self._cupy.ones((1, n), dtype=dtype)

    def is_array(self, x):
        return isinstance(x, self._cupy.ndarray)

    def from_numpy(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(np.dtype(_dtype_name(dtype)), copy=False)
        with self.device:
            return self._cupy.asarray(a)

    def to_numpy(self, x):
        self.to_host_calls += 1
        if isinstance(x, np.ndarray):
            return x
        return self._cupy.asnumpy(x)

    def synchronize(self):
        self.device.synchronize()

    def prefetch(self, a):
        """Host batch -> device array, copied from pinned memory on a side stream.

        The copy overlaps the kernels already queued; the current stream waits for it
        (an event) before anything reads the result, and the side stream first waits for
        the current stream, because the pool may hand it memory that queued kernels
        still read. The pinned buffer is kept until its copy is done.
        """
        cp = self._cupy
        import cupyx
        a = np.ascontiguousarray(a)
        pinned = cupyx.empty_pinned(a.shape, a.dtype)
        pinned[...] = a
        with self.device:
            if self._copy_stream is None:
                self._copy_stream = cp.cuda.Stream(non_blocking=True)
            main = cp.cuda.get_current_stream()
            self._copy_stream.wait_event(main.record())
            out = cp.empty(a.shape, a.dtype)
            out.set(pinned, stream=self._copy_stream)
            done = self._copy_stream.record()
            main.wait_event(done)
        self._inflight.append((done, pinned))
        while len(self._inflight) > 4:
            event, _ = self._inflight.popleft()
            event.synchronize()
        return out

    # Training-time randomness is drawn on the device: no host traffic inside a step.
    def random_normal(self, shape, mean=0.0, stddev=1.0, dtype=None):
        dt = np.dtype(_dtype_name(dtype or self.floatx()))
        with self.device:
            return (self._gen.standard_normal(tuple(shape), dtype=dt) * stddev + mean).astype(dt, copy=False)

    def random_uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        dt = np.dtype(_dtype_name(dtype or self.floatx()))
        with self.device:
            return (self._gen.random(tuple(shape), dtype=dt) * (maxval - minval) + minval).astype(dt, copy=False)

    def dropout_mask(self, shape, rate, dtype=None):
        dt = np.dtype(_dtype_name(dtype or self.floatx()))
        scale = 0.0 if rate >= 1.0 else 1.0 / (1.0 - rate)
        with self.device:
            return (self._gen.random(tuple(shape), dtype=np.float32) >= rate).astype(dt) * dt.type(scale)

    def permutation(self, n):
        # argsort of uniform floats: a uniform random permutation from the device stream.
        with self.device:
            order = self._cupy.argsort(self._gen.random((int(n),), dtype=np.float64))
            return order.astype(self._cupy.int64, copy=False)

    def nccl(self):
        """``cupy.cuda.nccl`` for distributed training (portanet.distributed), or None when
        this CuPy cannot load NCCL (then ``pip install nvidia-nccl-cu12``/``-cu13``, or MPI)."""
        try:
            from cupy.cuda import nccl
        except ImportError:
            return None
        return nccl if getattr(nccl, "available", False) else None

    def scatter_add(self, target, indices, values):
        import cupyx
        out = target.copy()
        cupyx.scatter_add(out, indices.reshape(-1), values.reshape((-1,) + target.shape[1:]))
        return out

    # ------------------------------------------------------------------ fast paths
    def fused_paths(self):
        paths = super().fused_paths()
        flat = os.environ.get("PORTANET_ADAM_FLAT", "").strip().lower() in ("1", "true", "yes", "on")
        paths["adam"] = self._adam_flat if flat else self._adam
        paths["bias_activation"] = self._bias_activation
        paths["softmax_cross_entropy"] = self._softmax_cross_entropy
        paths["sparse_ce_value"] = self._sparse_ce_value
        return paths

    def _kernel(self, name):
        kernels = _KERNELS.get(id(self._cupy))
        if kernels is None:
            kernels = _KERNELS[id(self._cupy)] = _make_kernels(self._cupy)
        return kernels[name]

    def _adam_fusable(self, weights, gradients, momentums, velocities):
        """Whether the fused Adam kernels apply: every gradient and moment a dense device
        array of its weight's dtype and shape (AMSGrad never comes here: Adam keeps it on
        the portable path)."""
        return all(self.is_array(g) and g.dtype == w.dtype and g.shape == w.shape
                   and self.is_array(m) and m.shape == w.shape
                   and self.is_array(v) and v.shape == w.shape
                   for w, g, m, v in zip(weights, gradients, momentums, velocities))

    def _adam(self, weights, gradients, momentums, velocities, beta_1, beta_2, epsilon, alpha,
              cache):
        """Adam as one elementwise kernel per weight (``Backend.fused("adam")``): the moments
        are updated in place and the new weight is a fresh array (value semantics, as the
        portable path). Returns ``(new_weights, momentums, velocities)`` or None."""
        if not self._adam_fusable(weights, gradients, momentums, velocities):
            return None
        cp = self._cupy
        kernel = self._kernel("adam")
        owned = cache.get("cupy_adam_moments", {})
        kept = {}
        new_weights, new_moms, new_vels = [], [], []
        for w, g, m, v in zip(weights, gradients, momentums, velocities):
            m, v = _owned_moments(cp, owned, kept, w, m, v)
            dt = w.dtype.type
            w_new = cp.empty_like(w)
            kernel(g, w, dt(alpha), dt(1.0 - beta_1), dt(1.0 - beta_2), dt(epsilon), m, v, w_new)
            new_weights.append(w_new)
            new_moms.append(m)
            new_vels.append(v)
        cache["cupy_adam_moments"] = kept
        return new_weights, new_moms, new_vels

    def _adam_flat(self, weights, gradients, momentums, velocities, beta_1, beta_2, epsilon,
                   alpha, cache):
        """Adam as one kernel over all weights of a dtype (opt-in: PORTANET_ADAM_FLAT=1).

        Weights and moments live in one flat buffer per dtype, each weight a view, and
        the gradients are concatenated into one flat array per step; the weights are then
        updated in place, and the views are returned as the new weights and moments (the
        optimizer stores them). Anything that replaces a weight's array (assign,
        set_weights, constraints) or a moment (set_state) is noticed on the next step by
        identity, and the buffers are rebuilt.
        """
        if not self._adam_fusable(weights, gradients, momentums, velocities):
            return None
        cp = self._cupy
        kernel = self._kernel("adam_flat")
        groups = collections.OrderedDict()
        for k, w in enumerate(weights):
            groups.setdefault(w.dtype, []).append(k)
        buffers = cache.get("cupy_adam_flat", {})
        kept = {}
        new_weights, new_moms, new_vels = list(weights), list(momentums), list(velocities)
        for dtype, ks in groups.items():
            key = (dtype, tuple(id(weights[k]) for k in ks))
            buf = buffers.get(key)
            if buf is None or not _flat_intact(buf, ks, weights, momentums, velocities):
                buf = _pack_flat(cp, ks, weights, momentums, velocities)
                # Keyed by the views, which are the weights the optimizer hands in next time.
                key = (dtype, tuple(id(w) for w in buf["views"]["w"]))
            kept[key] = buf
            flat_g = cp.concatenate([cp.ravel(gradients[k]) for k in ks])
            dt = dtype.type
            kernel(flat_g, dt(alpha), dt(1.0 - beta_1), dt(1.0 - beta_2), dt(epsilon),
                   buf["m"], buf["v"], buf["w"])
            for j, k in enumerate(ks):
                new_weights[k] = buf["views"]["w"][j]
                new_moms[k] = buf["views"]["m"][j]
                new_vels[k] = buf["views"]["v"][j]
        cache["cupy_adam_flat"] = kept
        return new_weights, new_moms, new_vels

    def _bias_activation(self, z, bias, activation):
        """y = activation(z + bias) in one kernel, and a one-kernel backward (or None).

        softmax (the output layer; its rows are short) runs one thread per row: max, exp,
        sum and divide in one launch instead of six; its backward (rarely used: the fused
        cross-entropy gradient skips it) is the portable formula."""
        name = _activation_name(activation)
        if name not in ("relu", "sigmoid", "tanh", "softmax") or z.dtype != bias.dtype \
                or z.shape[-1:] != bias.shape:
            return None
        cp = self._cupy
        y = cp.empty_like(z)
        if name == "softmax":
            classes = z.shape[-1]
            if classes > 1024 or not z.flags.c_contiguous or z.size == 0:
                return None
            self._kernel("softmax")(z, bias, np.int64(classes), y, size=z.size // classes)

            def softmax_backward(dy):
                return y * (dy - cp.sum(dy * y, axis=-1, keepdims=True))
            return y, softmax_backward
        self._kernel(name)(z, bias, y)
        grad = self._kernel(name + "_grad")

        def backward(dy):
            dz = cp.empty_like(y)
            grad(dy, y, dz)
            return dz
        return y, backward

    def _softmax_cross_entropy(self, p, y, sparse, scale, sample_weight=None):
        """The fused gradient (p - onehot)·scale in one kernel for sparse labels; other
        cases take the portable formula."""
        cp = self._cupy
        if (sparse and sample_weight is None and p.ndim == 2 and p.flags.c_contiguous
                and y.ndim == 1 and y.dtype.kind in "iu"):
            dz = cp.empty_like(p)
            labels = cp.ascontiguousarray(y)
            self._kernel("sparse_ce_grad")(p, labels, np.int64(p.shape[1]), p.dtype.type(scale), dz)
            return dz
        return softmax_cross_entropy_grad(p, y, sparse, scale, sample_weight)


    def _sparse_ce_value(self, p, labels):
        """Keras's sparse cross-entropy on probabilities, mean over the batch, in two
        launches (a per-sample kernel and the mean) instead of about twelve."""
        if p.ndim != 2 or labels.ndim != 1 or labels.dtype.kind not in "iu" or not p.flags.c_contiguous:
            return None
        out = self._cupy.empty(labels.shape, p.dtype)
        eps = p.dtype.type(config.epsilon())
        self._kernel("sparse_ce_value")(p, self._cupy.ascontiguousarray(labels), np.int64(p.shape[1]),
                                        eps, out)
        return self._cupy.mean(out)


_KERNELS = {}


def _make_kernels(cp):
    ek = cp.ElementwiseKernel
    return {
        "adam": ek(
            "T g, T w, T alpha, T c1, T c2, T eps", "T m, T v, T w_new",
            """
            T m1 = m + (g - m) * c1;
            T v1 = v + (g * g - v) * c2;
            m = m1;
            v = v1;
            w_new = w - alpha * m1 / (sqrt(v1) + eps);
            """, "portanet_adam"),
        "adam_flat": ek(
            "T g, T alpha, T c1, T c2, T eps", "T m, T v, T w",
            """
            T m1 = m + (g - m) * c1;
            T v1 = v + (g * g - v) * c2;
            m = m1;
            v = v1;
            w = w - alpha * m1 / (sqrt(v1) + eps);
            """, "portanet_adam_flat"),
        "relu": ek("T z, T b", "T y", "T s = z + b; y = s > (T)0 ? s : (T)0", "portanet_bias_relu"),
        "relu_grad": ek("T dy, T y", "T dz", "dz = y > (T)0 ? dy : (T)0", "portanet_relu_grad"),
        "sigmoid": ek("T z, T b", "T y", "y = (T)1 / ((T)1 + exp(-(z + b)))", "portanet_bias_sigmoid"),
        "sigmoid_grad": ek("T dy, T y", "T dz", "dz = dy * y * ((T)1 - y)", "portanet_sigmoid_grad"),
        "tanh": ek("T z, T b", "T y", "y = tanh(z + b)", "portanet_bias_tanh"),
        "tanh_grad": ek("T dy, T y", "T dz", "dz = dy * ((T)1 - y * y)", "portanet_tanh_grad"),
        "softmax": ek(
            "raw T z, raw T b, int64 classes", "raw T y",
            """
            const ptrdiff_t row = i * classes;
            T m = z[row] + b[0];
            for (ptrdiff_t j = 1; j < classes; ++j) {
                T a = z[row + j] + b[j];
                m = a > m ? a : m;
            }
            T s = 0;
            for (ptrdiff_t j = 0; j < classes; ++j) {
                T e = exp(z[row + j] + b[j] - m);
                y[row + j] = e;
                s += e;
            }
            for (ptrdiff_t j = 0; j < classes; ++j) y[row + j] = y[row + j] / s;
            """, "portanet_bias_softmax"),
        "sparse_ce_grad": ek(
            "T p, raw L labels, int64 classes, T scale", "T dz",
            "dz = (p - (labels[i / classes] == (L)(i % classes) ? (T)1 : (T)0)) * scale",
            "portanet_sparse_ce_grad"),
        "sparse_ce_value": ek(
            "raw T p, L label, int64 classes, T eps", "T out",
            """
            const ptrdiff_t row = i * classes;
            T s = 0;
            for (ptrdiff_t j = 0; j < classes; ++j) s += p[row + j];
            T q = p[row + label] / s;
            q = q < eps ? eps : (q > (T)1 - eps ? (T)1 - eps : q);
            out = -log(q);
            """, "portanet_sparse_ce_value"),
    }


def _owned_moments(cp, owned, kept, w, m, v):
    """The moment arrays of one weight, copied once into arrays this path may modify
    (recognized on later steps by identity; ``kept`` collects those in use)."""
    own = owned.get(id(m))
    if own is None or own[0] is not m or own[1] is not v or own[0].dtype != w.dtype:
        own = (cp.array(m, dtype=w.dtype, copy=True), cp.array(v, dtype=w.dtype, copy=True))
    kept[id(own[0])] = own
    return own


def _pack_flat(cp, ks, weights, momentums, velocities):
    """One flat buffer per array kind ("w", "m", "v") for the weights at positions ``ks``,
    filled with their values; ``views[kind][j]`` is the j-th weight's view."""
    sizes = [weights[k].size for k in ks]
    total = sum(sizes)
    dtype = weights[ks[0]].dtype
    buf = {"w": cp.empty(total, dtype), "m": cp.empty(total, dtype), "v": cp.empty(total, dtype),
           "views": {"w": [], "m": [], "v": []}}
    offset = 0
    for k, n in zip(ks, sizes):
        shape = weights[k].shape
        for kind, src in (("w", weights[k]), ("m", momentums[k]), ("v", velocities[k])):
            view = buf[kind][offset:offset + n].reshape(shape)
            view[...] = src
            buf["views"][kind].append(view)
        offset += n
    return buf


def _flat_intact(buf, ks, weights, momentums, velocities):
    views = buf["views"]
    return all(weights[k] is views["w"][j] and momentums[k] is views["m"][j]
               and velocities[k] is views["v"][j] for j, k in enumerate(ks))


def _activation_name(activation):
    if getattr(activation, "__module__", None) != "portanet.activations":
        return None
    return getattr(activation, "__name__", None)


def _device_index(device):
    if device is None:
        return 0
    index = getattr(device, "id", device)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"backend 'cupy': device={device!r}; expected a GPU index (an integer "
                         "such as 0 or 1) or a cupy.cuda.Device")
    return int(index)


def _dtype_name(dtype):
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name
