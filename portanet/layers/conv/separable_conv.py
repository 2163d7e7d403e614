"""``SeparableConv1D`` and ``SeparableConv2D`` (keras/src/layers/convolutional/base_separable_conv.py)."""

from .. import _windows as W
from ...validation import check_positive_int
from .depthwise_conv import _DepthwiseConv
from ._kernels import _depthwise


class _SeparableConv(_DepthwiseConv):
    """N-d separable convolution (the shared body of SeparableConv1D and SeparableConv2D)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        check_positive_int(filters, "filters", type(self).__name__)
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.filters = filters
        self._set_weight_options(pointwise_initializer=pointwise_initializer,
                                 pointwise_regularizer=pointwise_regularizer,
                                 pointwise_constraint=pointwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._check_output(input_shape, self._spatial_out(input_shape))
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, self.pointwise_regularizer, self.pointwise_constraint)
        self._add_bias(self.filters)
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        x = self._channels_last_input(x)
        h, depth_core = _depthwise(self.backend, x, self.depthwise_kernel.value, self.padding,
                                   self.strides, self.dilation_rate)
        pointwise = self.pointwise_kernel.value
        inner = pointwise.shape[-2]
        pw2 = xp.reshape(pointwise, (inner, self.filters))
        h2 = xp.reshape(h, (-1, inner))
        z = xp.reshape(h2 @ pw2, tuple(h.shape[:-1]) + (self.filters,))

        def backward_core(dz):
            dz2 = xp.reshape(dz, (-1, self.filters))
            dpw = xp.reshape(W.tall_gram(xp, h2, dz2), tuple(pointwise.shape))
            dh = xp.reshape(dz2 @ xp.matrix_transpose(pw2), tuple(h.shape))
            dx, ddk = depth_core(dh)
            return dx, (ddk, dpw)
        return self._finish(z, backward_core, (self.depthwise_kernel, self.pointwise_kernel))

    def compute_output_shape(self, input_shape):
        return W.assemble_shape(input_shape[0], self._spatial_out(input_shape), self.filters,
                                self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            **self._weight_options_config("pointwise_initializer", "pointwise_regularizer",
                                          "pointwise_constraint"),
        })
        return config



class SeparableConv1D(_SeparableConv):
    """Depthwise separable 1-D convolution: a DepthwiseConv1D, then a pointwise (size 1)
    Conv1D to ``filters``; bias and activation come after the pointwise step.

    Args: as SeparableConv2D, with ints for kernel_size, strides and dilation_rate.

    Input shape: (batch, steps, channels) (or channels_first).
    Output shape: (batch, new_steps, filters).
    Weights, in Keras order: depthwise_kernel (kernel_size, channels, depth_multiplier),
    pointwise_kernel (1, channels*depth_multiplier, filters), bias (filters,).
    """

    rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise separable 2-D convolution: a DepthwiseConv2D, then a 1x1 Conv2D to ``filters``.

    Args:
        filters: positive int, the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
        activation, use_bias: as DepthwiseConv2D / Conv2D (bias and activation come after
            the pointwise step).
        depthwise_initializer, pointwise_initializer ("glorot_uniform"), bias_initializer,
        depthwise/pointwise/bias/activity_regularizer, depthwise/pointwise/bias_constraint.

    Input shape: (batch, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_rows, new_cols, filters).
    Weights, in Keras order: depthwise_kernel (kh, kw, channels, depth_multiplier),
    pointwise_kernel (1, 1, channels*depth_multiplier, filters), bias (filters,).

    Example:
        >>> layer = pn.layers.SeparableConv2D(32, 3, padding="same", activation="relu")
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
