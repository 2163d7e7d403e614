"""The convolution arithmetic shared by the convolution layers: im2col + matmul, the
stride-1 fast path, transposed and depthwise convolutions (see the package docstring)."""

from .. import _windows as W


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
