"""Embedding (integer ids -> dense vectors) and Masking (skip padded timesteps).

Both produce the Keras mask that recurrent layers consume: ``Embedding(mask_zero=True)``
masks id 0; ``Masking(mask_value)`` masks timesteps whose features all equal the value.
"""

from ..validation import check_positive_int
from .base import Layer, check_no_quantization

__all__ = ["Embedding", "Masking"]


class Embedding(Layer):
    """Turns non-negative integer ids into dense vectors: ``out = embeddings[ids]``.

    Args:
        input_dim: positive int, the vocabulary size (largest id + 1).
        output_dim: positive int, the size of each vector.
        embeddings_initializer: default "uniform" (U(−0.05, 0.05)), as Keras.
        embeddings_regularizer: penalty on the table.
        embeddings_constraint: applied after each update.
        mask_zero: whether id 0 is padding; the layer then passes on the mask
            ``ids != 0`` (so id 0 cannot be a real token and input_dim should be
            vocabulary size + 1).
        input_length: accepted for Keras 2 compatibility; unused.

    Input shape: (batch, ...) integer ids (float ids are truncated to integers).
    Output shape: (batch, ..., output_dim). The table has shape (input_dim, output_dim).
    The input has no gradient (ids are integers); the table's gradient is a scatter-add,
    so repeated ids accumulate.

    Example:
        >>> layer = pn.layers.Embedding(1000, 64, mask_zero=True)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 input_length=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        check_no_quantization("Embedding", lora_rank=lora_rank, lora_alpha=lora_alpha,
                              quantization_config=quantization_config)
        super().__init__(**kwargs)
        self.input_dim = check_positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = check_positive_int(output_dim, "output_dim", "Embedding")
        self._set_weight_options(embeddings_initializer=embeddings_initializer,
                                 embeddings_regularizer=embeddings_regularizer,
                                 embeddings_constraint=embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape=None):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer,
                                          self.embeddings_constraint)
        self.built = True

    def _ids(self, x):
        xp = self.xp
        if xp.isdtype(x.dtype, "integral"):
            return x if x.dtype == xp.int64 else xp.astype(x, xp.int64)
        return xp.astype(x, xp.int64)

    def forward(self, x, training=False):
        xp = self.xp
        ids = self._ids(x)
        table = self.embeddings.value
        flat = xp.reshape(ids, (-1,))
        out_shape = tuple(ids.shape) + (self.output_dim,)
        y = xp.reshape(xp.take(table, flat, axis=0), out_shape)

        def backward(dy):
            grad = self.backend.scatter_add(xp.zeros_like(table), flat,
                                            xp.reshape(dy, (-1, self.output_dim)))
            self.embeddings.add_grad(grad)
            # Integer ids have no gradient.
            return None
        return y, backward

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        xp = self.backend.xp
        return inputs != xp.zeros((), dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **self._weight_options_config("embeddings_initializer", "embeddings_regularizer",
                                          "embeddings_constraint"),
            "mask_zero": self.mask_zero,
        })
        return self._keras_config_always(config, "activity_regularizer", "quantization_config")


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value`` (Keras's Masking).

    The output is the input with masked timesteps set to 0, and the layer passes on
    the mask ``any(inputs != mask_value, axis=-1)``, so that a following recurrent
    layer skips those timesteps (keeping its previous state and output, as Keras).

    Args:
        mask_value: float; a timestep is masked when every feature equals it.

    Input shape: (batch, timesteps, features) (any rank >= 2).
    Output shape: same as the input.

    Example:
        >>> layer = pn.layers.Masking(mask_value=0.0)
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(f"Masking: mask_value={mask_value!r}; expected a number")
        self.mask_value = float(mask_value)

    def _keep(self, x):
        xp = self.xp
        return xp.any(x != self.mask_value, axis=-1, keepdims=True)

    def forward(self, x, training=False):
        keep = self.xp.astype(self._keep(x), x.dtype)

        def backward(dy):
            return dy * keep
        return x * keep, backward

    def compute_mask(self, inputs, mask=None):
        return self.xp.any(inputs != self.mask_value, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
