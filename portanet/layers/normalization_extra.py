"""More normalization layers of Keras 3: GroupNormalization, RMSNormalization and
UnitNormalization, with hand-written backward passes (keras/src/layers/normalization).

GroupNormalization splits the channels into groups and normalizes each sample's group
with the biased variance E[x²] − μ² (Keras's ``ops.moments``); RMSNormalization divides
by the root mean square, ``x·rsqrt(mean(x²) + epsilon)·scale``; UnitNormalization divides
by the L2 norm, ``x·rsqrt(max(sum(x²), 1e-24))`` (Keras's ``ops.normalize`` with
epsilon 1e-12).
"""

from ..validation import check_number
from .base import Layer
from .input_spec import InputSpec
from .normalization import _normalize_axes

__all__ = ["GroupNormalization", "RMSNormalization", "UnitNormalization"]


def _check_axis(axis, owner, allow_list=True):
    """An int (or, if allowed, a non-empty list of ints) for ``axis``; a list is returned."""
    if isinstance(axis, (list, tuple)) and allow_list:
        if not axis or any(isinstance(a, bool) or not isinstance(a, int) for a in axis):
            raise TypeError(f"{owner}: axis={axis!r}; expected an int or a non-empty list of ints")
        return list(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        expected = "an int or a list of ints" if allow_list else "an int"
        raise TypeError(f"{owner}: axis={axis!r}; expected {expected}")
    return axis


def _check_axes_in_range(axis, input_shape, owner):
    for a in (axis if isinstance(axis, list) else [axis]):
        if a >= len(input_shape) or a < -len(input_shape):
            raise ValueError(f"{owner}: axis {a} is out of bounds for input shape "
                             f"{tuple(input_shape)}")


class GroupNormalization(Layer):
    """Group normalization (Wu & He, 2018), as Keras 3.

    The channels of ``axis`` are split into ``groups`` groups; each sample's group is
    normalized over the group's channels and every other non-batch axis:
    ``y = (x − μ)/sqrt(σ² + epsilon)·gamma + beta`` with σ² = E[x²] − μ² (biased).
    ``groups=1`` is close to LayerNormalization; ``groups=-1`` (one group per channel) is
    instance normalization.

    Args:
        groups: int, the number of groups (default 32), dividing the number of channels;
            -1 for one group per channel (the config then stores the channel count, as Keras).
        axis: int, the channels axis (default -1).
        epsilon: small positive float added to the variance (default 1e-3).
        center: whether to add the offset ``beta``.
        scale: whether to multiply by ``gamma``.
        beta_initializer / gamma_initializer: default "zeros" / "ones".
        beta_regularizer / gamma_regularizer, beta_constraint / gamma_constraint.

    Input shape: any, rank >= 2 (batch first). Output shape: same as the input.
    Weights (Keras order): gamma, beta, each of shape ``(input_shape[axis],)``.

    Example:
        >>> layer = pn.layers.GroupNormalization(groups=4)
    """

    # Under a mixed policy Keras computes this layer in float32 (float32 weights, inputs cast
    # to float32) and casts its output to the compute dtype.
    _mixed_precision_float32 = True

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization: groups={groups!r}; expected a positive integer "
                             "(or -1 for instance normalization)")
        super().__init__(**kwargs)
        self.groups = groups
        self.axis = _check_axis(axis, "GroupNormalization", allow_list=False)
        self.epsilon = check_number(epsilon, "epsilon", "GroupNormalization", 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self._set_weight_options(beta_initializer=beta_initializer,
                                 gamma_initializer=gamma_initializer,
                                 beta_regularizer=beta_regularizer,
                                 gamma_regularizer=gamma_regularizer,
                                 beta_constraint=beta_constraint,
                                 gamma_constraint=gamma_constraint)

    def build(self, input_shape):
        owner = f"GroupNormalization {self.name!r}"
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(f"{owner}: expected inputs of rank >= 2; got input shape "
                             f"{tuple(input_shape)}")
        (axis,) = _normalize_axes([self.axis], rank, owner)
        if axis == 0:
            raise ValueError(f"{owner}: axis={self.axis} is the batch axis; expected a channels axis")
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"{owner}: axis {self.axis} of the input must have a known size; got "
                             f"input shape {tuple(input_shape)}")
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ValueError(f"{owner}: groups={groups} is more than the number of channels ({dim})")
        if dim % groups:
            raise ValueError(f"{owner}: the number of channels ({dim}) is not a multiple of "
                             f"groups={groups}")
        self.groups = groups
        self.gamma = (self.add_weight("gamma", (dim,), self.gamma_initializer, self.gamma_regularizer,
                                      self.gamma_constraint) if self.scale else None)
        self.beta = (self.add_weight("beta", (dim,), self.beta_initializer, self.beta_regularizer,
                                     self.beta_constraint) if self.center else None)
        self._axis = axis
        self._rank = rank
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: dim})
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        if x.ndim != self._rank:
            raise ValueError(f"GroupNormalization {self.name!r}: built for inputs of rank "
                             f"{self._rank}; got shape {tuple(x.shape)}")
        a, g = self._axis, self.groups
        shape = tuple(x.shape)
        grouped = shape[:a] + (g, shape[a] // g) + shape[a + 1:]
        wshape = (1,) * a + (g, shape[a] // g) + (1,) * (len(shape) - a - 1)
        axes = tuple(i for i in range(1, len(grouped)) if i != a)       # all but batch and group
        other = tuple(i for i in range(len(grouped)) if i not in (a, a + 1))
        xg = xp.reshape(x, grouped)
        mean = xp.mean(xg, axis=axes, keepdims=True)
        var = xp.mean(xg * xg, axis=axes, keepdims=True) - mean * mean   # Keras's ops.moments
        inv = 1.0 / xp.sqrt(var + self.epsilon)
        xhat = (xg - mean) * inv
        gamma = xp.reshape(self.gamma.value, wshape) if self.scale else None
        y = xhat * gamma if gamma is not None else xhat
        if self.center:
            y = y + xp.reshape(self.beta.value, wshape)
        y = xp.reshape(y, shape)

        def backward(dy):
            dy = xp.reshape(dy, grouped)
            if self.scale:
                self.gamma.add_grad(xp.reshape(xp.sum(dy * xhat, axis=other), (-1,)))
            if self.center:
                self.beta.add_grad(xp.reshape(xp.sum(dy, axis=other), (-1,)))
            d = dy * gamma if gamma is not None else dy
            dx = inv * (d - xp.mean(d, axis=axes, keepdims=True)
                        - xhat * xp.mean(d * xhat, axis=axes, keepdims=True))
            return xp.reshape(dx, shape)
        return y, backward

    def compute_output_shape(self, input_shape):
        _check_axes_in_range(self.axis, input_shape, f"GroupNormalization {self.name!r}")
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **self._weight_options_config("beta_initializer", "gamma_initializer",
                                          "beta_regularizer", "gamma_regularizer",
                                          "beta_constraint", "gamma_constraint"),
        })
        return config


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang & Sennrich, 2019), as Keras 3.

    ``y = x·rsqrt(mean(x², axis) + epsilon)·scale``: no centering, no offset.

    Args:
        axis: int or list of ints, the axes normalized over (default -1). As Keras, the
            layer stores it as a sorted list once built.
        epsilon: small positive float added to the mean square (default 1e-6).

    Input shape: any. Output shape: same as the input.
    Weights: ``scale`` (initialized to ones), of shape ``(input_shape[axis],)`` (for several
    axes, their sizes in sorted order). Keras multiplies the output by ``scale`` with
    trailing-axis broadcasting, which is the same thing for trailing axes (the case Keras
    supports); portanet places ``scale`` on ``axis`` for any axes.

    Example:
        >>> layer = pn.layers.RMSNormalization()
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "RMSNormalization")
        self.epsilon = check_number(epsilon, "epsilon", "RMSNormalization", 0)

    def build(self, input_shape):
        owner = f"RMSNormalization {self.name!r}"
        rank = len(input_shape)
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        self._axes = _normalize_axes(self.axis, rank, owner)
        shape = tuple(input_shape[a] for a in self.axis)
        if any(s is None for s in shape):
            raise ValueError(f"{owner}: the normalized axes {self.axis} must have known sizes; "
                             f"got input shape {tuple(input_shape)}")
        self.scale = self.add_weight("scale", shape, "ones")
        self._weight_shape = shape
        self._bshape = tuple(input_shape[a] if a in self._axes else 1 for a in range(rank))
        self._rank = rank
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        axes = tuple(self._axes)
        other = tuple(a for a in range(x.ndim) if a not in axes)
        # The weight is reshaped (not transposed) to the broadcast shape, as LayerNormalization.
        scale = xp.reshape(self.scale.value, self._bshape)
        r = 1.0 / xp.sqrt(xp.mean(x * x, axis=axes, keepdims=True) + self.epsilon)
        xr = x * r
        y = xr * scale

        def backward(dy):
            g = xp.sum(dy * xr, axis=other) if other else dy * xr
            self.scale.add_grad(xp.reshape(g, self._weight_shape))
            d = dy * scale
            return r * d - x * (r * r * r) * xp.mean(d * x, axis=axes, keepdims=True)
        return y, backward

    def compute_output_shape(self, input_shape):
        _check_axes_in_range(self.axis, input_shape, f"RMSNormalization {self.name!r}")
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config


# ops.normalize's epsilon in UnitNormalization: the norm is at least 1e-12.
_UNIT_EPSILON = 1e-12


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``, as Keras 3.

    ``y = x·rsqrt(max(sum(x², axis), 1e-24))`` (Keras's ``ops.normalize`` with epsilon
    1e-12: the norm is floored at 1e-12, so a zero vector maps to zero).

    Args:
        axis: int or list of ints, the axes normalized over (default -1).

    Input shape: any. Output shape: same as the input. No weights.

    Example:
        >>> pn.layers.UnitNormalization()(np.array([[3.0, 4.0]]))   # [[0.6, 0.8]]
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "UnitNormalization")

    def build(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self._axes = _normalize_axes(axes, len(input_shape), f"UnitNormalization {self.name!r}")
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        axes = tuple(self._axes)
        s = xp.sum(x * x, axis=axes, keepdims=True)
        floor = _UNIT_EPSILON * _UNIT_EPSILON
        clamped = s <= floor
        n = 1.0 / xp.sqrt(xp.maximum(s, xp.asarray(floor, dtype=s.dtype)))
        y = x * n

        def backward(dy):
            dot = xp.sum(dy * x, axis=axes, keepdims=True)
            corr = xp.where(clamped, xp.zeros_like(dot), dot * n * n * n)
            return dy * n - x * corr
        return y, backward

    def compute_output_shape(self, input_shape):
        _check_axes_in_range(self.axis, input_shape, f"UnitNormalization {self.name!r}")
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config
