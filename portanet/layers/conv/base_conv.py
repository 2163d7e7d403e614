"""``_BaseConv`` (arguments, weights, data_format) and ``Conv1D``/``Conv2D``
(keras/src/layers/convolutional/base_conv.py, conv1d.py, conv2d.py)."""

from ... import activations as _activations
from .. import _windows as W
from ...validation import check_positive_int
from ..base import Layer
from ..input_spec import InputSpec
from ._kernels import _conv, _run_stride1, _stride1_path


class _BaseConv(Layer):
    """Shared arguments, validation, bias/activation/data_format handling of the conv layers."""

    rank = None
    _transpose = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(min_ndim=self.rank + 2)
        owner = type(self).__name__
        if filters is not None:
            check_positive_int(filters, "filters", owner)
        self.filters = filters
        self.kernel_size = W.normalize_tuple(kernel_size, self.rank, "kernel_size", owner)
        self.strides = W.normalize_tuple(strides, self.rank, "strides", owner)
        allowed = ("valid", "same", "causal") if (self.rank == 1 and not self._transpose) else ("valid", "same")
        self.padding = W.normalize_padding(padding, owner, allowed)
        self.data_format = W.normalize_data_format(data_format, owner)
        self.dilation_rate = W.normalize_tuple(dilation_rate, self.rank, "dilation_rate", owner)
        check_positive_int(groups, "groups", owner)
        if filters is not None and filters % groups:
            raise ValueError(f"{owner}: filters={filters} must be divisible by groups={groups}")
        self.groups = groups
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides={self.strides} > 1 cannot be combined with "
                             f"dilation_rate={self.dilation_rate} > 1 (as Keras)")
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(kernel_initializer=kernel_initializer,
                                 bias_initializer=bias_initializer,
                                 kernel_regularizer=kernel_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 kernel_constraint=kernel_constraint,
                                 bias_constraint=bias_constraint)

    # ------------------------------------------------------------------ helpers
    def _input_channels(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        channels = W.channels_of(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the channel dimension must be "
                             f"known; got input shape {tuple(input_shape)} ({self.data_format})")
        # Keras's built spec: the channel axis keeps its size.
        axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={axis: channels})
        return channels

    def _check_output(self, input_shape, spatial):
        if any(n is not None and n <= 0 for n in spatial):
            raise ValueError(f"{type(self).__name__} {self.name!r}: input shape {tuple(input_shape)} "
                             f"is too small for kernel_size={self.kernel_size}, "
                             f"dilation_rate={self.dilation_rate}, padding={self.padding!r}: the "
                             f"output would have spatial shape {tuple(spatial)}")

    def _finish(self, z, backward_core, weights):
        """Add the bias, move to data_format, apply the activation; wrap the backward.

        ``z`` is the fresh channels_last result of the convolution (nothing else holds it),
        so for channels_last a backend's "bias_activation" fast path may write the bias and
        activation into it (NumPy: relu in place, two passes instead of two new arrays).
        """
        xp = self.xp
        channels_first = self.data_format == "channels_first"
        fused = (self.backend.fused("bias_activation")
                 if self.use_bias and not channels_first else None)
        out = fused(z, self.bias.value, self.activation) if fused is not None else None
        if out is not None:
            y, act_backward = out
        else:
            if self.use_bias:
                z = z + self.bias.value
            if channels_first:
                z = W.to_channels_first(xp, z)
            y, act_backward = _activations.apply(self.activation, z)

        def backward(dy):
            dz = act_backward(dy)
            if channels_first:
                dz = W.to_channels_last(xp, dz)
            if self.use_bias:
                self.bias.add_grad(self.backend.sum_rows(xp.reshape(dz, (-1, dz.shape[-1]))))
            dx, dws = backward_core(dz)
            for var, g in zip(weights, dws):
                var.add_grad(g)
            if channels_first and dx is not None:
                dx = W.to_channels_first(xp, dx)
            return dx
        return y, backward

    def _channels_last_input(self, x):
        return W.to_channels_last(self.xp, x) if self.data_format == "channels_first" else x

    def _add_bias(self, size):
        self.bias = (self.add_weight("bias", (size,), self.bias_initializer,
                                     self.bias_regularizer, self.bias_constraint)
                     if self.use_bias else None)

    def _base_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("bias_initializer", "bias_regularizer",
                                          "bias_constraint"),
        })
        return self._keras_config_always(config, "activity_regularizer")


class _Conv(_BaseConv):
    """N-d convolution (the shared body of Conv1D and Conv2D)."""

    _skip_input_grad = False  # opt-in, see portanet/training/fast_paths.py

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the number of input channels "
                             f"({channels}) must be divisible by groups={self.groups}")
        self._check_output(input_shape, W.spatial_shape(self.compute_output_shape(input_shape),
                                                        self.data_format))
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def forward(self, x, training=False):
        x = self._channels_last_input(x)
        pads = [W.padding_amounts(n, k, self.padding, s, d) for n, k, s, d in
                zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        # The model's training step marks the layer fed by the model's own input (as Dense):
        # its input gradient is never read, and for the first layer of a CNN it is a
        # col2im over the largest activation.
        want_dx = not self._skip_input_grad
        fused = self._fused_epilogue(x, pads, want_dx)
        if fused is not None:
            return fused
        z, core = _conv(self.backend, x, self.kernel.value, self.strides, self.dilation_rate,
                        pads, self.groups, want_dx=want_dx)

        def backward_core(dz):
            dx, dk = core(dz)
            return dx, (dk,)
        return self._finish(z, backward_core, (self.kernel,))

    def _fused_epilogue(self, x, pads, want_dx):
        """``(y, backward)`` from the backend's stride-1 convolution with the bias and relu
        applied inside it, chunk by chunk while in cache (NumPy), or None when that does not
        apply: channels_first, no bias, another activation, groups, strides, fewer than
        ``_windows.EPILOGUE_MIN_CHANNELS`` input channels (unless the input gradient is
        skipped), or either fast path ("conv_stride1", "bias_activation") switched off."""
        if (self.data_format != "channels_last" or not self.use_bias or self.groups != 1
                or self.activation is not _activations.relu
                or self.backend.fused("bias_activation") is None):
            return None
        stride1 = _stride1_path(self.backend, self.strides, x.shape[-1],
                                W.EPILOGUE_MIN_CHANNELS if want_dx else 1)
        if stride1 is None:
            return None
        out = _run_stride1(stride1, W.pad(self.backend, x, pads), self.kernel.value,
                           self.dilation_rate, pads, want_dx, bias=self.bias.value, relu=True)
        if out is None:
            return None
        y, core = out

        def backward(dy):
            dx, dkernel, dbias = core(dy)
            self.bias.add_grad(dbias)
            self.kernel.add_grad(dkernel)
            return dx
        return y, backward

    def compute_output_shape(self, input_shape):
        spatial = tuple(W.output_length(n, k, self.padding, s, d) for n, k, s, d in
                        zip(W.spatial_shape(input_shape, self.data_format), self.kernel_size,
                            self.strides, self.dilation_rate))
        return W.assemble_shape(input_shape[0], spatial, self.filters, self.data_format)

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters,
            "groups": self.groups,
            **self._weight_options_config("kernel_initializer", "kernel_regularizer",
                                          "kernel_constraint"),
        })
        return config


class Conv1D(_Conv):
    """1-D convolution (temporal convolution) over the steps of a sequence.

    Args:
        filters: positive int, the number of output channels.
        kernel_size: int or tuple of 1 int, the window length.
        strides: int, the step between windows; default 1.
        padding: "valid" (no padding), "same" (output length ceil(steps/strides); the extra
            pad goes at the end, as Keras) or "causal" (pad (kernel_size-1)*dilation_rate
            steps at the start, so output t never sees input after t).
        data_format: "channels_last" (default, (batch, steps, channels)) or "channels_first".
        dilation_rate: int, spacing between kernel taps (strides must then be 1).
        groups: positive int dividing both the input channels and filters.
        activation, use_bias, kernel_initializer ("glorot_uniform"), bias_initializer
            ("zeros"), kernel/bias/activity_regularizer, kernel/bias_constraint: as Dense.

    Input shape: (batch, steps, channels) (or (batch, channels, steps)).
    Output shape: (batch, new_steps, filters) (or (batch, filters, new_steps)).
    The kernel has shape (kernel_size, channels // groups, filters), as Keras.

    Example:
        >>> layer = pn.layers.Conv1D(16, 3, padding="causal", activation="relu")
    """

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over images.

    Args:
        filters: positive int, the number of output channels.
        kernel_size: int or tuple of 2 ints (height, width).
        strides: int or tuple of 2 ints; default 1.
        padding: "valid" or "same" (output ceil(size/strides); an odd total pad puts the
            extra row/column at the bottom/right, as Keras).
        data_format: "channels_last" (default, (batch, rows, cols, channels)) or
            "channels_first" ((batch, channels, rows, cols)).
        dilation_rate: int or tuple of 2 ints (strides must then be 1).
        groups: positive int dividing both the input channels and filters; group g sees
            input channels [g*C/groups, (g+1)*C/groups) and makes filters
            [g*F/groups, (g+1)*F/groups).
        activation, use_bias, kernel_initializer ("glorot_uniform"), bias_initializer
            ("zeros"), kernel/bias/activity_regularizer, kernel/bias_constraint: as Dense.

    Input shape: (batch, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_rows, new_cols, filters) (or channels_first).
    The kernel has shape (kh, kw, channels // groups, filters), as Keras.

    Example:
        >>> layer = pn.layers.Conv2D(32, 3, activation="relu", padding="same")
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


# --------------------------------------------------------------------------- transposed
