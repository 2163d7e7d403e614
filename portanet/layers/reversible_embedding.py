"""``ReversibleEmbedding`` (keras/src/layers/core/reversible_embedding.py): an Embedding
that can also project vectors back to the vocabulary, ``layer(x, reverse=True)``, as
language models tie their input embedding and output projection."""

from .. import backend as _backend
from .. import ops
from ..ops import tape as _tape
from ..validation import check_number
from .embedding import Embedding
from . import symbolic

__all__ = ["ReversibleEmbedding"]


class ReversibleEmbedding(Embedding):
    """An Embedding with a reverse projection, as Keras 3.

    ``layer(ids)`` looks ids up as ``Embedding`` (its hand-written forward and scatter-add
    backward). ``layer(x, reverse=True)`` maps (..., output_dim) vectors to
    (..., input_dim) logits: ``x @ embeddings.T`` (``tie_weights=True``) or
    ``x @ reverse_embeddings`` (``tie_weights=False``), then, with ``logit_soft_cap=c``,
    ``c·tanh(logits / c)``. The reverse call is computed with ``pn.ops``, so inside a
    ``call()`` layer or a ``GradientTape`` its gradients reach the table(s).

    Args:
        input_dim, output_dim, embeddings_initializer ("uniform"), embeddings_regularizer,
        embeddings_constraint, mask_zero: as ``Embedding``.
        tie_weights: whether the reverse projection uses the transposed embeddings (default
            True) or its own ``reverse_embeddings`` weight (output_dim, input_dim).
        reverse_dtype: dtype of the reverse matmul (inputs and kernel cast to it), or None.
        logit_soft_cap: positive float or None (default None).

    Weights (Keras order): embeddings (input_dim, output_dim) [, reverse_embeddings
    (output_dim, input_dim)].

    Example:
        >>> emb = pn.layers.ReversibleEmbedding(1000, 64)
        >>> h = emb(ids)                  # (batch, seq, 64)
        >>> logits = emb(h, reverse=True)  # (batch, seq, 1000)
    """

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 reverse_dtype=None, logit_soft_cap=None, **kwargs):
        if logit_soft_cap is not None:
            check_number(logit_soft_cap, "logit_soft_cap", "ReversibleEmbedding", 0,
                         low_open=True)
        if reverse_dtype is not None and not isinstance(reverse_dtype, str):
            raise TypeError(f"ReversibleEmbedding: reverse_dtype={reverse_dtype!r}; expected a "
                            "dtype name such as 'float32', or None")
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight("reverse_embeddings",
                                                      (self.output_dim, self.input_dim),
                                                      self.embeddings_initializer)
        self.built = True

    # A functional call's reverse=True is kept in its node (and config), as Keras's.
    _node_call_kwargs = ("reverse",)

    def __call__(self, inputs, reverse=False, training=False, mask=None, **kwargs):
        if not reverse:
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        if symbolic.is_symbolic(inputs):
            # Functional API: a node whose run is forward(..., reverse=True) below.
            shape = tuple(inputs.shape) if not isinstance(inputs, (list, tuple, dict)) else None
            if shape is None or shape[-1] != self.output_dim:
                raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True expects one "
                                 f"tensor whose last axis is output_dim={self.output_dim}; got "
                                 f"{inputs!r}")
            return super().__call__(inputs, training=training, mask=mask, reverse=True, **kwargs)
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword argument(s) {sorted(kwargs)}")
        return self.reverse(inputs)

    def reverse(self, inputs):
        """The reverse projection (``layer(x, reverse=True)``): logits over the vocabulary."""
        if not isinstance(inputs, (_tape.Tensor, _tape.VariableLike)):
            backend = self.backend
            if backend is None:
                backend = _backend.current()
            inputs = backend.asarray(inputs, dtype=self._input_dtype(inputs))
        shape = tuple(ops.shape(inputs))
        if shape[-1] != self.output_dim:
            raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True expects inputs "
                             f"whose last axis is output_dim={self.output_dim}; got shape {shape}")
        self._maybe_build(shape[:-1])
        kernel = (ops.transpose(self.embeddings) if self.tie_weights
                  else self.reverse_embeddings)
        if self.reverse_dtype is not None:
            inputs = ops.cast(inputs, self.reverse_dtype)
            kernel = ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = self.logit_soft_cap
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    def forward(self, x, training=False, reverse=False):
        if not reverse:
            return super().forward(x, training=training)
        # The reverse projection as a closure (a graph node called with reverse=True): the
        # same math as reverse(), with its gradients by hand.
        xp = self.xp
        tied = self.tie_weights
        table = self.embeddings if tied else self.reverse_embeddings
        kernel = xp.matrix_transpose(table.value) if tied else table.value    # (output_dim, input_dim)
        x_in = x if xp.isdtype(x.dtype, "real floating") else xp.astype(x, kernel.dtype)
        if self.reverse_dtype is not None:
            dtype = self.backend.dtype(self.reverse_dtype)
            x_in, kernel = xp.astype(x_in, dtype), xp.astype(kernel, dtype)
        logits = xp.matmul(x_in, kernel)
        cap = self.logit_soft_cap
        if cap is not None:
            t = xp.tanh(logits / cap)
            logits = t * cap

        def backward(dy):
            g = dy if cap is None else dy * (1.0 - t * t)
            g = xp.astype(g, logits.dtype) if g.dtype != logits.dtype else g
            flat_x = xp.reshape(x_in, (-1, self.output_dim))
            flat_g = xp.reshape(g, (-1, self.input_dim))
            d_kernel = xp.matmul(xp.matrix_transpose(flat_x), flat_g)      # (output_dim, input_dim)
            d_table = xp.matrix_transpose(d_kernel) if tied else d_kernel
            if d_table.dtype != table.value.dtype:
                d_table = xp.astype(d_table, table.value.dtype)
            table.add_grad(d_table)
            dx = xp.matmul(g, xp.matrix_transpose(kernel))
            return xp.astype(dx, x.dtype) if dx.dtype != x.dtype else dx
        return logits, backward

    def compute_mask(self, inputs, mask=None, reverse=False):
        return None if reverse else super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({"tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                       "logit_soft_cap": self.logit_soft_cap})
        return config
