"""``InputSpec`` (keras/src/layers/input_spec.py): the rank, dtype and shape a layer's
input must have. Layers may expose one as ``self.input_spec``; ``assert_compatible``
checks a shape against it with Keras's rules."""

__all__ = ["InputSpec"]


class InputSpec:
    """Specifies the rank, dtype and shape of every input to a layer (Keras's class).

    Args:
        dtype: expected dtype name, or None.
        shape: expected shape including the batch axis (None entries match any size);
            sets ``ndim`` to its length.
        ndim: expected rank. max_ndim / min_ndim: bounds on the rank.
        axes: dict {axis: size} of axes whose size is fixed.
        allow_last_axis_squeeze: accept a rank one larger/smaller when the extra last
            axis has size 1.
        name: the key of this input when inputs are given as a dict.
        optional: whether the input may be None.

    Example:
        >>> spec = pn.layers.InputSpec(ndim=3, axes={-1: 8})
        >>> spec.assert_compatible((None, 5, 8), "my_layer")
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = None if dtype is None else str(dtype)
        if shape is not None:
            self.shape = tuple(None if s is None else int(s) for s in shape)
            self.ndim = len(self.shape)
        else:
            self.ndim = ndim
            self.shape = None
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(f"InputSpec: axes={axes!r}; expected a dict with integer keys") from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            if max(self.axes) > max_dim:
                raise ValueError(f"InputSpec: axis {max(self.axes)} is greater than the maximum "
                                 f"allowed value: {max_dim}")

    def assert_compatible(self, shape, layer_name="layer"):
        """Raise a ValueError naming the layer when ``shape`` does not meet the spec."""
        shape = tuple(shape)
        rank = len(shape)
        if self.ndim is not None and not self.allow_last_axis_squeeze and rank != self.ndim:
            raise ValueError(f"Input of layer {layer_name!r} is incompatible with the layer: "
                             f"expected ndim={self.ndim}, found ndim={rank}. Full shape "
                             f"received: {shape}")
        if self.max_ndim is not None and rank > self.max_ndim:
            raise ValueError(f"Input of layer {layer_name!r} is incompatible with the layer: "
                             f"expected max_ndim={self.max_ndim}, found ndim={rank}")
        if self.min_ndim is not None and rank < self.min_ndim:
            raise ValueError(f"Input of layer {layer_name!r} is incompatible with the layer: "
                             f"expected min_ndim={self.min_ndim}, found ndim={rank}. Full shape "
                             f"received: {shape}")
        for axis, value in self.axes.items():
            if value is None:
                continue
            if -rank <= axis < rank and shape[axis] not in (None, value):
                raise ValueError(f"Input of layer {layer_name!r} is incompatible with the layer: "
                                 f"expected axis {axis} of input shape to have value {value}, "
                                 f"but received input with shape {shape}")
        if self.shape is not None and rank == len(self.shape):
            for got, want in zip(shape, self.shape):
                if want is not None and got is not None and got != want:
                    raise ValueError(f"Input of layer {layer_name!r} is incompatible with the "
                                     f"layer: expected shape={self.shape}, found shape={shape}")

    def __repr__(self):
        spec = [f"dtype={self.dtype}" if self.dtype else "",
                f"shape={self.shape}" if self.shape else "",
                f"ndim={self.ndim}" if self.ndim else "",
                f"max_ndim={self.max_ndim}" if self.max_ndim else "",
                f"min_ndim={self.min_ndim}" if self.min_ndim else "",
                f"axes={self.axes}" if self.axes else ""]
        return f"InputSpec({', '.join(x for x in spec if x)})"

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes,
                "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
