"""3-D (volumetric) layers of Keras 3: Conv3D, Conv3DTranspose, MaxPooling3D,
AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D, UpSampling3D, ZeroPadding3D
and Cropping3D.

The math is rank-generic and shared with the 1-D and 2-D layers (conv.py, pooling.py,
reshaping.py: im2col windows, explicit backward passes); these classes give it Keras's 3-D
signatures, defaults and configs. Inputs are ``(batch, depth, rows, cols, channels)``
(channels_last, the default) or ``(batch, channels, depth, rows, cols)``.
"""

from .conv import _Conv, _ConvTranspose
from .pooling import _GlobalAverage, _GlobalMax, _Pooling
from .reshaping import _Cropping, _UpSampling, _ZeroPadding

__all__ = ["Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D",
           "GlobalMaxPooling3D", "GlobalAveragePooling3D", "UpSampling3D", "ZeroPadding3D",
           "Cropping3D", "Convolution3D", "Convolution3DTranspose"]


class Conv3D(_Conv):
    """3-D convolution over volumes (e.g. video or medical scans).

    Args:
        filters: positive int, the number of output channels.
        kernel_size: int or tuple of 3 ints (depth, rows, cols).
        strides: int or tuple of 3 ints; default (1, 1, 1).
        padding: "valid" or "same" (the extra pad goes at the end, as Keras).
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: int or tuple of 3 ints (strides must then be 1).
        groups: positive int dividing both the input channels and filters.
        activation, use_bias, kernel_initializer ("glorot_uniform"), bias_initializer
            ("zeros"), kernel/bias/activity_regularizer, kernel/bias_constraint: as Dense.

    Input shape: (batch, depth, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_depth, new_rows, new_cols, filters) (or channels_first).
    The kernel has shape (kd, kh, kw, channels // groups, filters), as Keras.

    Example:
        >>> layer = pn.layers.Conv3D(8, 3, padding="same", activation="relu")
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
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


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution ("deconvolution"): the gradient of Conv3D w.r.t. its input.

    Args:
        filters: positive int, the number of output channels.
        kernel_size, strides ((1, 1, 1)), padding ("valid" or "same"), data_format,
        dilation_rate, activation, use_bias, initializers, regularizers, constraints: as Conv3D.
        output_padding: None or int/tuple of 3 ints, each < strides.

    Input shape: (batch, depth, rows, cols, channels) (or channels_first).
    Output shape: (batch, new_depth, new_rows, new_cols, filters), each new size =
    size*strides + max(kernel - strides, 0) for 'valid', size*strides for 'same'.
    The kernel has shape (kd, kh, kw, filters, channels), as Keras.
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
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


_POOL3D_DOC = """{kind} pooling over the depth, rows and columns of volumes.

    Args:
        pool_size: int or tuple of 3 ints, the window size; default (2, 2, 2).
        strides: int or tuple of 3 ints; None (default) means pool_size.
        padding: "valid" (default) or "same".
        data_format: "channels_last" (default) or "channels_first".

    {note}

    Input shape: (batch, depth, rows, cols, channels) (or channels_first).
    Output shape: (batch, pooled_depth, pooled_rows, pooled_cols, channels).
    """


class MaxPooling3D(_Pooling):
    __doc__ = _POOL3D_DOC.format(kind="Max", note="The gradient goes to the first maximum of "
                                                  "each window; the padding never wins.")
    rank, _mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling3D(_Pooling):
    __doc__ = _POOL3D_DOC.format(kind="Average", note="Windows are divided by their count of "
                                                      "real (unpadded) elements.")
    rank, _mode = 3, "average"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class GlobalMaxPooling3D(_GlobalMax):
    """Global max pooling: the maximum over every depth, row and column.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the reduced axes with length 1 (default False).

    Input shape: (batch, depth, rows, cols, channels) (or channels_first).
    Output shape: (batch, channels), or with keepdims (batch, 1, 1, 1, channels).
    """

    rank = 3


class GlobalAveragePooling3D(_GlobalAverage):
    """Global average pooling: the mean over every depth, row and column.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the reduced axes with length 1 (default False).

    Input shape: (batch, depth, rows, cols, channels) (or channels_first).
    Output shape: (batch, channels), or with keepdims (batch, 1, 1, 1, channels).
    """

    rank = 3


class UpSampling3D(_UpSampling):
    """Nearest-neighbour upsampling of volumes: each voxel becomes a size[0] x size[1] x
    size[2] block.

    Args:
        size: int or tuple of 3 ints (depth, rows, cols); default (2, 2, 2).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: (batch, depth, rows, cols, channels). Output shape:
    (batch, depth*size[0], rows*size[1], cols*size[2], channels) (or channels_first).
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size), "data_format": self.data_format})
        return config


class ZeroPadding3D(_ZeroPadding):
    """Zero-pads the depth, rows and columns of volumes.

    Args:
        padding: int (all six sides), a tuple of 3 ints (symmetric per axis) or 3
            (before, after) pairs; default ((1, 1), (1, 1), (1, 1)).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: (batch, depth, rows, cols, channels). Output shape: each spatial size
    plus its before and after padding (or channels_first).
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops the depth, rows and columns of volumes at their edges.

    Args:
        cropping: int (all six sides), a tuple of 3 ints (symmetric per axis) or 3
            (before, after) pairs; default ((1, 1), (1, 1), (1, 1)).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: (batch, depth, rows, cols, channels). Output shape: each spatial size
    minus its before and after cropping (or channels_first).
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": [list(p) for p in self.cropping],
                       "data_format": self.data_format})
        return config


# Keras's aliases.
Convolution3D = Conv3D
Convolution3DTranspose = Conv3DTranspose
