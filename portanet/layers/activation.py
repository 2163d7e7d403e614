"""Activation layers (keras/src/layers/activations): ReLU, LeakyReLU, PReLU, ELU, Softmax.

Each applies the function of the same name in ``portanet.activations`` elementwise and
keeps the input shape; PReLU is the only one with weights (its learned slope).
"""

from .. import activations as _activations
from ..validation import check_number
from .base import Layer
from .input_spec import InputSpec

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


def _non_negative(layer, name, value, allow_none=False):
    return check_number(value, name, layer, low=0, allow_none=allow_none, allow_inf=True)


class ReLU(Layer):
    """Rectified linear unit: ``x`` above ``threshold`` (clipped at ``max_value``),
    ``negative_slope·(x - threshold)`` at or below it.

    Args:
        max_value: non-negative float, the largest output; None for no limit.
        negative_slope: non-negative float, the slope below the threshold (default 0).
        threshold: non-negative float, the threshold of activation (default 0).

    Input shape: any. Output shape: same as the input.

    Example:
        >>> layer = pn.layers.ReLU(max_value=6.0)   # relu6
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative("ReLU", "max_value", max_value, allow_none=True)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def forward(self, x, training=False):
        kw = {"negative_slope": self.negative_slope, "max_value": self.max_value,
              "threshold": self.threshold}
        y = _activations.relu(x, **kw)

        def backward(dy):
            return _activations.relu.grad(x, y, dy, **kw)
        return y, backward

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(Layer):
    """Leaky ReLU: ``x`` for x >= 0, ``negative_slope·x`` otherwise.

    Args:
        negative_slope: non-negative float, the slope for x < 0 (default 0.3, as the
            Keras layer; the function ``activations.leaky_relu`` defaults to 0.2).
            The Keras 2 name ``alpha`` is accepted too.

    Input shape: any. Output shape: same as the input.
    """

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x, training=False):
        y = _activations.leaky_relu(x, negative_slope=self.negative_slope)

        def backward(dy):
            return _activations.leaky_relu.grad(x, y, dy, negative_slope=self.negative_slope)
        return y, backward

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class PReLU(Layer):
    """Parametric ReLU: ``x`` for x >= 0, ``alpha·x`` otherwise, with ``alpha`` learned.

    Args:
        alpha_initializer: initializer of the slopes (default "zeros").
        alpha_regularizer / alpha_constraint: for the slopes.
        shared_axes: axes (1-based, the batch axis is 0) along which one slope is shared,
            e.g. ``shared_axes=[1, 2]`` for one slope per channel of a (batch, h, w, c) input.

    Input shape: any, with known non-batch dimensions.
    Output shape: same as the input. Weight ``alpha`` has the input shape without the
    batch axis, with 1 on the shared axes.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self._set_weight_options(alpha_initializer=alpha_initializer,
                                 alpha_regularizer=alpha_regularizer,
                                 alpha_constraint=alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
                raise ValueError(f"PReLU: shared_axes={shared_axes!r}; expected positive axis "
                                 "indices (the batch axis 0 cannot be shared)")
            self.shared_axes = axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        if self.shared_axes is not None:
            for a in self.shared_axes:
                if a >= len(input_shape):
                    raise ValueError(f"PReLU {self.name!r}: shared axis {a} is out of range for "
                                     f"input shape {tuple(input_shape)}")
                shape[a - 1] = 1
        if any(s is None for s in shape):
            raise ValueError(f"PReLU {self.name!r}: the non-shared input dimensions must be known; "
                             f"got input shape {tuple(input_shape)}")
        self._shared = tuple(self.shared_axes or ())
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     self.alpha_regularizer, self.alpha_constraint)
        # Keras's spec: the rank, and (only with shared_axes) the size of each other axis.
        axes = {i: input_shape[i] for i in range(1, len(input_shape))
                if self.shared_axes and i not in self.shared_axes}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        alpha = self.alpha.value
        zero = xp.zeros((), dtype=x.dtype)
        neg = xp.minimum(x, zero)
        y = xp.maximum(x, zero) + alpha * neg
        shared = self._shared

        def backward(dy):
            g = dy * neg
            g = xp.sum(g, axis=0)
            for a in shared:
                g = xp.sum(g, axis=a - 1, keepdims=True)
            self.alpha.add_grad(g)
            return dy * xp.where(x >= 0, xp.ones_like(x), alpha * xp.ones_like(x))
        return y, backward

    def get_config(self):
        config = super().get_config()
        config.update({
            **self._weight_options_config("alpha_initializer", "alpha_regularizer",
                                          "alpha_constraint"),
            "shared_axes": self.shared_axes,
        })
        return config


class ELU(Layer):
    """Exponential linear unit: ``x`` for x > 0, ``alpha·(exp(x) - 1)`` otherwise.

    Args:
        alpha: float, the value approached for large negative inputs (default 1.0).

    Input shape: any. Output shape: same as the input.
    """

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise TypeError(f"ELU: alpha={alpha!r}; expected a float")
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        y = _activations.elu(x, alpha=self.alpha)

        def backward(dy):
            return _activations.elu.grad(x, y, dy, alpha=self.alpha)
        return y, backward

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class Softmax(Layer):
    """Softmax along ``axis``: exp(x) / Σ exp(x).

    Args:
        axis: int or tuple of ints, the axis (axes) normalized over (default -1).

    Call arguments:
        mask: optional boolean (or 0/1) array of the input's rank, broadcastable to it;
            masked positions get (as Keras) a large negative number added before the
            softmax, so their probability is ~0. A mask of lower rank (a per-timestep mask
            propagated from e.g. ``Embedding(mask_zero=True)``) does not change the values:
            it only passes through.

    Input shape: any. Output shape: same as the input.
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(a, bool) or not isinstance(a, int) for a in axis):
                raise TypeError(f"Softmax: axis={axis!r}; expected an int or a tuple of ints")
            axis = tuple(axis)
        elif isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Softmax: axis={axis!r}; expected an int or a tuple of ints")
        self.axis = axis

    def forward(self, x, training=False, mask=None):
        xp = self.xp
        if mask is not None and mask.ndim == x.ndim:
            # Keras's _large_negative_number: -1e9 (float32/64), -3e4 for float16.
            big = 3e4 if getattr(xp, "float16", None) == x.dtype else 1e9
            x = x - (1.0 - xp.astype(mask, x.dtype)) * big
        axis = self.axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)

        def backward(dy):
            return y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))
        return y, backward

    def get_config(self):
        config = super().get_config()
        config["axis"] = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return config
