"""``InputSpec`` (keras/src/layers/input_spec.py): the rank, dtype and shape a layer's
input must have. A layer may set ``self.input_spec`` (one spec, or a list, one per input);
``Layer.__call__`` then checks its inputs with ``assert_input_compatibility`` (Keras's
rules and error text) before building or running; ``assert_compatible`` checks a shape."""

from ..dtype_policies import standardize_dtype

__all__ = ["InputSpec", "assert_input_compatibility"]


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
        self.dtype = None if dtype is None else standardize_dtype(dtype)
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


def _flatten(value):
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flatten(value[k])]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _is_tensor_like(x):
    return x is None or hasattr(x, "shape")


def assert_input_compatibility(input_spec, inputs, layer_name):
    """Keras's ``assert_input_compatibility``: check ``inputs`` (a tensor, or a list, tuple
    or dict of them) against ``input_spec`` (an InputSpec, a nested list of them, or None):
    the number of inputs, then for each its rank (ndim, min_ndim, max_ndim), dtype, fixed
    axes and shape. Raises a ValueError naming the input, the layer and the spec, in
    Keras's words. Plain Python data (lists of numbers) is not checked: the call converts it."""
    if not input_spec:
        return
    specs = _flatten(input_spec)
    if isinstance(inputs, dict):
        names = [spec.name if spec is not None else None for spec in specs]
        if all(names):
            for name in names:
                if name not in inputs:
                    raise ValueError(f'Missing data for input "{name}". You passed a data dictionary '
                                     f"with keys {list(inputs.keys())}. Expected the following keys: "
                                     f"{names}")
            inputs = [inputs[name] for name in names]
    if isinstance(inputs, (list, tuple)) and not all(_is_tensor_like(x) for x in inputs):
        return   # nested Python data, not tensors
    flat = _flatten(inputs)
    if not all(_is_tensor_like(x) for x in flat):
        return
    if len(flat) != len(specs):
        spec_names = [spec.name for spec in specs if spec is not None]
        if len(spec_names) == len(specs) and all(spec_names):
            keys = ", ".join(f"'{n}': ..." for n in spec_names)
            raise ValueError(f'Layer "{layer_name}" expects {len(specs)} named input(s) with keys '
                             f"{spec_names}, but it received {len(flat)} input tensors. Pass inputs "
                             f"as a dict, e.g. `layer({{{keys}}})`.")
        raise ValueError(f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
                         f"{len(flat)} input tensors. Inputs received: {flat}")
    for index, (x, spec) in enumerate(zip(flat, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        if x is None:
            raise ValueError(f"Inputs to a layer should be tensors. Got 'None' (of type "
                             f"{type(None)}) as input for layer '{layer_name}'.")
        shape = tuple(None if d is None else int(d) for d in x.shape)
        ndim = len(shape)
        head = (f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible "
                "with the layer:")
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(f"{head} expected ndim={spec.ndim}, found ndim={ndim}. Full shape "
                             f"received: {shape}")
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(f"{head} expected max_ndim={spec.max_ndim}, found ndim={ndim}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(f"{head} expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full "
                             f"shape received: {shape}")
        if spec.dtype is not None:
            dtype = standardize_dtype(x.dtype)
            if dtype != spec.dtype:
                raise ValueError(f"{head} expected dtype={spec.dtype}, found dtype={dtype}")
        for axis, value in spec.axes.items():
            if value is not None and shape[axis] not in (value, None):
                raise ValueError(f"{head} expected axis {axis} of input shape to have value "
                                 f"{value}, but received input with shape {shape}")
        if spec.shape is not None:
            spec_shape = spec.shape
            if spec.allow_last_axis_squeeze:
                if shape and shape[-1] == 1:
                    shape = shape[:-1]
                if spec_shape and spec_shape[-1] == 1:
                    spec_shape = spec_shape[:-1]
            for spec_dim, dim in zip(spec_shape, shape):
                if spec_dim is not None and dim is not None and spec_dim != dim:
                    raise ValueError(f"{head} expected shape={spec.shape}, found shape={shape}")
