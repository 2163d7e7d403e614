"""Regularization layers (keras/src/layers/regularization), active only when training:
Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout and
ActivityRegularization (which only adds a penalty on its input to the loss).

Random draws come from the layer's backend (``dropout_mask``, ``random_normal``), seeded
by ``pn.utils.set_random_seed``; in inference (``training=False``) every layer here is the
identity.
"""

import math

from .. import regularizers as _regularizers
from ..validation import check_number
from .base import Layer
from .input_spec import InputSpec

__all__ = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
           "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"]


def _check_rate(layer, rate, name="rate"):
    return check_number(rate, name, layer, 0, 1, high_open=True)


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
        self.rate = _check_rate(type(self).__name__, rate)
        if noise_shape is not None:
            if isinstance(noise_shape, int):
                noise_shape = (noise_shape,)
            try:
                noise_shape = tuple(None if s is None else int(s) for s in noise_shape)
            except (TypeError, ValueError):
                raise TypeError(f"{type(self).__name__}: noise_shape={noise_shape!r}; expected a "
                                "tuple of ints or None") from None
        self.noise_shape = noise_shape
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


class _SpatialDropout(Dropout):
    """Dropout of whole channels: one draw per (sample, channel), shared over the other axes."""

    _rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=self._rank)
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format={data_format!r}; expected "
                             "'channels_last' or 'channels_first'")
        self.data_format = data_format

    def _mask_shape(self, shape):
        if len(shape) != self._rank:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected inputs of rank "
                             f"{self._rank}; got shape {tuple(shape)}")
        ones = (1,) * (self._rank - 2)
        if self.data_format == "channels_first":
            return (shape[0], shape[1]) + ones
        return (shape[0],) + ones + (shape[-1],)

    def get_config(self):
        # Keras 3.15's SpatialDropout writes name, dtype (the plain name) and its arguments,
        # not the base layer's trainable / dtype policy.
        config = {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}
        if self._rank > 3:
            config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Dropout that drops entire 1-D feature maps (channels) instead of single elements.

    Args:
        rate: float in [0, 1), the fraction of channels to drop.
        seed: accepted for Keras compatibility (masks follow ``pn.utils.set_random_seed``).

    Input shape: (batch, steps, channels). Output shape: same. The kept channels are scaled
    by 1/(1 - rate); inference is the identity.
    """

    _rank = 3

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Dropout that drops entire 2-D feature maps (channels).

    Args:
        rate: float in [0, 1).
        data_format: "channels_last" (default, (batch, rows, cols, channels)) or
            "channels_first" ((batch, channels, rows, cols)).
        seed: accepted for Keras compatibility.

    Input shape: 4-D. Output shape: same.
    """

    _rank = 4


class SpatialDropout3D(_SpatialDropout):
    """Dropout that drops entire 3-D feature maps (channels).

    Args:
        rate: float in [0, 1).
        data_format: "channels_last" (default) or "channels_first".
        seed: accepted for Keras compatibility.

    Input shape: 5-D. Output shape: same.
    """

    _rank = 5


class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training.

    Args:
        stddev: float in [0, 1] (Keras's range), the noise's standard deviation.
        seed: accepted for Keras compatibility.

    Input/output shape: any, unchanged. Inference: identity. The gradient is the identity.
    """

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = check_number(stddev, "stddev", "GaussianNoise", 0, 1)
        self.seed = seed

    def forward(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x, _identity
        noise = self.backend.random_normal(tuple(x.shape), 0.0, self.stddev, dtype=x.dtype)
        return x + noise, _identity

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


class GaussianDropout(Layer):
    """Multiplies the input by Gaussian noise of mean 1 and stddev sqrt(rate/(1 - rate)).

    Args:
        rate: float in [0, 1), the drop probability of the equivalent Dropout.
        seed: accepted for Keras compatibility.

    Input/output shape: any, unchanged. Inference: identity.
    """

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate("GaussianDropout", rate)
        self.seed = seed

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, _identity
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = self.backend.random_normal(tuple(x.shape), 1.0, stddev, dtype=x.dtype)

        def backward(dy):
            return dy * noise
        return x * noise, backward

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of its inputs, for SELU networks.

    Dropped entries are set to alpha' = -selu_alpha·selu_scale, then everything is
    transformed by a·x + b with a = ((1 - rate)(1 + rate·alpha'²))^-1/2 and
    b = -a·alpha'·rate (Keras's formula), so zero-mean unit-variance inputs stay so.

    Args:
        rate: float in [0, 1), the drop probability.
        noise_shape: shape of the keep mask (None entries take the input's size).
        seed: accepted for Keras compatibility.

    Input/output shape: any, unchanged. Inference: identity.
    """

    _ALPHA = 1.6732632423543772848170429916717
    _SCALE = 1.0507009873554804934193349852946

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, _identity
        xp = self.xp
        rate = self.rate
        alpha_p = -self._ALPHA * self._SCALE
        draw = self.backend.dropout_mask(self._mask_shape(x.shape), rate, dtype=x.dtype)
        kept = xp.astype(draw > 0, x.dtype)
        a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        y = a * (x * kept + alpha_p * (1.0 - kept)) + b

        def backward(dy):
            return dy * (a * kept)
        return y, backward


class ActivityRegularization(Layer):
    """Identity layer that adds l1·Σ|x| + l2·Σx² of its input to the loss.

    As Keras, the penalty of a batch is divided by the batch size (the activity
    regularizer convention), and it is part of the loss in training and evaluation.

    Args:
        l1: non-negative float, the L1 factor (default 0).
        l2: non-negative float, the L2 factor (default 0).

    Input/output shape: any, unchanged.
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        for name, value in (("l1", l1), ("l2", l2)):
            check_number(value, name, "ActivityRegularization", low=0)
        super().__init__(activity_regularizer=_regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, x, training=False):
        return x, _identity

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        config.update({"l1": self.l1, "l2": self.l2})
        return config
