"""Convolution layers: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D,
DepthwiseConv2D, SeparableConv1D, SeparableConv2D (Keras 3 names, arguments, defaults and
weight layouts).

Every convolution is im2col plus one matmul: ``_windows.extract_windows`` stacks one strided
slice per kernel offset into ``(N, *out, K, C)``, which multiplies the Keras kernel
``(*kernel_size, C/groups, filters)`` reshaped to ``(K*C, filters)``. The backward pass is
written out: the kernel gradient is ``cols^T @ dz`` and the input gradient adds the
columns ``dz @ kernel^T`` back onto the (padded) input with ``add_windows`` (col2im).
The math runs channels_last; channels_first inputs are transposed around it.
Cross-correlation, as Keras: the kernel is not flipped.

Fast paths (``backend.fused``; ``_windows.fast_windows(False)`` or ``PORTANET_FUSED=none``
run the portable path, which the tests compare against): "conv_stride1" replaces im2col and
col2im of a stride-1, groups=1 convolution with C >= ``_windows.FLAT_MIN_CHANNELS`` input
channels (NumPy: im2col a few images at a time in cache, one in-place gemm per kernel offset
over row ranges of the flattened input for the input gradient); a channels_last Conv with a
bias and relu hands both to it from ``_windows.EPILOGUE_MIN_CHANNELS`` channels (from one
when its input gradient is skipped), applied chunk by chunk; otherwise "bias_activation"
adds the bias and relu in place into the fresh result. A layer that reads the model's input
(``_skip_input_grad``, see portanet/training/fast_paths.py) skips its input gradient.
"""


__all__ = ["Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D",
           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Convolution1D",
           "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
           "SeparableConvolution1D", "SeparableConvolution2D"]

from .base_conv import Conv1D, Conv2D, _BaseConv, _Conv
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, _ConvTranspose
from .depthwise_conv import DepthwiseConv1D, DepthwiseConv2D, _DepthwiseConv
from .separable_conv import SeparableConv1D, SeparableConv2D, _SeparableConv

# Keras's aliases.
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
