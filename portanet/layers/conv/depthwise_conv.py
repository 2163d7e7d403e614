"""``DepthwiseConv1D`` and ``DepthwiseConv2D`` (keras/src/layers/convolutional/base_depthwise_conv.py)."""

from ... import constraints as _constraints
from ... import initializers as _initializers
from ... import regularizers as _regularizers
from .. import _windows as W
from ...validation import check_positive_int
from .base_conv import _BaseConv
from ._kernels import _depthwise


class _DepthwiseConv(_BaseConv):
    """N-d depthwise convolution (the shared body of DepthwiseConv1D and DepthwiseConv2D)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(None, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=1,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=depthwise_constraint, bias_constraint=bias_constraint,
                         **kwargs)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier",
                                                   type(self).__name__)

    def _spatial_out(self, input_shape):
        return tuple(W.output_length(n, k, self.padding, s, d) for n, k, s, d in
                     zip(W.spatial_shape(input_shape, self.data_format), self.kernel_size,
                         self.strides, self.dilation_rate))

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._check_output(input_shape, self._spatial_out(input_shape))
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint)
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def forward(self, x, training=False):
        x = self._channels_last_input(x)
        z, core = _depthwise(self.backend, x, self.depthwise_kernel.value, self.padding,
                             self.strides, self.dilation_rate)

        def backward_core(dz):
            dx, dk = core(dz)
            return dx, (dk,)
        return self._finish(z, backward_core, (self.depthwise_kernel,))

    def compute_output_shape(self, input_shape):
        channels = W.channels_of(input_shape, self.data_format)
        return W.assemble_shape(input_shape[0], self._spatial_out(input_shape),
                                None if channels is None else channels * self.depth_multiplier,
                                self.data_format)

    def get_config(self):
        config = self._base_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": _initializers.serialize(self.kernel_initializer),
            "depthwise_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "depthwise_constraint": _constraints.serialize(self.kernel_constraint),
        })
        return config



class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution: each input channel gets its own ``depth_multiplier`` filters.

    Args:
        kernel_size, strides, padding ("valid"/"same"/"causal"), data_format, dilation_rate,
        activation, use_bias: as Conv1D.
        depth_multiplier: positive int, output channels per input channel.
        depthwise_initializer ("glorot_uniform"), bias_initializer ("zeros"),
        depthwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, bias_constraint.

    Input shape: (batch, steps, channels) (or channels_first).
    Output shape: (batch, new_steps, channels * depth_multiplier).
    The kernel has shape (kernel_size, channels, depth_multiplier).
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: each input channel gets its own ``depth_multiplier`` filters.

    Args:
        kernel_size, strides, padding ("valid"/"same"), data_format, dilation_rate: as Conv2D.
        depth_multiplier: positive int, output channels per input channel.
        activation, use_bias: as Conv2D.
        depthwise_initializer ("glorot_uniform"), bias_initializer ("zeros"),
        depthwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, bias_constraint.

    Input shape: (batch, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_rows, new_cols, channels * depth_multiplier); output channel
    c*depth_multiplier + m comes from input channel c, as Keras.
    The kernel has shape (kh, kw, channels, depth_multiplier).

    Example:
        >>> layer = pn.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    """

    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
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
