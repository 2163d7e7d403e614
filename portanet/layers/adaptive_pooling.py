"""Adaptive pooling layers of Keras 3.15 (keras/src/layers/pooling/adaptive_*.py):
``AdaptiveAveragePooling1D/2D/3D`` and ``AdaptiveMaxPooling1D/2D/3D``.

The output has a fixed spatial size ``output_size`` whatever the input's; along an axis of
length L pooled to O positions, output i covers the input positions
``[floor(i·L/O), ceil((i+1)·L/O))`` (Keras 3.15's bins, the same as PyTorch's). The layers
are written with ``call()`` over ``pn.ops.adaptive_average_pool`` /
``pn.ops.adaptive_max_pool``, so their gradients come from the tape (they have no weights).
"""

from .. import ops
from . import _windows as W
from .base import Layer

__all__ = ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
           "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"]


class _AdaptivePooling(Layer):
    """Shared arguments, shapes and config (Keras's ``BaseAdaptivePooling``)."""

    rank = None
    _mode = None

    def __init__(self, output_size, data_format=None, **kwargs):
        owner = type(self).__name__
        names = {1: "an integer or (length,) tuple", 2: "an integer or (height, width) tuple",
                 3: "an integer or (depth, height, width) tuple"}[self.rank]
        if isinstance(output_size, bool) or not isinstance(output_size, (int, tuple, list)):
            raise TypeError(f"{owner}: output_size={output_size!r}; expected {names}")
        size = W.normalize_tuple(output_size, self.rank, "output_size", owner)
        data_format = W.normalize_data_format(data_format, owner)
        super().__init__(**kwargs)
        self.output_size = size
        self.data_format = data_format

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        self.built = True

    def call(self, inputs):
        pool = ops.adaptive_average_pool if self._mode == "average" else ops.adaptive_max_pool
        return pool(inputs, output_size=self.output_size, data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        if self.data_format == "channels_last":
            return (batch, *self.output_size, input_shape[-1])
        return (batch, input_shape[1], *self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "data_format": self.data_format})
        return config


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Adaptive average pooling over the steps of (batch, steps, channels) inputs
    (channels_last) to ``output_size`` steps.

    Args:
        output_size: int or (length,), the output length.
        data_format: "channels_last" (default) or "channels_first".

    Example:
        >>> y = pn.layers.AdaptiveAveragePooling1D(4)(x)   # (2, 10, 3) -> (2, 4, 3)
    """

    rank, _mode = 1, "average"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Adaptive average pooling of (batch, height, width, channels) inputs to
    ``output_size`` = (height, width) (an int means a square)."""

    rank, _mode = 2, "average"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Adaptive average pooling of (batch, depth, height, width, channels) inputs to
    ``output_size`` = (depth, height, width)."""

    rank, _mode = 3, "average"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Adaptive max pooling over the steps of (batch, steps, channels) inputs to
    ``output_size`` steps (the bins of ``AdaptiveAveragePooling1D``)."""

    rank, _mode = 1, "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Adaptive max pooling of (batch, height, width, channels) inputs to ``output_size``."""

    rank, _mode = 2, "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Adaptive max pooling of (batch, depth, height, width, channels) inputs to
    ``output_size``."""

    rank, _mode = 3, "max"
