"""Convolution layers: the shared harness for every option combination, shapes against
Keras's rules, hand-computed values ('same' padding with even kernels and strides), the
transposed convolution as the exact adjoint of the convolution, and the NumPy fast window
path against the portable one."""

import zlib

import numpy as np
import pytest

import portanet as pn
from portanet.layers import _windows
from harness import layer_forward, run_layer_test, to_np


# --------------------------------------------------------------------------- references
def ref_conv(x, kernel, strides, dilation, pads, groups=1):
    """Direct loops over output positions: channels_last, Keras kernel (*k, C/groups, F)."""
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    ksize = kernel.shape[:nd]
    cin_g, filters = kernel.shape[-2:]
    f_g = filters // groups
    out = [(x.shape[1 + i] - (ksize[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(nd)]
    y = np.zeros((x.shape[0],) + tuple(out) + (filters,))
    for pos in np.ndindex(*out):
        idx = tuple(slice(p * s, p * s + (k - 1) * d + 1, d)
                    for p, s, k, d in zip(pos, strides, ksize, dilation))
        for f in range(filters):
            g = f // f_g
            patch = x[(slice(None),) + idx + (slice(g * cin_g, (g + 1) * cin_g),)]
            y[(slice(None),) + pos + (f,)] = np.tensordot(patch, kernel[..., f], axes=nd + 1)
    return y


def same_pads(n, k, s, d=1):
    """Keras/TF 'same': total pad, the extra element after."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return (total // 2, total - total // 2)


# --------------------------------------------------------------------------- harness
CONV2D_CASES = [
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same"),
    dict(filters=2, kernel_size=2, padding="same", dilation_rate=2),
    dict(filters=4, kernel_size=3, padding="same", groups=2),
    dict(filters=3, kernel_size=2, strides=2, data_format="channels_first", padding="same"),
    dict(filters=3, kernel_size=3, use_bias=False, activation="tanh"),
]


@pytest.mark.parametrize("kwargs", CONV2D_CASES, ids=lambda k: str(sorted(k.items())))
def test_conv2d_harness(backend, kwargs):
    fmt = kwargs.get("data_format", "channels_last")
    shape = (2, 4, 5, 6) if fmt == "channels_first" else (2, 5, 6, 4)
    layer = run_layer_test(lambda: pn.layers.Conv2D(**kwargs), shape, backend,
                           expected_num_weights=2 if kwargs.get("use_bias", True) else 1)
    groups = kwargs.get("groups", 1)
    ks = _windows.normalize_tuple(kwargs["kernel_size"], 2, "k", "t")
    assert layer.kernel.shape == ks + (4 // groups, kwargs["filters"])


CONV1D_CASES = [
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=4, padding="same", strides=2),
    dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2),
    dict(filters=4, kernel_size=2, padding="causal", groups=2, activation="relu"),
    dict(filters=3, kernel_size=3, padding="same", data_format="channels_first"),
]


@pytest.mark.parametrize("kwargs", CONV1D_CASES, ids=lambda k: str(sorted(k.items())))
def test_conv1d_harness(backend, kwargs):
    shape = (2, 4, 7) if kwargs.get("data_format") == "channels_first" else (2, 7, 4)
    run_layer_test(lambda: pn.layers.Conv1D(**kwargs), shape, backend, expected_num_weights=2)


TRANSPOSE_CASES = [
    dict(filters=2, kernel_size=3),
    dict(filters=3, kernel_size=3, strides=2, padding="same"),
    dict(filters=2, kernel_size=(2, 3), strides=(2, 3), padding="valid"),
    dict(filters=2, kernel_size=3, strides=2, padding="valid", output_padding=1),
    dict(filters=2, kernel_size=2, dilation_rate=2, padding="same"),
    dict(filters=2, kernel_size=3, strides=2, padding="same", data_format="channels_first"),
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES, ids=lambda k: str(sorted(k.items())))
def test_conv2d_transpose_harness(backend, kwargs):
    shape = (2, 3, 4, 3) if kwargs.get("data_format") == "channels_first" else (2, 4, 3, 3)
    layer = run_layer_test(lambda: pn.layers.Conv2DTranspose(**kwargs), shape, backend,
                           expected_num_weights=2)
    ks = _windows.normalize_tuple(kwargs["kernel_size"], 2, "k", "t")
    assert layer.kernel.shape == ks + (kwargs["filters"], 3)  # Keras: (kh, kw, filters, in)


def test_conv1d_transpose_harness(backend):
    run_layer_test(lambda: pn.layers.Conv1DTranspose(3, 3, strides=2, padding="same"),
                   (2, 4, 2), backend, expected_output_shape=(2, 8, 3))


DEPTHWISE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=2, depth_multiplier=2, strides=2, padding="same"),
    dict(kernel_size=3, padding="same", dilation_rate=2, data_format="channels_first"),
]


@pytest.mark.parametrize("kwargs", DEPTHWISE_CASES, ids=lambda k: str(sorted(k.items())))
def test_depthwise_conv2d_harness(backend, kwargs):
    shape = (2, 3, 5, 6) if kwargs.get("data_format") == "channels_first" else (2, 5, 6, 3)
    layer = run_layer_test(lambda: pn.layers.DepthwiseConv2D(**kwargs), shape, backend,
                           expected_num_weights=2)
    m = kwargs.get("depth_multiplier", 1)
    assert layer.depthwise_kernel.shape[-2:] == (3, m)
    assert layer.bias.shape == (3 * m,)


@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=3),
    dict(filters=2, kernel_size=2, depth_multiplier=2, strides=2, padding="same", activation="tanh"),
    dict(filters=3, kernel_size=3, padding="same", data_format="channels_first", use_bias=False),
], ids=lambda k: str(sorted(k.items())))
def test_separable_conv2d_harness(backend, kwargs):
    shape = (2, 3, 5, 5) if kwargs.get("data_format") == "channels_first" else (2, 5, 5, 3)
    layer = run_layer_test(lambda: pn.layers.SeparableConv2D(**kwargs), shape, backend,
                           expected_num_weights=3 if kwargs.get("use_bias", True) else 2)
    m = kwargs.get("depth_multiplier", 1)
    assert [v.name for v in layer.weights][:2] == ["depthwise_kernel", "pointwise_kernel"]
    assert layer.pointwise_kernel.shape == (1, 1, 3 * m, kwargs["filters"])


@pytest.mark.parametrize("make,shape,expected", [
    (lambda: pn.layers.DepthwiseConv1D(3, depth_multiplier=2), (2, 7, 3), (2, 5, 6)),
    (lambda: pn.layers.DepthwiseConv1D(2, strides=2, padding="same"), (2, 7, 3), (2, 4, 3)),
    (lambda: pn.layers.SeparableConv1D(4, 3, padding="causal", dilation_rate=2), (2, 7, 3), (2, 7, 4)),
    (lambda: pn.layers.SeparableConv1D(2, 3, data_format="channels_first"), (2, 3, 7), (2, 2, 5)),
])
def test_conv1d_depthwise_separable_harness(backend, make, shape, expected):
    layer = run_layer_test(make, shape, backend, expected_output_shape=expected)
    if isinstance(layer, pn.layers.SeparableConv1D):
        assert layer.pointwise_kernel.shape == (1, 3 * layer.depth_multiplier, layer.filters)


def test_depthwise_conv1d_matches_per_channel_convolution(backend, float64):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 9, 2))
    layer = pn.layers.DepthwiseConv1D(3, depth_multiplier=3, padding="same", use_bias=False)
    y = to_np(backend, layer(x))
    (k,) = layer.get_weights()  # (3, 2, 3)
    for c in range(2):
        np.testing.assert_allclose(y[..., 3 * c:3 * c + 3],
                                   ref_conv(x[..., c:c + 1], k[:, c:c + 1, :], (1,), (1,), [(1, 1)]),
                                   atol=1e-12)


def test_conv_regularizers_constraints_initializers(backend):
    make = lambda: pn.layers.Conv2D(2, 2, kernel_regularizer=pn.regularizers.L2(0.1),
                                    bias_regularizer="l1", kernel_initializer="he_normal",
                                    bias_initializer="ones")
    layer = run_layer_test(make, (1, 4, 4, 2), backend)
    assert isinstance(layer.kernel.regularizer, pn.regularizers.L2)
    fresh = make()
    fresh.build((None, 4, 4, 2))
    np.testing.assert_array_equal(fresh.get_weights()[1], [1.0, 1.0])
    layer = pn.layers.Conv2D(2, 2, kernel_constraint=pn.constraints.NonNeg(),
                             activity_regularizer="l2")
    again = pn.layers.Conv2D.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    again.build((None, 4, 4, 2))
    assert isinstance(again.kernel.constraint, pn.constraints.NonNeg)


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize("kernel,strides,dilation", [
    ((2, 2), (1, 1), (1, 1)), ((4, 2), (1, 2), (1, 1)), ((3, 3), (2, 2), (1, 1)),
    ((2, 4), (3, 2), (1, 1)), ((2, 2), (1, 1), (2, 2)),
])
def test_conv2d_same_matches_loops(backend, float64, kernel, strides, dilation):
    """Keras 'same' padding, even kernels and strides: the extra pad goes bottom/right."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3))
    layer = pn.layers.Conv2D(4, kernel, strides=strides, dilation_rate=dilation, padding="same")
    y = to_np(backend, layer(x))
    k, b = layer.get_weights()
    pads = [same_pads(n, kk, s, d) for n, kk, s, d in zip((7, 6), kernel, strides, dilation)]
    np.testing.assert_allclose(y, ref_conv(x, k, strides, dilation, pads) + b, atol=1e-12)
    assert y.shape[1:3] == (-(-7 // strides[0]), -(-6 // strides[1]))


def test_conv2d_same_even_kernel_hand_values(backend):
    """2x2 kernel of ones, 'same', on a 3x3 image: pad one row below and one column right,
    so each output sums the pixel, its right, lower and lower-right neighbours."""
    x = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    layer = pn.layers.Conv2D(1, 2, padding="same", use_bias=False, kernel_initializer="ones")
    y = to_np(backend, layer(x))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    # stride 2 on a 4x4 image: out 2x2, total pad max((2-1)*2+2-4, 0) = 0.
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer = pn.layers.Conv2D(1, 2, strides=2, padding="same", use_bias=False,
                             kernel_initializer="ones")
    np.testing.assert_array_equal(to_np(backend, layer(x))[0, :, :, 0], [[10, 18], [42, 50]])
    # 3x3 stride 2 on 4x4: total pad 1, all of it bottom/right.
    layer = pn.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False,
                             kernel_initializer="ones")
    np.testing.assert_array_equal(to_np(backend, layer(x))[0, :, :, 0], [[45, 39], [66, 50]])


@pytest.mark.parametrize("padding,strides,dilation", [
    ("valid", 1, 1), ("same", 2, 1), ("same", 1, 2), ("causal", 1, 3), ("causal", 2, 1),
])
def test_conv1d_matches_loops(backend, float64, padding, strides, dilation):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 2))
    layer = pn.layers.Conv1D(3, 4, strides=strides, dilation_rate=dilation, padding=padding)
    y = to_np(backend, layer(x))
    k, b = layer.get_weights()
    eff = 3 * dilation + 1
    pads = {"valid": (0, 0), "same": same_pads(9, 4, strides, dilation), "causal": (eff - 1, 0)}[padding]
    np.testing.assert_allclose(y, ref_conv(x, k, (strides,), (dilation,), [pads]) + b, atol=1e-12)


def test_conv1d_causal_never_sees_the_future(backend, float64):
    x = np.zeros((1, 8, 1))
    x[0, 5, 0] = 1.0
    layer = pn.layers.Conv1D(1, 3, padding="causal", dilation_rate=2, kernel_initializer="ones",
                             use_bias=False)
    y = to_np(backend, layer(x))[0, :, 0]
    np.testing.assert_array_equal(y, [0, 0, 0, 0, 0, 1, 0, 1])


def test_groups_match_separate_convolutions(backend, float64):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5, 4))
    layer = pn.layers.Conv2D(6, 3, groups=2, padding="same")
    y = to_np(backend, layer(x))
    k, b = layer.get_weights()  # (3, 3, 2, 6): group g uses channels 2g..2g+1, filters 3g..3g+2
    for g in range(2):
        part = ref_conv(x[..., 2 * g:2 * g + 2], k[..., 3 * g:3 * g + 3], (1, 1), (1, 1),
                        [(1, 1), (1, 1)])
        np.testing.assert_allclose(y[..., 3 * g:3 * g + 3], part + b[3 * g:3 * g + 3], atol=1e-12)


def test_channels_first_equals_channels_last(backend, float64):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 5, 3))
    for cls, kw in [(pn.layers.Conv2D, dict(filters=2, kernel_size=3, strides=2, padding="same")),
                    (pn.layers.Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2,
                                                     padding="same")),
                    (pn.layers.DepthwiseConv2D, dict(kernel_size=2, depth_multiplier=2)),
                    (pn.layers.SeparableConv2D, dict(filters=2, kernel_size=2))]:
        last = cls(**kw)
        y_last = to_np(backend, last(x))
        first = cls(data_format="channels_first", **kw)
        first(np.transpose(x, (0, 3, 1, 2)))
        first.set_weights(last.get_weights())
        y_first = to_np(backend, first(np.transpose(x, (0, 3, 1, 2))))
        np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, atol=1e-12)


def test_depthwise_matches_per_channel_convolution(backend, float64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 6, 3))
    layer = pn.layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same")
    y = to_np(backend, layer(x))
    k, b = layer.get_weights()  # (3, 3, 3, 2)
    for c in range(3):
        ref = ref_conv(x[..., c:c + 1], k[:, :, c:c + 1, :], (2, 2), (1, 1),
                       [same_pads(6, 3, 2)] * 2)
        np.testing.assert_allclose(y[..., 2 * c:2 * c + 2], ref + b[2 * c:2 * c + 2], atol=1e-12)


def test_separable_is_depthwise_then_pointwise(backend, float64):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 5, 3))
    sep = pn.layers.SeparableConv2D(4, 3, depth_multiplier=2, padding="same", activation="relu")
    y = to_np(backend, sep(x))
    dk, pk, b = sep.get_weights()
    depth = pn.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False)
    depth(x)
    depth.set_weights([dk])
    h = to_np(backend, depth(x))
    np.testing.assert_allclose(y, np.maximum(h @ pk[0, 0] + b, 0), atol=1e-12)


@pytest.mark.parametrize("kwargs,in_shape", [
    (dict(kernel_size=3), (2, 4, 3, 2)),
    (dict(kernel_size=3, strides=2, padding="same"), (2, 3, 4, 2)),
    (dict(kernel_size=(2, 3), strides=(2, 3), padding="valid"), (1, 3, 2, 2)),
    (dict(kernel_size=3, strides=2, padding="valid", output_padding=1), (1, 3, 3, 2)),
    (dict(kernel_size=2, dilation_rate=2, padding="same"), (1, 4, 4, 2)),
    (dict(kernel_size=4, strides=2, padding="same"), (1, 3, 3, 2)),
])
def test_transpose_is_the_adjoint_of_conv(backend, float64, kwargs, in_shape):
    """<Conv2D(x), y> == <x, Conv2DTranspose(y)> with the same kernel: the transposed layer is
    exactly the gradient of the forward convolution (as Keras/TF conv2d_transpose)."""
    rng = np.random.default_rng(6)
    conv_kw = {k: v for k, v in kwargs.items() if k != "output_padding"}
    t = pn.layers.Conv2DTranspose(5, use_bias=False, **kwargs)
    y = rng.standard_normal(in_shape)
    ty = to_np(backend, t(y))
    big = ty.shape
    conv = pn.layers.Conv2D(in_shape[-1], use_bias=False, **conv_kw)
    x = rng.standard_normal(big)
    conv(x)
    conv.set_weights(t.get_weights())  # (kh, kw, 5, C): conv from 5 channels to C
    cx = to_np(backend, conv(x))
    assert cx.shape == y.shape
    np.testing.assert_allclose(np.sum(cx * y), np.sum(x * ty), rtol=1e-10)


def test_conv2d_transpose_hand_values(backend):
    """Stride 2, 2x2 kernel of ones, 'valid': each input pixel becomes a 2x2 block."""
    x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    layer = pn.layers.Conv2DTranspose(1, 2, strides=2, use_bias=False, kernel_initializer="ones")
    y = to_np(backend, layer(x))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    # 3x3 kernel, stride 1, valid: the "full" convolution, overlaps add up.
    layer = pn.layers.Conv2DTranspose(1, 2, use_bias=False, kernel_initializer="ones")
    y = to_np(backend, layer(x))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("cls,kwargs,in_shape,expected", [
    # 'valid': floor((n - (k-1)d - 1)/s) + 1; 'same': ceil(n/s)
    ("Conv2D", dict(filters=8, kernel_size=3), (None, 28, 28, 1), (None, 26, 26, 8)),
    ("Conv2D", dict(filters=8, kernel_size=3, strides=2), (None, 28, 27, 1), (None, 13, 13, 8)),
    ("Conv2D", dict(filters=8, kernel_size=3, dilation_rate=2), (None, 10, 9, 2), (None, 6, 5, 8)),
    ("Conv2D", dict(filters=8, kernel_size=4, strides=3, padding="same"), (None, 10, 9, 2), (None, 4, 3, 8)),
    ("Conv2D", dict(filters=8, kernel_size=3, data_format="channels_first"), (None, 2, 9, 7), (None, 8, 7, 5)),
    ("Conv1D", dict(filters=4, kernel_size=5, strides=2), (None, 20, 3), (None, 8, 4)),
    ("Conv1D", dict(filters=4, kernel_size=5, padding="causal", strides=3), (None, 20, 3), (None, 7, 4)),
    # transposed, output_padding None: valid n*s + max(k - s, 0), same n*s
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2), (None, 5, 4, 2), (None, 11, 9, 4)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=2, strides=3), (None, 5, 4, 2), (None, 15, 12, 4)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (None, 5, 4, 2), (None, 10, 8, 4)),
    # with output_padding p: (n-1)s + k - 2*pad + p, pad = k//2 for 'same'
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same", output_padding=1),
     (None, 5, 4, 2), (None, 10, 8, 4)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=3, padding="valid", output_padding=2),
     (None, 5, 4, 2), (None, 17, 14, 4)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=3), (None, 8, 8, 2), (None, 6, 6, 6)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, strides=2, padding="same"), (None, 8, 7, 2), (None, 4, 4, 5)),
])
def test_output_shapes_follow_keras(backend, cls, kwargs, in_shape, expected):
    layer = getattr(pn.layers, cls)(**kwargs)
    assert layer.compute_output_shape(in_shape) == expected
    x = np.zeros((2,) + in_shape[1:], "float32")
    assert to_np(backend, layer(x)).shape == (2,) + expected[1:]


# --------------------------------------------------------------------------- fast path
def test_window_primitives_fast_equals_portable(rng):
    """NumPy's strided-view im2col and in-place slice add agree with the portable stack /
    slice-assignment versions, for strides, dilation and a non-contiguous input."""
    nb = pn.backend.get("numpy")
    assert nb.fused("conv_windows") is not None and nb.fused("slice_add") is not None
    with nb.fused_disabled():
        assert nb.fused("conv_windows") is None and nb.fused("slice_add") is None
    base = rng.standard_normal((2, 9, 3, 10))
    x = np.transpose(base, (0, 3, 1, 2))  # (2, 10, 9, 3), not contiguous
    for kernel, strides, dilation in [((3, 2), (1, 1), (1, 1)), ((2, 3), (2, 3), (1, 1)),
                                      ((2, 2), (1, 1), (3, 2))]:
        out = tuple(_windows.output_length(n, k, "valid", s, d)
                    for n, k, s, d in zip(x.shape[1:3], kernel, strides, dilation))
        fast = _windows.extract_windows(nb, x, kernel, strides, dilation, out, fast=True)
        slow = _windows.extract_windows(nb, x, kernel, strides, dilation, out, fast=False)
        assert fast.shape == slow.shape == (2,) + out + (kernel[0] * kernel[1], 3)
        np.testing.assert_array_equal(fast, slow)
        cols = rng.standard_normal(slow.shape)
        with _windows.fast_windows(True):
            a = _windows.add_windows(nb, cols, x.shape, kernel, strides, dilation, out)
        with _windows.fast_windows(False):
            b = _windows.add_windows(nb, cols, x.shape, kernel, strides, dilation, out)
        np.testing.assert_allclose(a, b, atol=1e-12)
        # add_windows is the adjoint of extract_windows
        np.testing.assert_allclose(np.sum(slow * cols), np.sum(x * b), rtol=1e-10)


@pytest.mark.parametrize("make", [
    lambda: pn.layers.Conv2D(4, 3, padding="same", activation="relu"),
    lambda: pn.layers.Conv2D(4, (2, 3), strides=2, groups=2),
    lambda: pn.layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
    lambda: pn.layers.SeparableConv2D(3, 2, depth_multiplier=2),
    lambda: pn.layers.Conv1D(3, 3, padding="causal", dilation_rate=2),
])
def test_layer_fast_path_equals_portable_path(float64, make):
    rng = np.random.default_rng(7)
    with pn.use_backend("numpy") as nb:
        layer = make()
        x = rng.standard_normal((2, 7, 4) if isinstance(layer, pn.layers.Conv1D) else (2, 6, 5, 4))
        results = []
        for fast in (True, False, None):
            # None: the backend-wide switch (PORTANET_FUSED=none) instead of the module's.
            scope = nb.fused_disabled() if fast is None else _windows.fast_windows(fast)
            with scope:
                for v in layer.weights:
                    v.grad = None
                y, back = layer_forward(layer, nb, x)
                dy = np.cos(np.arange(y.size).reshape(y.shape))
                dx = back(dy)
                results.append([y, dx] + [v.grad for v in layer.weights])
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make,shape", [
    (lambda: pn.layers.Conv2D(5, 3, activation="relu"), (2, 6, 5, 32)),
    (lambda: pn.layers.Conv2D(4, (2, 3), padding="same", dilation_rate=(2, 1)), (3, 7, 6, 33)),
    (lambda: pn.layers.Conv2D(3, 3, padding="same", data_format="channels_first"), (2, 32, 5, 4)),
    (lambda: pn.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), (2, 9, 32)),
    # Bias and relu inside the fast path, one image per chunk (see _IM2COL_ROWS below).
    (lambda: pn.layers.Conv2D(4, 3, padding="same", dilation_rate=2, activation="relu"),
     (3, 7, 6, 32)),
    (lambda: pn.layers.Conv1D(4, 3, padding="causal", activation="relu"), (3, 9, 33)),
    (lambda: pn.layers.Conv2D(4, 3, activation="relu", use_bias=False), (2, 6, 5, 32)),
    (lambda: pn.layers.Conv2D(4, 3, activation="relu"), (2, 6, 5, 3)),  # few channels
])
@pytest.mark.parametrize("workers", [1, 3])
def test_conv_stride1_fast_path_equals_portable(float64, monkeypatch, make, shape, workers):
    """NumPy's im2col-free stride-1 convolution (one accumulating gemm per kernel offset
    over row ranges of the flattened input) against the portable im2col/col2im path:
    outputs, input gradient and weight gradients, in float64 and float32. (Offered only
    where NumPy's own BLAS gemm is found; forced on here so the fallback is tested too.)
    ``workers``: the image chunks on one thread, or split over three (each with its own
    kernel and bias gradient sums, added after)."""
    from portanet.backend import numpy_backend
    monkeypatch.setattr(numpy_backend, "GEMM_INTO_IN_PLACE", True)
    monkeypatch.setattr(numpy_backend, "_IM2COL_ROWS", 1)  # a chunk per image
    monkeypatch.setattr(numpy_backend, "_chunk_workers", lambda: workers)
    rng = np.random.default_rng(11)
    with pn.use_backend("numpy") as nb:
        # Teardown puts back the fast-path table chosen without the forced flag.
        monkeypatch.setattr(nb, "_fused_cache", None)
        assert nb.fused("conv_stride1") is not None
        calls = []
        original = nb.conv_stride1

        def counting(*args, **kwargs):
            calls.append((args[0].shape, kwargs.get("relu", False)))
            return original(*args, **kwargs)
        layer = make()
        x = rng.standard_normal(shape)
        for dtype, tol in (("float64", 1e-11), ("float32", 2e-4)):
            results = []
            for fast in (True, False):
                scope = _windows.fast_windows(fast)
                with scope:
                    nb.conv_stride1 = counting
                    nb.set_fused(None)
                    for v in layer.weights:
                        v.grad = None
                    xs = x.astype(dtype)
                    layer._maybe_build(xs.shape)
                    for v in layer.weights:
                        # Random values for every weight, the bias included (a zero bias
                        # would hide a bias the fast path adds wrongly).
                        v.value = (np.random.default_rng(zlib.crc32(v.path.encode()))
                                   .standard_normal(v.shape) * 0.5).astype(dtype)
                    y, back = layer.run(xs, training=True)[:2]
                    dy = np.cos(np.arange(y.size).reshape(y.shape)).astype(dtype)
                    dx = back(dy)
                    results.append([y, dx] + [v.grad for v in layer.weights])
                    del nb.conv_stride1
                    nb.set_fused(None)
            assert calls, "the fast path was not taken"
            # Bias and relu go inside the fast path exactly when the layer has both.
            epilogue = (layer.use_bias and layer.activation is pn.activations.relu
                        and layer.data_format == "channels_last")
            assert [relu for _, relu in calls] == [epilogue]
            calls.clear()
            for a, b in zip(*results):
                assert a.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype)
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_conv_stride1_backend_matches_loops(float64):
    """The NumPy primitive on its own (few channels, 3-D input, dilation) against direct loops."""
    rng = np.random.default_rng(12)
    nb = pn.backend.get("numpy")
    x = rng.standard_normal((2, 5, 6, 3))
    kernel = rng.standard_normal((2, 3, 3, 4))
    z, back = nb.conv_stride1(x, kernel, (2, 1))
    np.testing.assert_allclose(z, ref_conv(x, kernel, (1, 1), (2, 1), [(0, 0), (0, 0)]), atol=1e-12)
    dz = rng.standard_normal(z.shape)
    dx, dk, none_bias = back(dz, True)
    assert none_bias is None  # no bias was given
    # Adjoint identities: <conv(x), dz> is linear in x and in the kernel.
    np.testing.assert_allclose(np.sum(dx * x), np.sum(z * dz), rtol=1e-10)
    np.testing.assert_allclose(np.sum(dk * kernel), np.sum(z * dz), rtol=1e-10)
    none, dk2, _ = back(dz, False)
    assert none is None
    np.testing.assert_array_equal(dk, dk2)
    assert nb.conv_stride1(x.astype("float32"), kernel, (1, 1)) is None  # mixed dtypes decline
    # The NumPy fallback of the in-place gemm (when NumPy's BLAS is not found) gives the same.
    from portanet.backend import numpy_backend
    blas = numpy_backend._CBLAS
    try:
        numpy_backend._CBLAS = {}
        z2, back2 = nb.conv_stride1(x, kernel, (2, 1))
        dx2, dk2, _ = back2(dz, True)
    finally:
        numpy_backend._CBLAS = blas
    np.testing.assert_allclose(z2, z, atol=1e-12)
    np.testing.assert_allclose(dx2, dx, atol=1e-12)
    np.testing.assert_allclose(dk2, dk, atol=1e-12)


def test_conv_stride1_kernel_with_odd_strides_on_a_length_one_axis(float64):
    """A kernel whose length-1 channel axis has stride 0 (a broadcast view) or a negative
    stride is a valid array; the raw BLAS calls must not take that stride as a row pitch
    (OpenBLAS rejects it and leaves the result unwritten)."""
    rng = np.random.default_rng(14)
    nb = pn.backend.get("numpy")
    x = rng.standard_normal((2, 9, 1))
    base = rng.standard_normal((3, 4))
    dz = rng.standard_normal((2, 7, 4))
    expected = None
    for kernel in (base[:, None, :], np.broadcast_to(base[:, None, :], (3, 1, 4)),
                   base[:, None, :][:, ::-1, :], np.ascontiguousarray(base[:, None, :])):
        z, back = nb.conv_stride1(x, kernel, (1,))
        dx, dk, _ = back(dz, True)
        if expected is None:
            ref = np.stack([sum(x[:, t + i, 0][:, None] * base[i] for i in range(3))
                            for t in range(7)], axis=1)
            np.testing.assert_allclose(z, ref, atol=1e-12)
            expected = (z, dx, dk)
            continue
        for a, b in zip((z, dx, dk), expected):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_conv_stride1_chunks_of_images_match_one_chunk(float64, monkeypatch):
    """conv_stride1 builds im2col a few images at a time (forward and kernel gradient):
    with chunks of 2 images over a batch of 5 (2, 2, 1) the output and both gradients
    equal the direct loops, and the one-chunk results."""
    from portanet.backend import numpy_backend
    rng = np.random.default_rng(13)
    nb = pn.backend.get("numpy")
    x = rng.standard_normal((5, 6, 5, 3))
    kernel = rng.standard_normal((3, 2, 3, 4))
    dz = None
    results = []
    for rows in (10**6, 2 * 4 * 4):  # one chunk; two images (4x4 outputs each) a chunk
        monkeypatch.setattr(numpy_backend, "_IM2COL_ROWS", rows)
        z, back = nb.conv_stride1(x, kernel, (1, 1))
        if dz is None:
            np.testing.assert_allclose(z, ref_conv(x, kernel, (1, 1), (1, 1), [(0, 0), (0, 0)]),
                                       atol=1e-12)
            dz = rng.standard_normal(z.shape)
        dx, dk, _ = back(dz, True)
        results.append((z, dx, dk))
    # The kernel gradient is sum over positions of window (x) dz: check it by loops too.
    ref_dk = np.zeros_like(kernel)
    for i in range(3):
        for j in range(2):
            ref_dk[i, j] = np.einsum("nhwc,nhwf->cf", x[:, i:i + 4, j:j + 4, :], dz)
    np.testing.assert_allclose(results[0][2], ref_dk, atol=1e-12)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(np.sum(results[1][1] * x), np.sum(results[1][0] * dz), rtol=1e-10)


@pytest.mark.parametrize("make,channels", [
    (lambda: pn.layers.Conv2D(3, 3, activation="relu"), 4),
    (lambda: pn.layers.Conv2D(4, 2, groups=2, padding="same"), 4),
    (lambda: pn.layers.Conv2D(2, 3, data_format="channels_first"), 4),
    (lambda: pn.layers.Conv2D(3, 3, padding="same"), 4),
    # NumPy: the stride-1 path with bias and relu inside (32 channels), and without.
    (lambda: pn.layers.Conv2D(3, 3, activation="relu", bias_initializer="random_normal"), 32),
    (lambda: pn.layers.Conv2D(3, 3, padding="same"), 32),
    # One channel: skipping the input gradient takes the fast path, keeping it does not.
    (lambda: pn.layers.Conv2D(3, 3, activation="relu", bias_initializer="random_normal"), 1),
])
def test_conv_fed_by_the_model_input_skips_the_input_gradient(backend, make, channels):
    """A conv layer marked by the training step as reading the model's input (as Dense)
    returns no input gradient, and its weight gradients are unchanged."""
    layer = make()
    x = np.random.default_rng(5).standard_normal((2, 6, 5, channels)).astype("float32")
    grads = []
    for skip in (False, True):
        for v in layer.weights:
            v.grad = None
        layer._skip_input_grad = skip
        try:
            y, back = layer_forward(layer, backend, x, training=True)
        finally:
            layer._skip_input_grad = False
        dx = back(backend.asarray(np.ones(tuple(y.shape), "float32")))
        assert (dx is None) == skip
        grads.append([to_np(backend, v.grad) for v in layer.weights])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_cnn_training_step_skips_the_first_conv_input_gradient():
    """In a Sequential CNN the first Conv2D's backward returns None during fit."""
    with pn.use_backend("numpy"):
        model = pn.Sequential([pn.Input((6, 6, 1)), pn.layers.Conv2D(2, 3, activation="relu"),
                               pn.layers.Flatten(), pn.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        first = model.layers[0]
        seen = []
        original = first.forward

        def spy(x, training=False):
            y, back = original(x, training=training)

            def wrapped(dy):
                dx = back(dy)
                seen.append(dx)
                return dx
            return y, wrapped
        first.forward = spy
        x = np.random.default_rng(0).standard_normal((4, 6, 6, 1)).astype("float32")
        model.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=4, verbose=0)
        assert seen == [None]
        assert np.all(np.isfinite(to_np(pn.backend.current(), first.kernel.value)))


# --------------------------------------------------------------------------- errors
def test_bad_conv_arguments():
    with pytest.raises(ValueError, match="filters=0"):
        pn.layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size=.*expected an int or a tuple of 2 ints"):
        pn.layers.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding='full'"):
        pn.layers.Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="padding='causal'"):
        pn.layers.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="data_format='nhwc'"):
        pn.layers.Conv1D(4, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="divisible by groups=3"):
        pn.layers.Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="cannot be combined with dilation"):
        pn.layers.Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="output_padding"):
        pn.layers.Conv2DTranspose(4, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="depth_multiplier=0"):
        pn.layers.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(TypeError, match="strides"):
        pn.layers.Conv1D(4, 3, strides="2")
    with pytest.raises(ValueError, match="input channels .*5.* divisible by groups=2"):
        pn.layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 5))
    with pytest.raises(ValueError, match="too small"):
        pn.layers.Conv2D(4, 5).build((None, 3, 8, 1))
    with pytest.raises(ValueError, match="rank 4"):
        pn.layers.Conv2D(4, 3).build((None, 8, 1))


def test_conv_in_a_model_saves_and_loads(tmp_path, backend):
    model = pn.Sequential([pn.Input((6, 6, 2)),
                           pn.layers.Conv2D(3, 3, padding="same", activation="relu"),
                           pn.layers.SeparableConv2D(2, 2, strides=2),
                           pn.layers.Conv2DTranspose(2, 2, strides=2),
                           pn.layers.DepthwiseConv2D(3, depth_multiplier=2),
                           pn.layers.Flatten(), pn.layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((3, 6, 6, 2)).astype("float32")
    y = model.predict(x, verbose=0)
    path = str(tmp_path / "conv.portanet")
    model.save(path)
    again = pn.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), y, rtol=1e-6, atol=1e-6)


def test_conv_defaults_and_aliases_follow_keras():
    layer = pn.layers.Conv2D(8, 3)
    assert (layer.strides, layer.padding, layer.data_format, layer.dilation_rate, layer.groups,
            layer.use_bias) == ((1, 1), "valid", "channels_last", (1, 1), 1, True)
    assert isinstance(layer.kernel_initializer, pn.initializers.GlorotUniform)
    assert isinstance(layer.bias_initializer, pn.initializers.Zeros)
    assert pn.layers.Conv1D(4, 5).kernel_size == (5,)
    assert pn.layers.Conv2DTranspose(4, 3).output_padding is None
    assert pn.layers.DepthwiseConv2D(3).depth_multiplier == 1
    assert pn.layers.Convolution2D is pn.layers.Conv2D
    assert pn.layers.SeparableConvolution2D is pn.layers.SeparableConv2D
    assert pn.layers.Convolution1DTranspose is pn.layers.Conv1DTranspose
    # Keras's positional order: filters, kernel_size, strides, padding, data_format, dilation_rate, groups
    layer = pn.layers.Conv2D(4, 2, 2, "same", "channels_first", 1, 2)
    assert (layer.strides, layer.padding, layer.data_format, layer.groups) == ((2, 2), "same",
                                                                              "channels_first", 2)


def test_tall_gram_chunks_the_reduction_exactly(backend):
    """The conv kernel gradient a.T @ b, cut into row chunks for tall inputs, equals the plain product."""
    from portanet.layers._windows import tall_gram
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((53, 4)), rng.standard_normal((53, 3))
    xp = backend.xp
    for chunk in (8, 13, 100):   # 6 chunks + a remainder, 4 chunks + a remainder, no chunking
        got = backend.to_numpy(tall_gram(xp, backend.asarray(a), backend.asarray(b), chunk=chunk))
        np.testing.assert_allclose(got, a.T @ b, rtol=1e-12, atol=1e-12)
