"""TimeDistributed (Keras 3's ``keras/src/layers/rnn/time_distributed.py``): applies a layer
to every temporal slice of its input."""

from ..base import Layer
from ._helpers import run_inner, serialize_layer
from ..serialization import deserialize

__all__ = ["TimeDistributed"]


class TimeDistributed(Layer):
    """Applies a layer to every temporal slice of its input: (batch, time, ...) -> (batch, time, ...).

    Args:
        layer: a layer instance (Dense, Conv2D, ...); its weights are shared by all timesteps.

    The time axis is folded into the batch axis, so the wrapped layer runs once on
    (batch·time, ...) (the same result as Keras's per-timestep loop for every layer
    whose output for a sample depends only on that sample; a BatchNormalization inside
    sees the batch·time samples together). A (batch, time) mask is passed on unchanged.

    Input shape: (batch, time, ...) with at least 3 axes.
    Output shape: (batch, time) + the wrapped layer's output shape without its batch axis.
    Weights: the wrapped layer's.

    Example:
        >>> layer = pn.layers.TimeDistributed(pn.layers.Dense(8))
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: layer={layer!r}; expected a layer instance")
        super().__init__(**kwargs)
        self.layer = layer
        self._layers = [layer]

    @staticmethod
    def _child_shape(input_shape, name):
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(f"TimeDistributed {name!r}: expected inputs with at least 3 axes "
                             f"(batch, time, ...); got shape {shape}")
        batch, steps = shape[0], shape[1]
        folded = None if batch is None or steps is None else batch * steps
        return (folded,) + shape[2:]

    def build(self, input_shape):
        child = self._child_shape(input_shape, self.name)
        if self.layer.backend is None:
            self.layer.backend = self.backend
        self.layer._maybe_build((None,) + child[1:])
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self._child_shape(input_shape, self.name)
        out = self.layer.compute_output_shape((None,) + child[1:])
        return (input_shape[0], input_shape[1]) + tuple(out[1:])

    def forward(self, x, training=False, mask=None):
        xp = self.xp
        if x.ndim < 3:
            raise ValueError(f"TimeDistributed {self.name!r}: expected inputs with at least 3 axes "
                             f"(batch, time, ...); got shape {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        inner_mask = None
        if mask is not None and mask.ndim > 2:
            inner_mask = xp.reshape(mask, (batch * steps,) + tuple(mask.shape[2:]))
        folded = xp.reshape(x, (batch * steps,) + tuple(x.shape[2:]))
        y, inner_backward = run_inner(self.layer, folded, training, inner_mask)
        nested = getattr(self.layer, "_pending_extra", None)
        if nested:
            self._pending_extra = list(nested)
            self.layer._pending_extra = None
        out_shape = (batch, steps) + tuple(y.shape[1:])
        in_shape = tuple(x.shape)

        def backward(dy):
            dx = inner_backward(xp.reshape(dy, (batch * steps,) + tuple(dy.shape[2:])))
            return None if dx is None else xp.reshape(dx, in_shape)
        return xp.reshape(y, out_shape), backward

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        # The layer registry lives in portanet.layers, which imports this module.
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
