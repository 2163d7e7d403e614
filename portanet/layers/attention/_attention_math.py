"""Shared pieces of the attention layers: masked softmax with its backward pass, the causal
mask and mask conversion."""

__all__ = []


def large_negative(dtype):
    """Keras's _large_negative_number: -3e4 for float16, -1e9 otherwise."""
    return -3e4 if "float16" in str(dtype) else -1e9


def masked_softmax(xp, scores, mask, axis=-1, backend=None):
    """Keras's Softmax(mask=...): masked positions get ``(1 - mask) * -1e9`` added, then a
    softmax along ``axis``; returns (probabilities, backward). With ``backend``, the
    backward pass over the last axis may run as its fused "softmax_backward" kernel."""
    if mask is not None:
        scores = scores + (1.0 - xp.astype(mask, scores.dtype)) * large_negative(scores.dtype)
    last = backend is not None and axis in (-1, scores.ndim - 1)
    forward = backend.fused("softmax") if last else None
    p = None if forward is None else forward(scores)
    if p is None:
        e = xp.exp(scores - xp.max(scores, axis=axis, keepdims=True))
        p = e / xp.sum(e, axis=axis, keepdims=True)
    fused = backend.fused("softmax_backward") if last else None

    def backward(dp):
        if fused is not None:
            ds = fused(p, dp)
            if ds is not None:
                return ds
        return p * (dp - xp.sum(dp * p, axis=axis, keepdims=True))
    return p, backward


def batched_matmul(backend):
    """``f(a, b) -> a @ b`` for the attention products: the backend's "batched_matmul" fast
    path where it takes the arrays (NumPy: the batch split over threads), else ``@``."""
    fused = backend.fused("batched_matmul") if backend is not None else None
    if fused is None:
        return _matmul

    def bmm(a, b):
        out = fused(a, b)
        return a @ b if out is None else out
    return bmm


def _matmul(a, b):
    return a @ b


def shape_list(query_shape, value_shape=None, key_shape=None):
    """The attention layers' input shapes as one list ``[query, value(, key)]`` from Keras's
    ``build(query_shape, value_shape, key_shape=None)`` arguments; a list of shapes as the
    only argument (portanet's own build call) passes through."""
    if value_shape is None:
        return query_shape
    return [query_shape, value_shape] + ([key_shape] if key_shape is not None else [])


def causal_mask(backend, q_len, v_len):
    """(1, q_len, v_len) bool: row index >= column index, as Keras's _compute_causal_mask."""
    xp = backend.xp
    rows = xp.arange(q_len, device=backend.device)
    cols = xp.arange(v_len, device=backend.device)
    return xp.expand_dims(xp.expand_dims(rows, axis=1) >= xp.expand_dims(cols, axis=0), axis=0)


def sliding_window_mask(backend, q_len, v_len, window):
    """(1, q_len, v_len) bool: |row - column| < window, as Keras's _compute_sliding_window_mask."""
    xp = backend.xp
    rows = xp.expand_dims(xp.arange(q_len, device=backend.device), axis=1)
    cols = xp.expand_dims(xp.arange(v_len, device=backend.device), axis=0)
    return xp.expand_dims(xp.abs(rows - cols) < window, axis=0)


def as_bool(backend, mask):
    """A mask (host or device; bool, int or float) as a device bool array; None stays None."""
    if mask is None:
        return None
    mask = backend.asarray(mask)
    xp = backend.xp
    if mask.dtype == xp.bool:
        return mask
    return mask != 0
