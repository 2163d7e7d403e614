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

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from . import _windows as W
from ..validation import check_positive_int
from .base import Layer


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


# --------------------------------------------------------------------------- math
def _conv(backend, x, kernel, strides, dilation, pads, groups, want_dx=True):
    """Grouped N-d cross-correlation of a channels_last ``x`` with a Keras kernel.

    Returns ``(z, backward)``; ``backward(dz) -> (dx, dkernel)`` (dx is None when
    ``want_dx`` is false: the layer reads the model's input, whose gradient nobody uses).
    """
    if groups == 1:
        return _conv_dense(backend, x, kernel, strides, dilation, pads, want_dx)
    xp = backend.xp
    ksize = tuple(kernel.shape[:-2])
    cin_g, filters = kernel.shape[-2], kernel.shape[-1]
    K = _prod(ksize)
    channels = x.shape[-1]
    xpad = W.pad(backend, x, pads)
    padded_shape = tuple(xpad.shape)
    out = _valid_out(padded_shape, ksize, strides, dilation)
    batch = x.shape[0]
    P = batch * _prod(out)
    cols = W.extract_windows(backend, xpad, ksize, strides, dilation, out)
    f_g = filters // groups
    # Group g reads input channels [g*cin_g, (g+1)*cin_g) and writes filters
    # [g*f_g, (g+1)*f_g), as Keras/TF: one batched matmul over the group axis.
    cols2 = xp.reshape(xp.permute_dims(xp.reshape(cols, (P, K, groups, cin_g)), (2, 0, 1, 3)),
                       (groups, P, K * cin_g))
    w2 = xp.reshape(xp.permute_dims(xp.reshape(kernel, (K, cin_g, groups, f_g)), (2, 0, 1, 3)),
                    (groups, K * cin_g, f_g))
    z = xp.reshape(xp.permute_dims(cols2 @ w2, (1, 0, 2)), (batch,) + out + (filters,))

    def backward(dz):
        dzg = xp.permute_dims(xp.reshape(dz, (P, groups, f_g)), (1, 0, 2))
        dw = xp.reshape(xp.matrix_transpose(cols2) @ dzg, (groups, K, cin_g, f_g))
        dkernel = xp.reshape(xp.permute_dims(dw, (1, 2, 0, 3)), tuple(kernel.shape))
        if not want_dx:
            return None, dkernel
        dc = xp.reshape(dzg @ xp.matrix_transpose(w2), (groups, P, K, cin_g))
        dcols = xp.reshape(xp.permute_dims(dc, (1, 2, 0, 3)), (batch,) + out + (K, channels))
        dxpad = W.add_windows(backend, dcols, padded_shape, ksize, strides, dilation, out)
        return W.crop(dxpad, pads), dkernel
    return z, backward


def _valid_out(padded_shape, ksize, strides, dilation):
    return tuple(W.output_length(n, k, "valid", s, d)
                 for n, k, s, d in zip(padded_shape[1:-1], ksize, strides, dilation))


def _stride1_path(backend, strides, channels, min_channels=None):
    """The backend's stride-1 convolution ("conv_stride1") when it applies, else None."""
    min_channels = W.FLAT_MIN_CHANNELS if min_channels is None else min_channels
    if W._use_fast and all(s == 1 for s in strides) and channels >= min_channels:
        return backend.fused("conv_stride1")
    return None


def _run_stride1(stride1, xpad, kernel, dilation, pads, want_dx, bias=None, relu=False):
    """``(y, backward)`` of the backend's stride-1 convolution of the padded ``xpad``
    (optionally with the bias and relu inside), ``backward(dy) -> (dx cropped to the
    unpadded input or None, dkernel, dbias or None)``; None when there is no such path or
    it declines the arrays."""
    out = (stride1(xpad, kernel, dilation, bias=bias, relu=relu)
           if stride1 is not None else None)
    if out is None:
        return None
    y, core = out

    def backward(dy):
        dxpad, dkernel, dbias = core(dy, want_dx)
        return (None if dxpad is None else W.crop(dxpad, pads)), dkernel, dbias
    return y, backward


def _conv_dense(backend, x, kernel, strides, dilation, pads, want_dx=True):
    """groups=1: im2col and one matmul forward; the kernel gradient is ``cols^T @ dz``."""
    xp = backend.xp
    ksize = tuple(kernel.shape[:-2])
    filters = kernel.shape[-1]
    K = _prod(ksize)
    channels = x.shape[-1]
    xpad = W.pad(backend, x, pads)
    flat = _run_stride1(_stride1_path(backend, strides, channels), xpad, kernel, dilation,
                        pads, want_dx)
    if flat is not None:
        # The backend's im2col-free stride-1 convolution (NumPy: gemms over row ranges).
        z, flat_backward = flat

        def backward_flat(dz):
            dx, dkernel, _ = flat_backward(dz)
            return dx, dkernel
        return z, backward_flat
    padded_shape = tuple(xpad.shape)
    out = _valid_out(padded_shape, ksize, strides, dilation)
    batch = x.shape[0]
    P = batch * _prod(out)
    cols2 = xp.reshape(W.extract_windows(backend, xpad, ksize, strides, dilation, out),
                       (P, K * channels))
    z = xp.reshape(cols2 @ xp.reshape(kernel, (K * channels, filters)), (batch,) + out + (filters,))

    def backward(dz):
        dz2 = xp.reshape(dz, (P, filters))
        dkernel = xp.reshape(W.tall_gram(xp, cols2, dz2), tuple(kernel.shape))
        if not want_dx:
            return None, dkernel
        # Input gradient offset by offset: K small matmuls added into place beat one big
        # (P, K*C) column matrix followed by col2im (which does not fit in cache).
        w_t = xp.permute_dims(xp.reshape(kernel, (K, channels, filters)), (0, 2, 1))
        dxpad = W.add_window_products(backend, dz2, [w_t[k, ...] for k in range(K)],
                                      padded_shape, ksize, strides, dilation, out)
        return W.crop(dxpad, pads), dkernel
    return z, backward


def _conv_transpose(backend, x, kernel, strides, dilation, geometry):
    """Transposed convolution (the adjoint of ``_conv``) of a channels_last ``x``.

    ``kernel`` has Keras's transposed layout ``(*kernel_size, filters, in_channels)``;
    ``geometry`` is ``[(before, padded_length, length), ...]`` per spatial axis.
    Returns ``(z, backward)``; ``backward(dz) -> (dx, dkernel)``.
    """
    xp = backend.xp
    nd = kernel.ndim - 2
    ksize = tuple(kernel.shape[:-2])
    filters, cin = kernel.shape[-2], kernel.shape[-1]
    K = _prod(ksize)
    batch = x.shape[0]
    spatial = tuple(x.shape[1:-1])
    P = batch * _prod(spatial)
    # (*k, F, Cin) -> (Cin, K*F): columns ordered (kernel offset, filter) as add_windows wants.
    perm = (nd + 1,) + tuple(range(nd + 1))
    wm = xp.reshape(xp.permute_dims(kernel, perm), (cin, K * filters))
    x2 = xp.reshape(x, (P, cin))
    padded_shape = (batch,) + tuple(g[1] for g in geometry) + (filters,)
    w_k = xp.permute_dims(xp.reshape(kernel, (K, filters, cin)), (0, 2, 1))
    buf = W.add_window_products(backend, x2, [w_k[k, ...] for k in range(K)], padded_shape,
                                ksize, strides, dilation, spatial)
    pads = [(before, padded - before - length) for before, padded, length in geometry]
    z = W.crop(buf, pads)

    def backward(dz):
        dpad = W.pad(backend, dz, pads)
        dcols = xp.reshape(W.extract_windows(backend, dpad, ksize, strides, dilation, spatial),
                           (P, K * filters))
        dx = xp.reshape(dcols @ xp.matrix_transpose(wm), tuple(x.shape))
        dwm = xp.reshape(W.tall_gram(xp, x2, dcols), (cin,) + ksize + (filters,))
        inv = tuple(range(1, nd + 2)) + (0,)
        return dx, xp.permute_dims(dwm, inv)
    return z, backward


# --------------------------------------------------------------------------- base
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
        return config


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


def _depthwise(backend, x, depthwise_kernel, padding, strides, dilation):
    """Depthwise conv as a grouped conv with one input channel per group: the kernel
    (*k, C, M) read in memory order is the grouped kernel (*k, 1, C*M)."""
    xp = backend.xp
    ksize = tuple(depthwise_kernel.shape[:-2])
    channels, mult = depthwise_kernel.shape[-2], depthwise_kernel.shape[-1]
    kernel = xp.reshape(depthwise_kernel, ksize + (1, channels * mult))
    pads = [W.padding_amounts(n, k, padding, s, d) for n, k, s, d in
            zip(x.shape[1:-1], ksize, strides, dilation)]
    z, core = _conv(backend, x, kernel, strides, dilation, pads, channels)

    def backward(dz):
        dx, dk = core(dz)
        return dx, xp.reshape(dk, tuple(depthwise_kernel.shape))
    return z, backward


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


# Keras's aliases.
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
