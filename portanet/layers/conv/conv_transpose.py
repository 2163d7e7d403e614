"""``Conv1DTranspose`` and ``Conv2DTranspose`` (keras/src/layers/convolutional/base_conv_transpose.py)."""

from .. import _windows as W
from .base_conv import _BaseConv
from ._kernels import _conv_transpose


class _ConvTranspose(_BaseConv):
    """N-d transposed convolution (the shared body of Conv1DTranspose and Conv2DTranspose)."""

    _transpose = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=1,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)
        owner = type(self).__name__
        if output_padding is not None:
            output_padding = W.normalize_tuple(output_padding, self.rank, "output_padding", owner,
                                               minimum=0)
            for p, s in zip(output_padding, self.strides):
                if p >= s:
                    raise ValueError(f"{owner}: output_padding={output_padding} must be smaller "
                                     f"than strides={self.strides} on every axis")
        self.output_padding = output_padding

    def _lengths(self, spatial):
        pads = self.output_padding or (None,) * self.rank
        return tuple(W.transpose_output_length(n, k, self.padding, s, d, p) for n, k, s, d, p in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate, pads))

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._check_output(input_shape, self._lengths(W.spatial_shape(input_shape, self.data_format)))
        shape = self.kernel_size + (self.filters, channels)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def forward(self, x, training=False):
        x = self._channels_last_input(x)
        spatial = tuple(x.shape[1:-1])
        lengths = self._lengths(spatial)
        geometry = []
        for n, k, s, d, length in zip(spatial, self.kernel_size, self.strides,
                                      self.dilation_rate, lengths):
            before, padded = W.transpose_geometry(n, k, self.padding, s, d, length)
            geometry.append((before, padded, length))
        z, core = _conv_transpose(self.backend, x, self.kernel.value, self.strides,
                                  self.dilation_rate, geometry)

        def backward_core(dz):
            dx, dk = core(dz)
            return dx, (dk,)
        return self._finish(z, backward_core, (self.kernel,))

    def compute_output_shape(self, input_shape):
        spatial = self._lengths(W.spatial_shape(input_shape, self.data_format))
        return W.assemble_shape(input_shape[0], spatial, self.filters, self.data_format)

    def get_config(self):
        config = self._base_config()
        config.update({
            "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            **self._weight_options_config("kernel_initializer", "kernel_regularizer",
                                          "kernel_constraint"),
        })
        return config


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution ("deconvolution"): the gradient of Conv1D w.r.t. its input.

    Args:
        filters, kernel_size, strides, padding ("valid" or "same"), data_format,
        dilation_rate, activation, use_bias, initializers, regularizers, constraints: as Conv1D.
        output_padding: None or int < strides, extra steps added at the end of the output.

    Input shape: (batch, steps, channels). Output shape: (batch, new_steps, filters) with
    new_steps = steps*strides + max(kernel - strides, 0) ('valid') or steps*strides ('same')
    when output_padding is None, as Keras's ``deconv_output_length``.
    The kernel has shape (kernel_size, filters, channels), as Keras.
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"): the gradient of Conv2D w.r.t. its input.

    Args:
        filters: positive int, the number of output channels.
        kernel_size, strides, padding ("valid" or "same"), data_format, dilation_rate,
        activation, use_bias, initializers, regularizers, constraints: as Conv2D.
        output_padding: None or int/tuple of 2 ints, each < strides: extra rows/cols at
            the end of the output.

    Input shape: (batch, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_rows, new_cols, filters), new_rows = rows*strides +
    max(kernel - strides, 0) for 'valid', rows*strides for 'same' (output_padding None).
    The kernel has shape (kh, kw, filters, channels), as Keras.

    Example:
        >>> layer = pn.layers.Conv2DTranspose(16, 3, strides=2, padding="same")
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


# --------------------------------------------------------------------------- depthwise
