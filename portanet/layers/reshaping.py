"""Reshaping layers: Flatten, Reshape (more in this family: Permute, RepeatVector, padding, cropping, upsampling)."""

__all__ = ["Flatten", "Reshape"]

from .base import Layer


def _prod(shape):
    n = 1
    for s in shape:
        if s is None:
            return None
        n *= s
    return n


class Flatten(Layer):
    """Flattens every axis but the batch axis: (batch, d1, d2, ...) -> (batch, d1·d2·...).

    Args:
        data_format: "channels_last" (default) or "channels_first"; with channels_first the
            input is moved to channels_last order first, as Keras does.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"Flatten: data_format={data_format!r}; expected 'channels_last' or 'channels_first'")
        self.data_format = data_format or "channels_last"

    def forward(self, x, training=False):
        xp = self.xp
        shape = x.shape
        if self.data_format == "channels_first" and x.ndim > 2:
            perm = (0,) + tuple(range(2, x.ndim)) + (1,)
            xt = xp.permute_dims(x, perm)
            inv = [0] * x.ndim
            for i, p in enumerate(perm):
                inv[p] = i
            tshape = xt.shape

            def backward(dy):
                return xp.permute_dims(xp.reshape(dy, tshape), tuple(inv))
            return xp.reshape(xt, (shape[0], -1)), backward

        def backward(dy):
            return xp.reshape(dy, shape)
        return xp.reshape(x, (shape[0], -1)), backward

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _prod(input_shape[1:]))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes the non-batch axes to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(s) for s in target_shape)
        except (TypeError, ValueError):
            raise TypeError(f"Reshape: target_shape={target_shape!r}; expected a tuple of ints") from None
        if sum(1 for s in target_shape if s == -1) > 1 or any(s == 0 or s < -1 for s in target_shape):
            raise ValueError(f"Reshape: target_shape={target_shape!r}; expected positive ints and at most one -1")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        total = _prod(input_shape[1:])
        shape = list(self.target_shape)
        if -1 in shape:
            known = _prod([s for s in shape if s != -1])
            shape[shape.index(-1)] = None if total is None else total // known
        elif total is not None and _prod(shape) != total:
            raise ValueError(f"Reshape {self.name!r}: cannot reshape input of shape {tuple(input_shape)} "
                             f"({total} values per sample) to target_shape={self.target_shape}")
        return (input_shape[0],) + tuple(shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        shape = x.shape

        def backward(dy):
            return xp.reshape(dy, shape)
        return xp.reshape(x, (shape[0],) + self.target_shape), backward

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
