"""Core layers: Input/InputLayer, Dense, Activation, Identity."""

from .. import activations as _activations
from .base import Layer, check_no_quantization, check_positive_int
from .input_spec import InputSpec
from .symbolic import KerasTensor, Node


class InputLayer(Layer):
    """The entry of a model: holds the input shape (batch axis excluded in ``shape``).

    Args:
        shape: tuple of ints (None for a free dimension), without the batch axis.
        batch_size: optional fixed batch size.
        dtype: input dtype; default floatx. Integer inputs (token ids) keep "int64".
        name: layer name.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,
                 sparse=False, ragged=False, optional=False, **kwargs):
        for arg, value in (("ragged", ragged), ("optional", optional)):
            if value:
                raise ValueError(f"InputLayer: {arg}={value!r}; {arg} inputs are not supported (use False)")
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: give shape=(...) (without the batch axis) or batch_shape")
            if isinstance(shape, int):
                shape = (shape,)
            try:
                shape = tuple(None if s is None else int(s) for s in shape)
            except (TypeError, ValueError):
                raise TypeError(f"Input: shape={shape!r}; expected a tuple of ints or None") from None
            if any(s is not None and s <= 0 for s in shape):
                raise ValueError(f"Input: shape={shape!r}; every dimension must be positive")
            batch_shape = (batch_size,) + shape
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = tuple(batch_shape)
        self.sparse = bool(sparse)
        self.built = True
        self._tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name,
                                   node=Node(self, [], []), index=0)
        self._tensor.node.outputs.append(self._tensor)

    @property
    def output(self):
        """The symbolic tensor this input stands for (what ``pn.Input`` returns)."""
        return self._tensor

    @property
    def input(self):
        return self._tensor

    def forward(self, inputs, training=False):
        return inputs, _identity

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        # Keras 3's InputLayer config (dtype as the plain name, no trainable).
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": self.sparse,
                "ragged": False, "name": self.name, "optional": False}


def _identity(dy):
    return dy


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input tensor: ``x = pn.Input((28, 28, 1))`` (shape without the batch axis)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                      batch_shape=batch_shape).output


class Dense(Layer):
    """Densely connected layer: ``output = activation(inputs @ kernel + bias)``.

    Args:
        units: positive int, the output size.
        activation: name or function; default None (linear).
        use_bias: whether to add a bias vector.
        kernel_initializer / bias_initializer: default "glorot_uniform" / "zeros".
        kernel_regularizer / bias_regularizer / activity_regularizer: penalties.
        kernel_constraint / bias_constraint: applied after each update.

    Input shape: (batch, ..., input_dim). Output shape: (batch, ..., units).
    The kernel has shape (input_dim, units), as Keras.

    Example:
        >>> layer = pn.layers.Dense(4, activation="relu")
    """

    # Opt-ins to the training step's two shortcuts (portanet/training/fast_paths.py):
    # the input gradient may be skipped, and a pre-activation gradient may arrive.
    _skip_input_grad = False
    _accepts_pre_activation_grad = True
    # As Keras's Dense: an incoming mask (Embedding(mask_zero=True), Masking) passes on.
    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        check_positive_int(units, "units", "Dense")
        check_no_quantization("Dense", lora_rank=lora_rank, lora_alpha=lora_alpha,
                              quantization_config=quantization_config)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(min_ndim=2)
        self.units = units
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(kernel_initializer=kernel_initializer,
                                 bias_initializer=bias_initializer,
                                 kernel_regularizer=kernel_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 kernel_constraint=kernel_constraint,
                                 bias_constraint=bias_constraint)

    def _own_saved_variables(self):
        # As Keras's Dense.save_own_variables: the kernel and the bias only (a variable
        # a subclass adds is not among them).
        if not self.built:
            return []
        return [self.kernel] + ([self.bias] if self.bias is not None else [])

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense {self.name!r}: the last input dimension must be known; "
                             f"got input shape {tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer,
                                     self.bias_regularizer, self.bias_constraint)
                     if self.use_bias else None)
        self.input_dim = in_dim
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        kernel = self.kernel.value
        rank = x.ndim
        if rank > 2:
            # One 2-D GEMM over all leading axes: a stacked (B, T, in) @ (in, units) runs one
            # small GEMM per leading index (NumPy loops; 2-10x slower with BLAS threads).
            lead = tuple(x.shape[:-1])
            z = xp.reshape(xp.reshape(x, (-1, x.shape[-1])) @ kernel, lead + (self.units,))
        else:
            z = x @ kernel
        fused = self.backend.fused("bias_activation") if self.bias is not None else None
        act_backward = None
        if fused is not None:
            # Bias + activation fused (one CuPy kernel; in place on NumPy); None: not covered.
            out = fused(z, self.bias.value, self.activation)
            if out is not None:
                y, act_backward = out
        if act_backward is None:
            if self.bias is not None:
                z = z + self.bias.value
            y, act_backward = _activations.apply(self.activation, z)
        # The training step marks the layer fed by the model's own input: nothing reads
        # that input's gradient, and it is the largest matmul of the backward pass.
        want_dx = not self._skip_input_grad

        def backward(dy):
            # The fused softmax + cross-entropy gradient arrives already w.r.t. z.
            dz = getattr(dy, "pre_activation_grad", None)
            if dz is None:
                dz = act_backward(dy)
            if rank == 2:
                x2, dz2 = x, dz
            else:
                x2 = xp.reshape(x, (-1, x.shape[-1]))
                dz2 = xp.reshape(dz, (-1, dz.shape[-1]))
            self.kernel.add_grad(xp.matrix_transpose(x2) @ dz2)
            if self.bias is not None:
                self.bias.add_grad(self.backend.sum_rows(dz2))
            if not want_dx:
                return None
            if rank == 2:
                return dz @ xp.matrix_transpose(kernel)
            return xp.reshape(dz2 @ xp.matrix_transpose(kernel), tuple(x.shape))
        return y, backward

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("kernel_initializer", "bias_initializer",
                                          "kernel_regularizer", "bias_regularizer",
                                          "kernel_constraint", "bias_constraint"),
        })
        return self._keras_config_always(config, "quantization_config")


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``. Shape unchanged."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)
        self.supports_masking = True

    def forward(self, x, training=False):
        return _activations.apply(self.activation, x)

    def get_config(self):
        config = super().get_config()
        config["activation"] = _activations.serialize(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def forward(self, x, training=False):
        return x, _identity
