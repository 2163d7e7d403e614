"""Fast paths of the NumPy backend (``Backend.fused``), each kept because bench/ showed a
gain over the portable path, and each tested against it (tests/test_backend.py).

numba is optional: where it is installed, Adam runs as one compiled loop; otherwise the
same update runs as NumPy ufuncs in cache-sized blocks."""

import numpy as np

from .. import config
from .base import softmax_cross_entropy_grad as portable


# Elements per block of the Adam update: five float32 blocks of 256 KiB stay in a core's
# L2 cache through the twelve passes (mlp-large's 1M-weight kernel: 6.0 -> 3.8 ms).
ADAM_BLOCK = 65536


_compiled = {}


_numba_modules = {}


def _numba_module(name):
    """A module of compiled kernels (``lstm_numba``, ``pool_numba``), or None without numba
    or with ``PORTANET_NUMBA=0``."""
    import importlib
    import os
    if os.environ.get("PORTANET_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if name not in _numba_modules:
        try:
            # numba is optional (the `fast` extra): imported on the first call that asks.
            module = importlib.import_module(f"{__package__}.{name}")
        except Exception:  # not installed, or broken
            module = None
        _numba_modules[name] = module
    return _numba_modules[name]


def compiled_adam():
    """Adam as one compiled loop (numba, when it is installed; else None).

    One pass reads g, m, v, w and writes m, v and the new weight: 0.20 ms instead of
    0.52 ms for mlp-small's 269k weights, 1.4 ms instead of 5.4 ms for mlp-large's 1.9M
    (one thread). ``error_model="numpy"`` drops the division checks that would stop the
    loop from being vectorized; no fast-math, so the arithmetic is IEEE as in NumPy, in
    ``Adam.update_step``'s order. ``PORTANET_NUMBA=0`` turns it off.
    """
    import os
    if os.environ.get("PORTANET_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if "adam" not in _compiled:
        try:
            import numba
        except Exception:  # not installed (it is optional) or broken
            _compiled["adam"] = None
        else:
            def adam_loop(g, m, v, w, new, c1, c2, eps, alpha):
                for k in range(g.size):
                    gk = g[k]
                    mk = m[k] + (gk - m[k]) * c1
                    vk = v[k] + (gk * gk - v[k]) * c2
                    m[k] = mk
                    v[k] = vk
                    new[k] = w[k] - alpha * mk / (np.sqrt(vk) + eps)
            _compiled["adam"] = numba.njit(cache=True, nogil=True, error_model="numpy")(adam_loop)
    return _compiled["adam"]


def _adam_blocks(jobs, scratch):
    """Run Adam on a list of blocks ``(g, m, v, w, new, c1, c2, eps, alpha)`` (1-D views)."""
    for g, m, v, w, new, c1, c2, eps, a in jobs:
        t = scratch.get(w.dtype)
        if t is None or t.size < g.size:
            t = scratch[w.dtype] = np.empty(max(g.size, ADAM_BLOCK), w.dtype)
        t = t[:g.size]
        np.subtract(g, m, out=t)
        np.multiply(t, c1, out=t)
        np.add(m, t, out=m)
        np.multiply(g, g, out=t)
        np.subtract(t, v, out=t)
        np.multiply(t, c2, out=t)
        np.add(v, t, out=v)
        np.sqrt(v, out=t)
        np.add(t, eps, out=t)
        np.divide(m, t, out=t)
        np.multiply(t, a, out=t)
        np.subtract(w, t, out=new)


def adam(weights, gradients, momentums, velocities, beta_1, beta_2, epsilon, alpha, cache):
    """Adam on NumPy arrays, the moments updated in place, block by block, with one scratch
    block (``Backend.fused("adam")``; the signature is the backend contract, see
    ``Backend.fused``).

    Per weight: ``m += (g - m)(1 - beta_1)``, ``v += (g² - v)(1 - beta_2)``,
    ``w_new = w - alpha·m / (√v + epsilon)``, where ``alpha`` is the step's bias-corrected
    rate (``Adam._alpha``); the arithmetic and its order are ``Adam.update_step``'s.
    Returns ``(new_weights, momentums, velocities)`` (lists), or None, having changed
    nothing, when it cannot take these arrays (not NumPy, or shapes that differ).

    A step allocates one array per weight (the new value) instead of about ten
    temporaries of its size, and works through each weight in blocks that stay in cache
    (or in one compiled pass, ``compiled_adam``, when numba is installed). mlp-small
    (bench/, one thread): the update takes ~0.55 ms in blocks, ~0.2 ms compiled, instead
    of ~0.8 ms; mlp-large ~5.4 ms in blocks, ~1.4 ms compiled, instead of ~8.8 ms.
    (Sharing the blocks among threads was tried and showed no gain on 2 cores.) Weights
    keep value semantics (a new array is returned, never written into). A moment array
    handed in is copied once into an array this function owns (kept in ``cache``, a
    dict the optimizer owns and passes back each step), so an array given to
    ``set_state`` is never modified; the owned arrays are returned for the optimizer to
    keep, and the next step recognizes them by identity.
    """
    for w, g, m, v in zip(weights, gradients, momentums, velocities):
        # (A moment that is not a NumPy array is copied into one below, like any other.)
        if not (isinstance(w, np.ndarray) and isinstance(g, np.ndarray)):
            return None
        if g.shape != w.shape or m.shape != w.shape or v.shape != w.shape:
            return None  # the portable update raises the shape error
    loop = compiled_adam()
    block = ADAM_BLOCK
    hyper = (beta_1, beta_2, epsilon)
    owned = cache.get("adam_moments", {})
    entries, renewed = [], False
    alphas = {}
    jobs, new_weights, new_moms, new_vels = [], [], [], []
    for w, g, m, v in zip(weights, gradients, momentums, velocities):
        own = owned.get(id(m))
        # Per weight, kept across steps: the moments this path owns, their flat views and
        # the constants in the weight's dtype (the step's Python cost is most of
        # mlp-small's update: ~7 us a weight before, ~3 after).
        if (own is None or own[0] is not m or own[1] is not v or own[0].dtype != w.dtype
                or own[2] != hyper):
            m = np.array(m, dtype=w.dtype, copy=True, order="C")
            v = np.array(v, dtype=w.dtype, copy=True, order="C")
            dt = w.dtype.type
            own = (m, v, hyper, m.reshape(-1), v.reshape(-1),
                   dt(1.0 - beta_1), dt(1.0 - beta_2), dt(epsilon))
            renewed = True
        entries.append(own)
        m, v, _, m_flat, v_flat, c1, c2, eps = own
        new_moms.append(m)
        new_vels.append(v)
        a = alphas.get(w.dtype)
        if a is None:
            a = alphas[w.dtype] = w.dtype.type(alpha)
        new = np.empty(w.shape, w.dtype)
        gf = g.reshape(-1) if g.dtype == w.dtype and g.flags.c_contiguous else \
            np.ascontiguousarray(g, dtype=w.dtype).reshape(-1)
        flat = (gf, m_flat, v_flat,
                w.reshape(-1) if w.flags.c_contiguous else np.ascontiguousarray(w).reshape(-1),
                new.reshape(-1))
        new_weights.append(new)
        if loop is not None and w.dtype in (np.float32, np.float64):
            try:
                loop(*flat, c1, c2, eps, a)
                continue
            except Exception:  # a numba that cannot compile here: the NumPy blocks
                _compiled["adam"] = loop = None
        n = gf.size
        for start in range(0, n, block):
            stop = min(n, start + block)
            jobs.append(tuple(arr[start:stop] for arr in flat) + (c1, c2, eps, a))
    _adam_blocks(jobs, cache.setdefault("scratch", {}))
    if renewed:
        # Only the moments in use stay cached (moments replaced by set_state are let go).
        cache["adam_moments"] = {id(own[0]): own for own in entries}
    return new_weights, new_moms, new_vels


def bias_activation_in_place(z, bias, activation):
    """A layer's bias (+ relu) written into ``z`` (the fresh matmul result the layer hands
    over; nothing else holds it): relu's backward is ``dy * (y > 0)`` in two passes, the
    linear one passes ``dy`` through; the portable path makes three new arrays forward
    and three backward for relu, one forward for a linear layer. mlp-large (4 MiB
    activations): about 2 ms a step fewer. ``bias`` broadcasts against ``z``'s trailing
    axes (EinsumDense's bias may cover several). Other activations return None (the
    portable path)."""
    name = (getattr(activation, "__name__", None)
            if getattr(activation, "__module__", None) == "portanet.activations" else None)
    if (name not in ("relu", "linear") or not isinstance(z, np.ndarray)
            or not isinstance(bias, np.ndarray) or z.dtype != bias.dtype
            or not z.flags.writeable or bias.ndim > z.ndim
            or np.broadcast_shapes(z.shape, bias.shape) != z.shape):
        return None
    np.add(z, bias, out=z)
    if name == "linear":
        return z, _identity
    np.maximum(z, z.dtype.type(0), out=z)

    def backward(dy):
        kernel = _relu_grad_kernel()
        if (kernel is not None and isinstance(dy, np.ndarray) and dy.dtype == z.dtype
                and z.dtype in (np.float32, np.float64)    # (numba has no float16)
                and dy.shape == z.shape and z.flags.c_contiguous):
            out = np.empty(z.shape, z.dtype)
            kernel(np.ascontiguousarray(dy).reshape(-1), z.reshape(-1), out.reshape(-1))
            return out
        return np.multiply(dy, z > 0)
    return z, backward


def _relu_grad_kernel():
    """``conv_numba.relu_grad`` (relu's backward as one compiled pass: NumPy's
    ``dy * (z > 0)`` makes a bool array and multiplies through a cast), or None without
    numba. mlp-large's (1024, 1024) activations: see the A/B in bench/results/."""
    if "relu_grad" not in _compiled:
        mod = _numba_module("conv_numba")
        _compiled["relu_grad"] = None if mod is None else mod.relu_grad
    kernel = _compiled["relu_grad"]
    if kernel is not None:
        import os
        if os.environ.get("PORTANET_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
            return None
    return kernel


def _identity(dy):
    return dy


def sparse_ce_value(p, labels):
    """Keras's sparse categorical cross-entropy on probabilities, mean over the batch:
    ``mean(-log(clip(p[i, y_i] / sum(p[i]), eps, 1 - eps)))``, from the picked column
    alone (the portable path builds the one-hot matrix and sums over all classes).
    Returns None (portable path) for anything but 2-D probabilities and 1-D labels."""
    if not isinstance(p, np.ndarray) or p.ndim != 2 or labels.ndim != 1 or labels.dtype.kind not in "iu":
        return None
    eps = p.dtype.type(config.epsilon())
    picked = p[np.arange(p.shape[0]), labels] / np.sum(p, axis=1)
    np.clip(picked, eps, p.dtype.type(1) - eps, out=picked)
    np.log(picked, out=picked)
    return np.asarray(-np.mean(picked))


def softmax_cross_entropy_grad(p, y, sparse, scale, sample_weight=None):
    """The fused softmax + cross-entropy gradient (``Backend`` "softmax_cross_entropy"):
    for sparse labels without sample weights, ``p·scale`` with ``scale`` taken off each
    row's label column (no one-hot matrix: two passes instead of six array operations);
    anything else goes to the portable function. Labels are class ids checked on entry
    to fit/train_on_batch."""
    if (sparse and sample_weight is None and isinstance(p, np.ndarray) and p.ndim == 2
            and isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"):
        s = p.dtype.type(scale)
        dz = np.multiply(p, s)
        dz[np.arange(p.shape[0]), y] -= s
        return dz
    return portable(p, y, sparse, scale, sample_weight)


FAST_PATHS = {"adam": adam, "bias_activation": bias_activation_in_place,
              "sparse_ce_value": sparse_ce_value,
              "softmax_cross_entropy": softmax_cross_entropy_grad}
