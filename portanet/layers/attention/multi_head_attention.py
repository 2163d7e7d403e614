"""MultiHeadAttention (keras/src/layers/attention/multi_head_attention.py), as Keras builds it:
EinsumDense projections "query", "key", "value" and "attention_output" with Keras's kernel
shapes, scaled dot-product attention over ``attention_axes``, a masked softmax and dropout on
the attention probabilities."""

import math
import string

from ..base import Layer, check_positive_int, unique_name
from . import _attention_math as _am
from .einsum_dense import EinsumDense
from .. import symbolic

__all__ = ["MultiHeadAttention"]

_CHR_IDX = string.ascii_lowercase


def _build_proj_equation(free_dims, bound_dims, output_dims):
    """Keras's _build_proj_equation: (equation, bias_axes, output rank)."""
    input_str = kernel_str = output_str = bias_axes = ""
    offset = 0
    for i in range(free_dims):
        input_str += _CHR_IDX[i + offset]
        output_str += _CHR_IDX[i + offset]
    offset += free_dims
    for i in range(bound_dims):
        input_str += _CHR_IDX[i + offset]
        kernel_str += _CHR_IDX[i + offset]
    offset += bound_dims
    for i in range(output_dims):
        kernel_str += _CHR_IDX[i + offset]
        output_str += _CHR_IDX[i + offset]
        bias_axes += _CHR_IDX[i + offset]
    return f"{input_str},{kernel_str}->{output_str}", bias_axes, len(output_str)


def _get_output_shape(output_rank, known_last_dims):
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


# The attention products run split over threads (the backend's "split_rows") from this
# many scores (batch·heads·T·S) on.
_SPLIT_MIN_SCORES = 1 << 18
# ... in up to this many row ranges, which the threads take in turn as each finishes one
# (with one range a thread, the slower of the VM's two cores held the split up).
_SPLIT_PIECES = 8


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al.), as Keras's layer.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value; default ``key_dim``.
        dropout: dropout rate on the attention probabilities (training only).
        use_bias: whether the projections have biases.
        output_shape: int or tuple, the output's trailing shape; default the query's last
            dimension.
        attention_axes: axes of the query/value over which attention runs; default all
            axes between the batch axis and the features.
        kernel_initializer / bias_initializer, kernel_regularizer / bias_regularizer /
        activity_regularizer, kernel_constraint / bias_constraint: for the projections.
        seed: accepted for Keras compatibility; dropout masks come from
            ``pn.utils.set_random_seed``.
        use_gate: if True, a sigmoid projection of the query ("gate", kernel (dim,
            num_heads, value_dim)) multiplies the attention output before the output
            projection (gated attention, as Keras 3.15).
        sliding_window: None or a positive int w: each query position attends only to key
            positions less than w away (combined with the other masks).
        flash_attention: accepted for Keras compatibility (None or False).

    Call: ``mha(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)``. Masks of the query/value/key tensors (Embedding(mask_zero=True))
    are used as Keras does. In a functional model the layer records one node whose inputs are
    ``[query, value]``, ``[query, value, key]`` or ``[query, value, key, attention_mask]``;
    ``use_causal_mask`` and ``return_attention_scores`` of that call are kept on the layer
    (and in its config).

    Input shapes: query (B, T, dim), value (B, S, dim_v), key (B, S, dim_k) (more axes
    between batch and features with ``attention_axes``); attention_mask (B, T, S), 1/True
    where attention is allowed. Output shape: (B, T, dim) or (B, T) + output_shape; scores
    (B, num_heads, T, S).
    Weights (Keras order): query kernel (dim, num_heads, key_dim), query bias (num_heads,
    key_dim), key kernel/bias, value kernel (dim_v, num_heads, value_dim)/bias, output kernel
    (num_heads, value_dim, dim), output bias (dim,).
    """

    supports_masking = True

    # In a functional config Keras records query, value (and key) as separate arguments.
    _keras_positional_inputs = 3

    # In a functional config Keras records query, value (and key) as separate arguments.
    _keras_positional_inputs = 3

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, use_gate=False, sliding_window=None, flash_attention=None,
                 use_causal_mask=False, return_attention_scores=False, **kwargs):
        check_positive_int(num_heads, "num_heads", "MultiHeadAttention")
        if sliding_window is not None:
            check_positive_int(sliding_window, "sliding_window", type(self).__name__)
        if flash_attention:
            raise ValueError(f"{type(self).__name__}: flash_attention={flash_attention!r}; not "
                             "available (use None or False)")
        check_positive_int(key_dim, "key_dim", "MultiHeadAttention")
        if value_dim is not None:
            check_positive_int(value_dim, "value_dim", "MultiHeadAttention")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout={dropout!r}; expected a float in [0, 1)")
        if output_shape is not None:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(int(s) for s in output_shape)
            except (TypeError, ValueError):
                raise TypeError(f"MultiHeadAttention: output_shape={output_shape!r}; expected an int "
                                "or a tuple of ints") from None
        if attention_axes is not None:
            if isinstance(attention_axes, int):
                attention_axes = (attention_axes,)
            try:
                attention_axes = tuple(int(a) for a in attention_axes)
            except (TypeError, ValueError):
                raise TypeError(f"MultiHeadAttention: attention_axes={attention_axes!r}; expected an "
                                "int or a tuple of ints") from None
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim if value_dim is not None else key_dim
        self._value_dim_arg = value_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self._output_shape = output_shape
        self._attention_axes_arg = attention_axes
        self.seed = seed
        self.use_gate = bool(use_gate)
        self.sliding_window = sliding_window
        self._gate_dense = None
        self._set_weight_options(kernel_initializer=kernel_initializer,
                                 bias_initializer=bias_initializer,
                                 kernel_regularizer=kernel_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 kernel_constraint=kernel_constraint,
                                 bias_constraint=bias_constraint)
        self.use_causal_mask = bool(use_causal_mask)
        self.return_attention_scores = bool(return_attention_scores)
        self._symbolic_flags = None

    # ------------------------------------------------------------------ calling
    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None,
                 key_mask=None, attention_mask=None, return_attention_scores=False,
                 training=None, use_causal_mask=False, mask=None):
        if value is None:
            if not isinstance(query, (list, tuple)) or not 2 <= len(query) <= 4:
                raise ValueError(f"MultiHeadAttention {self.name!r}: call it as mha(query, value, "
                                 "key=None, ...) or on a list [query, value(, key(, attention_mask))]; "
                                 f"got {type(query).__name__}")
            inputs = list(query)
            return_attention_scores = return_attention_scores or self.return_attention_scores
            use_causal_mask = use_causal_mask or self.use_causal_mask
        else:
            inputs = [query, value]
            if key is not None or attention_mask is not None:
                inputs.append(value if key is None else key)
            if attention_mask is not None:
                inputs.append(attention_mask)
        if value is not None and self._symbolic_flags is None and symbolic.is_symbolic(inputs):
            # The first functional call of a layer rebuilt from a config (Keras's form passes
            # query, value, key separately): the flags kept in its config apply.
            return_attention_scores = return_attention_scores or self.return_attention_scores
            use_causal_mask = use_causal_mask or self.use_causal_mask
        explicit = [query_mask, value_mask, key_mask]
        if any(m is not None for m in explicit):
            mask = explicit + [None] * (len(inputs) - 3)
        flags = (bool(return_attention_scores), bool(use_causal_mask))
        if symbolic.is_symbolic(inputs):
            if mask is not None:
                raise ValueError(f"MultiHeadAttention {self.name!r}: in a functional model the "
                                 "query/value/key masks come from the tensors (mask_zero=True); "
                                 "pass attention_mask=... as a tensor instead")
            if self._symbolic_flags is not None and self._symbolic_flags != flags:
                raise ValueError(f"MultiHeadAttention {self.name!r}: every functional call of one "
                                 "layer must use the same return_attention_scores/use_causal_mask; "
                                 f"got {flags} after {self._symbolic_flags}")
            self._symbolic_flags = flags
            self.return_attention_scores, self.use_causal_mask = flags
            return super().__call__(inputs, training=bool(training))
        saved = (self.return_attention_scores, self.use_causal_mask)
        self.return_attention_scores, self.use_causal_mask = flags
        try:
            out = super().__call__(inputs, training=bool(training), mask=mask)
        finally:
            self.return_attention_scores, self.use_causal_mask = saved
        return tuple(out) if isinstance(out, list) else out

    # ------------------------------------------------------------------ building
    def _shapes(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if not 2 <= len(shapes) <= 4:
            raise ValueError(f"MultiHeadAttention {self.name!r}: expected 2 to 4 inputs [query, value, "
                             f"key, attention_mask]; got {len(shapes)}")
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        return q, v, k

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Keras's signature (``build(query_shape, value_shape, key_shape=None)``); a list
        ``[query_shape, value_shape(, key_shape)]`` as the only argument is taken too."""
        input_shape = _am.shape_list(query_shape, value_shape, key_shape)
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        q_shape, v_shape, k_shape = self._shapes(input_shape)
        if v_shape[1:-1] != k_shape[1:-1]:
            raise ValueError(f"MultiHeadAttention {self.name!r}: all dimensions of value and key, "
                             f"except the last, must be equal; got value {v_shape}, key {k_shape}")
        common = dict(kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer,
                      kernel_regularizer=self.kernel_regularizer,
                      bias_regularizer=self.bias_regularizer,
                      kernel_constraint=self.kernel_constraint,
                      bias_constraint=self.bias_constraint, dtype=self.dtype_policy)
        # Keras's build makes a Softmax and a Dropout sub-layer here (auto-named "softmax",
        # "dropout"); the math below is fused, but the names are taken all the same, so the
        # layers made afterwards are named as in Keras (the next Dropout is "dropout_1").
        unique_name("softmax")
        unique_name("dropout")
        denses = {}
        projections = [("query", q_shape, self.key_dim, None), ("key", k_shape, self.key_dim, None)]
        if self.use_gate:
            projections.append(("gate", q_shape, self.value_dim, "sigmoid"))
        projections.append(("value", v_shape, self.value_dim, None))
        for name, shape, head_dim, activation in projections:
            eq, bias_axes, rank = _build_proj_equation(len(shape) - 1, bound_dims=1, output_dims=2)
            layer = EinsumDense(eq, output_shape=_get_output_shape(rank - 1, [self.num_heads, head_dim]),
                                bias_axes=bias_axes if self.use_bias else None, name=name,
                                activation=activation, **common)
            layer._maybe_build(shape)
            denses[name] = layer
        self._query_dense, self._key_dense, self._value_dense = \
            denses["query"], denses["key"], denses["value"]
        self._gate_dense = denses.get("gate")
        rank = len(q_shape) + 1
        axes = self._attention_axes_arg
        axes = tuple(range(1, rank - 2)) if axes is None else tuple(a % (rank - 1) if a < 0 else a
                                                                     for a in axes)
        if any(a <= 0 or a >= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"MultiHeadAttention {self.name!r}: attention_axes="
                             f"{self._attention_axes_arg}; expected distinct axes between the batch "
                             f"axis and the last axis of inputs of rank {len(q_shape)}")
        self._attention_axes = axes
        self._batch_dims = tuple(i for i in range(rank) if i not in axes and i != rank - 1)
        self._perm = self._batch_dims + axes + (rank - 1,)
        self._inv_perm = _inverse(self._perm)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self.key_dim))
        out_shape = list(self._output_shape) if self._output_shape else [q_shape[-1]]
        eq, bias_axes, out_rank = _build_proj_equation(len(q_shape) - 1, bound_dims=2,
                                                       output_dims=len(out_shape))
        self._output_dense = EinsumDense(eq, output_shape=_get_output_shape(out_rank - 1, out_shape),
                                         bias_axes=bias_axes if self.use_bias else None,
                                         name="attention_output", **common)
        dense_in = list(self._query_dense.compute_output_shape(q_shape))
        dense_in[-1] = self.value_dim
        self._output_dense._maybe_build(tuple(dense_in))
        self._layers = [layer for layer in (self._query_dense, self._key_dense, self._gate_dense,
                                            self._value_dense, self._output_dense) if layer is not None]
        for layer in self._layers:
            layer.trainable = self.trainable
        self.built = True

    def compute_output_shape(self, input_shape):
        q_shape, v_shape, k_shape = self._shapes(input_shape)
        out = tuple(q_shape[:-1]) + (tuple(self._output_shape) if self._output_shape else (q_shape[-1],))
        if not self.return_attention_scores:
            return out
        qp = tuple(q_shape[:-1]) + (self.num_heads, self.key_dim)
        kp = tuple(k_shape[:-1]) + (self.num_heads, self.key_dim)
        axes = self._attention_axes
        scores = tuple(qp[i] for i in self._batch_dims) + tuple(qp[a] for a in axes) + \
            tuple(kp[a] for a in axes)
        return [out, scores]

    def compute_mask(self, inputs, mask=None):
        q_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        return [q_mask, None] if self.return_attention_scores else q_mask

    # ------------------------------------------------------------------ forward
    def _attention_mask(self, xp, q, v, masks, attention_mask):
        """Keras's _compute_attention_mask: a bool mask broadcastable to (B, T, S) or None."""
        q_mask, v_mask, k_mask = (_am.as_bool(self.backend, m) for m in masks)
        auto = None
        if q_mask is not None:
            auto = xp.expand_dims(q_mask, axis=-1)
        for m in (v_mask, k_mask):
            if m is not None:
                m = xp.expand_dims(m, axis=-2)
                auto = m if auto is None else xp.logical_and(auto, m)
        if self.use_causal_mask:
            m = _am.causal_mask(self.backend, q.shape[1], v.shape[1])
            auto = m if auto is None else xp.logical_and(auto, m)
        if self.sliding_window is not None:
            m = _am.sliding_window_mask(self.backend, q.shape[1], v.shape[1], self.sliding_window)
            auto = m if auto is None else xp.logical_and(auto, m)
        if attention_mask is not None:
            attention_mask = _am.as_bool(self.backend, attention_mask)
        if auto is not None:
            attention_mask = auto if attention_mask is None else xp.logical_and(attention_mask, auto)
        return attention_mask

    def forward(self, inputs, training=False, mask=None):
        xp = self.xp
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 4:
            raise ValueError(f"MultiHeadAttention {self.name!r}: expected a list [query, value(, key"
                             "(, attention_mask))]")
        n_in = len(inputs)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if n_in > 2 else v
        attention_mask = inputs[3] if n_in > 3 else None
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * 3
        masks = (masks + [None] * 3)[:3]
        if n_in == 2 and masks[2] is None:
            masks[2] = masks[1]
        am = self._attention_mask(xp, q, v, masks, attention_mask)

        Q, q_back = self._query_dense.forward(q)
        K, k_back = self._key_dense.forward(k)
        V, v_back = self._value_dense.forward(v)
        K, V = self._repeat_kv(K), self._repeat_kv(V)
        c = self._inverse_sqrt_key_dim
        perm, inv = self._perm, self._inv_perm
        nb, na = len(self._batch_dims), len(self._attention_axes)
        Qp = xp.permute_dims(Q * c, perm)
        Kp = xp.permute_dims(K, perm)
        Vp = xp.permute_dims(V, perm)
        bshape = tuple(Qp.shape[:nb])
        tshape = tuple(Qp.shape[nb:nb + na])
        sshape = tuple(Kp.shape[nb:nb + na])
        B, T, S = _prod(bshape), _prod(tshape), _prod(sshape)
        scores_shape = bshape + tshape + sshape
        if am is not None:
            expansion = -na * 2 - 1
            while am.ndim < len(scores_shape):
                am = xp.expand_dims(am, axis=expansion)
        drop = None
        want_scores = self.return_attention_scores
        # The products and the softmax over the batch·heads rows split over threads
        # where the backend offers it (NumPy: "split_rows"), for large enough work.
        split = (self.backend.fused("split_rows")
                 if not (training and self.dropout > 0) and B * T * S >= _SPLIT_MIN_SCORES
                 else None)
        # With one attention axis and at least _SPLIT_PIECES entries on the first batch
        # axis, the split runs over that axis on the permuted views themselves: the
        # products read them strided (BLAS takes each head's (T, dim) slice in place) and
        # write through permuted views into (…, T, heads, dim) arrays (the backend that
        # offers "split_rows", NumPy, gives views), so no copy of Q, K, V, the output or
        # their gradients is made (8 copies of batch·T·heads·dim values an attention
        # layer's step otherwise). bench transformer, in-process A/B, 2 threads, five runs:
        # 81-104 ms a step against 96-110 (a noisy hour).
        direct = split is not None and na == 1 and bshape[0] >= _SPLIT_PIECES
        if direct:
            rows = bshape[0]
            Qx, Kx, Vx = Qp, Kp, Vp
            mask_x = None if am is None else xp.broadcast_to(am, scores_shape)
        else:
            rows = B
            Qx = xp.reshape(Qp, (B, T, self.key_dim))
            Kx = xp.reshape(Kp, (B, S, self.key_dim))
            Vx = xp.reshape(Vp, (B, S, self.value_dim))
            mask_x = (None if am is None
                      else xp.reshape(xp.broadcast_to(am, scores_shape), (B, T, S)))
        o_full = bshape + tshape + (self.value_dim,)
        if split is not None:
            P = xp.empty(scores_shape if direct else (B, T, S), dtype=Qx.dtype)
            if direct:
                O = xp.empty(tuple(o_full[i] for i in inv), dtype=Qx.dtype)
                Ox = xp.permute_dims(O, perm)
            else:
                Ox = xp.empty((B, T, self.value_dim), dtype=Qx.dtype)
            part_backs = {}

            def forward_rows(b0, b1):
                s = Qx[b0:b1, ...] @ xp.matrix_transpose(Kx[b0:b1, ...])
                p, back = _am.masked_softmax(xp, s, None if mask_x is None
                                             else mask_x[b0:b1, ...], backend=self.backend)
                P[b0:b1, ...] = p
                Ox[b0:b1, ...] = p @ Vx[b0:b1, ...]
                part_backs[b0] = back
            split(forward_rows, rows, min_rows=rows // 8 or 1, pieces=_SPLIT_PIECES)
            Pd = P
            if not direct:
                O = xp.permute_dims(xp.reshape(Ox, o_full), inv)
        else:
            scores = Qx @ xp.matrix_transpose(Kx)
            P, softmax_back = _am.masked_softmax(xp, scores, mask_x, backend=self.backend)
            Pd = P
            if training and self.dropout > 0:
                drop = self.backend.dropout_mask(tuple(P.shape), self.dropout, dtype=P.dtype)
                Pd = P * drop
            O = xp.permute_dims(xp.reshape(Pd @ Vx, o_full), inv)
        G = g_back = None
        if self._gate_dense is not None:
            G, g_back = self._gate_dense.forward(q)
            y, o_back = self._output_dense.forward(O * G)
        else:
            y, o_back = self._output_dense.forward(O)

        def backward(dy):
            d_scores = None
            if want_scores:
                dy, d_scores = dy[0], dy[1]
            dO = o_back(dy)
            dq_gate = None
            if G is not None:
                dq_gate = g_back(dO * O)
                dO = dO * G
            dOp = xp.permute_dims(dO, perm)
            dOx = dOp if direct else xp.reshape(dOp, (B, T, self.value_dim))
            if direct:
                # The gradients' (…, T, heads, dim) arrays, written through permuted views.
                dQ, dK, dV = (xp.empty(tuple(a.shape), dtype=a.dtype) for a in (Q, K, V))
                dQx, dKx, dVx = (xp.permute_dims(a, perm) for a in (dQ, dK, dV))
            elif split is not None:
                dQx, dKx, dVx = (xp.empty(tuple(a.shape), dtype=a.dtype) for a in (Qx, Kx, Vx))
            if split is not None:
                extra = (None if d_scores is None
                         else d_scores if direct else xp.reshape(d_scores, (B, T, S)))

                def backward_rows(b0, b1):
                    do = dOx[b0:b1, ...]
                    dp = do @ xp.matrix_transpose(Vx[b0:b1, ...])
                    dVx[b0:b1, ...] = xp.matrix_transpose(P[b0:b1, ...]) @ do
                    if extra is not None:
                        dp = dp + extra[b0:b1, ...]
                    ds = part_backs[b0](dp)
                    dQx[b0:b1, ...] = ds @ Kx[b0:b1, ...]
                    dKx[b0:b1, ...] = xp.matrix_transpose(ds) @ Qx[b0:b1, ...]
                ranges = sorted(part_backs)
                bounds = list(zip(ranges, ranges[1:] + [rows]))
                split(lambda i0, i1: [backward_rows(*bounds[i]) for i in range(i0, i1)],
                      len(bounds), pieces=len(bounds))
            else:
                dPd = dOx @ xp.matrix_transpose(Vx)
                dVx = xp.matrix_transpose(Pd) @ dOx
                dP = dPd if drop is None else dPd * drop
                if d_scores is not None:
                    dP = dP + xp.reshape(d_scores, (B, T, S))
                dS = softmax_back(dP)
                dQx = dS @ Kx
                dKx = xp.matrix_transpose(dS) @ Qx
            if direct:
                dQ *= c      # this layer's own fresh buffer
            else:
                dQ = xp.permute_dims(xp.reshape(dQx, bshape + tshape + (self.key_dim,)), inv) * c
                dK = xp.permute_dims(xp.reshape(dKx, bshape + sshape + (self.key_dim,)), inv)
                dV = xp.permute_dims(xp.reshape(dVx, bshape + sshape + (self.value_dim,)), inv)
            dq = q_back(dQ)
            if dq_gate is not None:
                dq = dq + dq_gate
            dk = k_back(self._sum_kv(dK))
            dv = v_back(self._sum_kv(dV))
            if n_in == 2:
                return [dq, dv + dk]
            grads = [dq, dv, dk]
            if n_in == 4:
                grads.append(None)
            return grads

        if want_scores:
            return [y, xp.reshape(P, scores_shape)], backward
        return y, backward

    # Key/value heads shared by groups of query heads (GroupedQueryAttention overrides).
    def _repeat_kv(self, x):
        return x

    def _sum_kv(self, dx):
        return dx

    def _flags_config(self, config):
        # portanet's functional config has no per-call arguments: keep the flags of the
        # layer's functional call here (only when set, so Keras's keys stay as Keras's).
        if self.use_causal_mask:
            config["use_causal_mask"] = True
        if self.return_attention_scores:
            config["return_attention_scores"] = True
        return config

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": None if self._output_shape is None else list(self._output_shape),
            # Keras writes the axes it resolved at build (default: all but batch and features).
            "attention_axes": (list(self._attention_axes) if getattr(self, "_attention_axes", None)
                               is not None else None if self._attention_axes_arg is None
                               else list(self._attention_axes_arg)),
            "seed": self.seed,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            **self._weight_options_config("kernel_initializer", "bias_initializer",
                                          "kernel_regularizer", "bias_regularizer",
                                          "kernel_constraint", "bias_constraint"),
        })
        return self._flags_config(self._keras_config_always(config, "activity_regularizer"))

    def get_build_config(self):
        """Keras's form: ``{"shapes_dict": {"query_shape", "value_shape"[, "key_shape"]}}``
        (Keras's build takes the shapes as named arguments)."""
        if not self.built or self._build_input_shape is None:
            return None
        shapes = list(self._build_input_shape)
        names = ("query_shape", "value_shape", "key_shape")
        return {"shapes_dict": {names[i]: list(shapes[i]) for i in range(min(len(shapes), 3))}}
