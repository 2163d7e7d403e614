"""GroupedQueryAttention (keras/src/layers/attention/grouped_query_attention.py; exported by
Keras as ``keras.layers.GroupQueryAttention``): query heads share key/value heads in groups."""

import math

from ..base import Layer, check_positive_int
from . import _attention_math as _am
from .einsum_dense import EinsumDense
from .multi_head_attention import MultiHeadAttention

__all__ = ["GroupedQueryAttention", "GroupQueryAttention"]


class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al., 2023), as Keras's layer.

    ``num_key_value_heads`` key/value heads are each repeated for ``num_query_heads /
    num_key_value_heads`` query heads (1: multi-query attention; ``num_query_heads``:
    multi-head attention).

    Args:
        head_dim: size of each head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key/value heads; must divide ``num_query_heads``.
        dropout: dropout rate on the attention probabilities (training only).
        use_bias: whether the projections have biases.
        flash_attention: accepted for Keras compatibility (None or False).
        use_gate: sigmoid gate on the attention output (a "gate" projection of the query).
        sliding_window: None or a positive int: attend only to keys less than it away.
        kernel_initializer / bias_initializer, kernel_regularizer / bias_regularizer /
        activity_regularizer, kernel_constraint / bias_constraint: for the projections.
        seed: accepted for Keras compatibility.

    Call as ``MultiHeadAttention``: ``gqa(query, value, key=None, ..., attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``.

    Input shapes: query (B, T, dim), value and key (B, S, dim). Output shape (B, T, dim);
    scores (B, num_query_heads, T, S). Weights (Keras order): query kernel (dim,
    num_query_heads, head_dim), query bias, key kernel (dim, num_key_value_heads, head_dim),
    key bias, value kernel/bias (as key), output kernel (num_query_heads, head_dim, dim),
    output bias (dim,).
    """

    # Keras exports this class as keras.layers.GroupQueryAttention and writes that name.
    _keras_class_name = "GroupQueryAttention"

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, sliding_window=None, use_gate=False, use_causal_mask=False,
                 return_attention_scores=False, **kwargs):
        name = "GroupedQueryAttention"
        check_positive_int(head_dim, "head_dim", name)
        check_positive_int(num_query_heads, "num_query_heads", name)
        check_positive_int(num_key_value_heads, "num_key_value_heads", name)
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(f"{name}: num_query_heads={num_query_heads} must be divisible by "
                             f"num_key_value_heads={num_key_value_heads}")
        super().__init__(num_heads=num_query_heads, key_dim=head_dim, dropout=dropout,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         seed=seed, use_gate=use_gate, sliding_window=sliding_window,
                         flash_attention=flash_attention, use_causal_mask=use_causal_mask,
                         return_attention_scores=return_attention_scores, **kwargs)
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads
        self.flash_attention = flash_attention

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Keras's signature (``build(query_shape, value_shape, key_shape=None)``); a list
        ``[query_shape, value_shape(, key_shape)]`` as the only argument is taken too."""
        input_shape = _am.shape_list(query_shape, value_shape, key_shape)
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        q_shape, v_shape, k_shape = self._shapes(input_shape)
        self._check_shapes(q_shape, v_shape, k_shape)
        if len(q_shape) != 3:
            raise ValueError(f"GroupedQueryAttention {self.name!r}: inputs must have rank 3 "
                             f"(batch, steps, dim); got query shape {q_shape}")
        common = dict(kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer,
                      kernel_regularizer=self.kernel_regularizer,
                      bias_regularizer=self.bias_regularizer,
                      kernel_constraint=self.kernel_constraint,
                      bias_constraint=self.bias_constraint, dtype=self.dtype_policy)
        bias = self.use_bias
        self.feature_dim = q_shape[-1]
        self._query_dense = EinsumDense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim),
                                        bias_axes="uh" if bias else None, name="query", **common)
        self._query_dense._maybe_build(q_shape)
        self._key_dense = EinsumDense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim),
                                      bias_axes="vh" if bias else None, name="key", **common)
        self._key_dense._maybe_build(k_shape)
        self._gate_dense = None
        if self.use_gate:
            self._gate_dense = EinsumDense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim),
                                           bias_axes="uh" if bias else None, activation="sigmoid",
                                           name="gate", **common)
            self._gate_dense._maybe_build(q_shape)
        self._value_dense = EinsumDense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim),
                                        bias_axes="vh" if bias else None, name="value", **common)
        self._value_dense._maybe_build(v_shape)
        self._output_dense = EinsumDense("bquh,uhm->bqm", (None, self.feature_dim),
                                         bias_axes="m" if bias else None, name="attention_output",
                                         **common)
        self._output_dense._maybe_build((None, None, self.num_query_heads, self.head_dim))
        self._attention_axes = (1,)
        self._batch_dims = (0, 2)
        self._perm = (0, 2, 1, 3)
        self._inv_perm = (0, 2, 1, 3)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self.head_dim))
        self._layers = [layer for layer in (self._query_dense, self._key_dense, self._gate_dense,
                                            self._value_dense, self._output_dense) if layer is not None]
        for layer in self._layers:
            layer.trainable = self.trainable
        self.built = True

    def _check_shapes(self, q_shape, v_shape, k_shape):
        if q_shape[-1] != v_shape[-1]:
            raise ValueError(f"GroupedQueryAttention {self.name!r}: the last dimension of query and "
                             f"value must be equal; got query {q_shape}, value {v_shape}")
        if v_shape[1:-1] != k_shape[1:-1]:
            raise ValueError(f"GroupedQueryAttention {self.name!r}: all dimensions of value and key, "
                             f"except the last, must be equal; got value {v_shape}, key {k_shape}")

    def compute_output_shape(self, input_shape):
        q_shape, v_shape, k_shape = self._shapes(input_shape)
        self._check_shapes(q_shape, v_shape, k_shape)
        if not self.return_attention_scores:
            return tuple(q_shape)
        return [tuple(q_shape), (q_shape[0], self.num_query_heads, q_shape[1], k_shape[1])]

    def _repeat_kv(self, x):
        # ops.repeat(x, r, axis=2): each key/value head r times in a row.
        if self.num_repeats == 1:
            return x
        xp = self.xp
        b, s, h, d = x.shape
        x = xp.broadcast_to(xp.expand_dims(x, axis=3), (b, s, h, self.num_repeats, d))
        return xp.reshape(x, (b, s, h * self.num_repeats, d))

    def _sum_kv(self, dx):
        if self.num_repeats == 1:
            return dx
        xp = self.xp
        b, s, _, d = dx.shape
        return xp.sum(xp.reshape(dx, (b, s, self.num_key_value_heads, self.num_repeats, d)), axis=3)

    def get_config(self):
        config = Layer.get_config(self)
        config.update({
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "seed": self.seed,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            **self._weight_options_config("kernel_initializer", "bias_initializer",
                                          "kernel_regularizer", "bias_regularizer",
                                          "kernel_constraint", "bias_constraint"),
        })
        return self._flags_config(self._keras_config_always(config, "activity_regularizer"))


GroupQueryAttention = GroupedQueryAttention   # Keras's exported name
