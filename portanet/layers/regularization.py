"""Regularization layers, active only in training: Dropout (more of the family alongside)."""

from .base import Layer

__all__ = ["Dropout"]


def _identity(dy):
    return dy


class Dropout(Layer):
    """Randomly sets inputs to 0 with frequency ``rate`` in training, scaling the rest by 1/(1-rate).

    Args:
        rate: float in [0, 1), the fraction to drop.
        noise_shape: shape of the binary mask (1 to share it along an axis; None for the
            input's own dimension), e.g. (None, 1, features) drops whole features.
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.

    Input/output shape: any, unchanged. Inference: identity.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate={rate!r}; expected a float in [0, 1)")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return tuple(shape)
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"Dropout {self.name!r}: noise_shape={self.noise_shape} does not match "
                             f"input rank {len(shape)}")
        return tuple(s if n is None else n for s, n in zip(shape, self.noise_shape))

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, _identity
        mask = self.backend.dropout_mask(self._mask_shape(x.shape), self.rate, dtype=x.dtype)

        def backward(dy):
            return dy * mask
        return x * mask, backward

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed,
                       "noise_shape": None if self.noise_shape is None else list(self.noise_shape)})
        return config
