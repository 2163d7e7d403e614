"""Pooling layers: harness per option combination, hand-computed 'same' padding values
(extra pad at the end; max ignores it, average divides by the real count), first-max
gradient routing on ties, global poolings, shapes against Keras's rules."""

import numpy as np
import pytest

import portanet as pn
from portanet.layers import _windows
from harness import layer_forward, run_layer_test, to_np


def ref_pool(x, pool, strides, padding, mode):
    """Loops over output positions of a channels_last array (Keras semantics)."""
    nd = x.ndim - 2
    spatial = x.shape[1:-1]
    if padding == "same":
        out = [-(-n // s) for n, s in zip(spatial, strides)]
        pads = []
        for n, p, s, o in zip(spatial, pool, strides, out):
            total = max((o - 1) * s + p - n, 0)
            pads.append((total // 2, total - total // 2))
    else:
        out = [(n - p) // s + 1 for n, p, s in zip(spatial, pool, strides)]
        pads = [(0, 0)] * nd
    y = np.zeros((x.shape[0],) + tuple(out) + (x.shape[-1],))
    for pos in np.ndindex(*out):
        idx = []
        for p, s, k, (before, _), n in zip(pos, strides, pool, pads, spatial):
            start = p * s - before
            idx.append(slice(max(start, 0), min(start + k, n)))  # real elements only
        window = x[(slice(None),) + tuple(idx) + (slice(None),)]
        axes = tuple(range(1, nd + 1))
        y[(slice(None),) + pos + (slice(None),)] = (window.max(axis=axes) if mode == "max"
                                                     else window.mean(axis=axes))
    return y


POOL_CASES = [
    dict(),
    dict(pool_size=3, strides=2),
    dict(pool_size=(2, 3), strides=(1, 2), padding="same"),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=2, padding="same", data_format="channels_first"),
]


@pytest.mark.parametrize("cls", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("kwargs", POOL_CASES, ids=lambda k: str(sorted(k.items())))
def test_pooling2d_harness(backend, cls, kwargs):
    shape = (2, 3, 5, 7) if kwargs.get("data_format") == "channels_first" else (2, 5, 7, 3)
    run_layer_test(lambda: getattr(pn.layers, cls)(**kwargs), shape, backend,
                   expected_num_weights=0)


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs", [dict(), dict(pool_size=3, strides=1), dict(pool_size=2, padding="same"),
                                    dict(pool_size=4, strides=3, padding="same"),
                                    dict(data_format="channels_first")],
                         ids=lambda k: str(sorted(k.items())))
def test_pooling1d_harness(backend, cls, kwargs):
    shape = (2, 3, 7) if kwargs.get("data_format") == "channels_first" else (2, 7, 3)
    run_layer_test(lambda: getattr(pn.layers, cls)(**kwargs), shape, backend)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2), (1, 1), "same"), ((2, 2), (2, 2), "same"), ((3, 3), (2, 2), "same"),
    ((4, 2), (3, 1), "same"), ((3, 2), (2, 3), "valid"), ((2, 2), (2, 2), "valid"),
])
def test_pooling2d_matches_loops(backend, float64, mode, pool, strides, padding):
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 2)) - 3.0  # negative: pads never win
    cls = pn.layers.MaxPooling2D if mode == "max" else pn.layers.AveragePooling2D
    y = to_np(backend, cls(pool, strides=strides, padding=padding)(x))
    np.testing.assert_allclose(y, ref_pool(x, pool, strides, padding, mode), atol=1e-12)


def test_same_pooling_hand_values(backend):
    """2x2 pool, stride 1, 'same' on a 3x3 image: one pad row below, one pad column right."""
    x = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    mx = to_np(backend, pn.layers.MaxPooling2D(2, strides=1, padding="same")(x))[0, :, :, 0]
    np.testing.assert_array_equal(mx, [[5, 6, 6], [8, 9, 9], [8, 9, 9]])
    av = to_np(backend, pn.layers.AveragePooling2D(2, strides=1, padding="same")(x))[0, :, :, 0]
    np.testing.assert_allclose(av, [[3, 4, 4.5], [6, 7, 7.5], [7.5, 8.5, 9]])
    # Negative values: the padding (-inf for max) never wins.
    mx = to_np(backend, pn.layers.MaxPooling2D(2, strides=1, padding="same")(-x))[0, :, :, 0]
    np.testing.assert_array_equal(mx, [[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]])
    # 1-D, pool 3 stride 2 'same' on 4 steps: out 2, total pad 1, at the end.
    s = np.array([1.0, 2.0, 3.0, 4.0], "float32").reshape(1, 4, 1)
    av = to_np(backend, pn.layers.AveragePooling1D(3, strides=2, padding="same")(s))[0, :, 0]
    np.testing.assert_allclose(av, [2.0, 3.5])
    mx = to_np(backend, pn.layers.MaxPooling1D(3, strides=2, padding="same")(s))[0, :, 0]
    np.testing.assert_array_equal(mx, [3.0, 4.0])


def test_max_pooling_routes_ties_to_the_first_max(backend):
    x = np.array([[0, 0, 1, 3], [0, 0, 3, 2], [5, 5, 4, 4], [5, 5, 4, 4]], "float32")
    layer = pn.layers.MaxPooling2D(2)
    y, back = layer_forward(layer, backend, x.reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(to_np(backend, y)[0, :, :, 0], [[0, 3], [5, 4]])
    dx = to_np(backend, back(backend.asarray(np.array([[1, 2], [3, 4]], "float32").reshape(1, 2, 2, 1))))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 0, 2], [0, 0, 0, 0],
                                                   [3, 0, 4, 0], [0, 0, 0, 0]])
    # Overlapping windows accumulate on a shared maximum.
    layer = pn.layers.MaxPooling1D(3, strides=1)
    y, back = layer_forward(layer, backend, np.array([1, 9, 2, 0], "float32").reshape(1, 4, 1))
    dx = to_np(backend, back(backend.asarray(np.ones((1, 2, 1), "float32"))))
    np.testing.assert_array_equal(dx[0, :, 0], [0, 2, 0, 0])


def test_average_pooling_gradient_divides_by_real_count(backend):
    layer = pn.layers.AveragePooling1D(2, strides=2, padding="same")
    y, back = layer_forward(layer, backend, np.array([2, 4, 6], "float32").reshape(1, 3, 1))
    np.testing.assert_allclose(to_np(backend, y)[0, :, 0], [3, 6])
    dx = to_np(backend, back(backend.asarray(np.ones((1, 2, 1), "float32"))))
    np.testing.assert_allclose(dx[0, :, 0], [0.5, 0.5, 1.0])


@pytest.mark.parametrize("kwargs,in_shape,expected", [
    (dict(), (None, 7, 6, 3), (None, 3, 3, 3)),
    (dict(pool_size=3, strides=2), (None, 7, 6, 3), (None, 3, 2, 3)),
    (dict(pool_size=3, strides=2, padding="same"), (None, 7, 6, 3), (None, 4, 3, 3)),
    (dict(pool_size=(2, 4), strides=1, padding="same"), (None, 7, 6, 3), (None, 7, 6, 3)),
    (dict(data_format="channels_first"), (None, 3, 7, 6), (None, 3, 3, 3)),
])
def test_pooling_shapes_follow_keras(backend, kwargs, in_shape, expected):
    for cls in (pn.layers.MaxPooling2D, pn.layers.AveragePooling2D):
        layer = cls(**kwargs)
        assert layer.compute_output_shape(in_shape) == expected
        assert to_np(backend, layer(np.zeros((1,) + in_shape[1:], "float32"))).shape == (1,) + expected[1:]
    assert pn.layers.MaxPooling1D(3, strides=2, padding="same").compute_output_shape((None, 9, 2)) == (None, 5, 2)
    assert pn.layers.AveragePooling1D().compute_output_shape((None, 9, 2)) == (None, 4, 2)


def test_pooling_defaults_and_aliases():
    layer = pn.layers.MaxPooling2D()
    assert (layer.pool_size, layer.strides, layer.padding, layer.data_format) == ((2, 2), (2, 2), "valid", "channels_last")
    assert pn.layers.AveragePooling1D(3).strides == (3,)
    assert pn.layers.MaxPool2D is pn.layers.MaxPooling2D
    assert pn.layers.GlobalAvgPool1D is pn.layers.GlobalAveragePooling1D
    with pytest.raises(ValueError, match="padding='causal'"):
        pn.layers.MaxPooling1D(padding="causal")
    with pytest.raises(ValueError, match="pool_size=0"):
        pn.layers.MaxPooling2D(0)
    with pytest.raises(ValueError, match="keepdims"):
        pn.layers.GlobalMaxPooling2D(keepdims="yes")
    with pytest.raises(ValueError, match="smaller than pool_size"):
        pn.layers.MaxPooling2D(4).build((None, 3, 8, 1))


def test_pooling_fast_path_equals_portable(float64):
    x = np.random.default_rng(3).standard_normal((2, 6, 7, 3))
    with pn.use_backend("numpy") as nb:
        for layer in (pn.layers.MaxPooling2D(3, strides=2, padding="same"),
                      pn.layers.AveragePooling2D(2, strides=1, padding="same")):
            outs = []
            for fast in (True, False):
                with _windows.fast_windows(fast):
                    y, back = layer_forward(layer, nb, x)
                    outs.append((y, back(np.cos(np.arange(y.size)).reshape(y.shape))))
            np.testing.assert_allclose(outs[0][0], outs[1][0], atol=1e-12)
            np.testing.assert_allclose(outs[0][1], outs[1][1], atol=1e-12)


@pytest.mark.parametrize("make,shape", [
    (lambda: pn.layers.MaxPooling2D(2), (2, 6, 8, 3)),
    (lambda: pn.layers.MaxPooling2D(2), (2, 7, 5, 3)),  # the last row/column is in no window
    (lambda: pn.layers.MaxPooling2D((3, 2), padding="same"), (2, 7, 5, 2)),
    (lambda: pn.layers.MaxPooling2D(2, data_format="channels_first"), (2, 3, 6, 5)),
    (lambda: pn.layers.MaxPooling1D(3), (2, 10, 4)),
])
def test_max_pooling_tiled_fast_path_equals_portable(make, shape, monkeypatch):
    """NumPy's one-pass first-max gradient for non-overlapping windows against the portable
    per-offset path, on inputs full of ties (small integers, zeros as after a relu).
    (The compiled "max_pool2d", which would take the 2-D cases whole, is switched off
    here; tests/test_fast_paths_cpu.py compares it with both.)"""
    x = np.maximum(np.random.default_rng(4).integers(-2, 3, size=shape), 0).astype("float32")
    with pn.use_backend("numpy") as nb:
        monkeypatch.setenv("PORTANET_FUSED",
                           ",".join(n for n in nb.fused_paths() if n != "max_pool2d"))
        assert nb.fused("pool_first_max") is not None
        calls = []
        original = nb.pool_first_max

        def counting(*args):
            calls.append(1)
            return original(*args)
        layer = make()
        outs = []
        for fast in (True, False):
            with _windows.fast_windows(fast):
                nb.pool_first_max = counting
                nb.set_fused(None)
                y, back = layer_forward(layer, nb, x)
                dy = (np.arange(y.size).reshape(y.shape) % 7 + 1).astype("float32")
                dx = back(dy)
                del nb.pool_first_max
                nb.set_fused(None)
            outs.append((y, dx))
            assert len(calls) == (1 if fast else 0)
            calls.clear()
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
        assert outs[0][1].dtype == np.float32
        # Each window passes its gradient to exactly one input.
        np.testing.assert_allclose(np.sum(outs[0][1]), np.sum(dy))


# --------------------------------------------------------------------------- global
@pytest.mark.parametrize("cls", ["GlobalMaxPooling1D", "GlobalAveragePooling1D",
                                 "GlobalMaxPooling2D", "GlobalAveragePooling2D"])
@pytest.mark.parametrize("kwargs", [dict(), dict(keepdims=True), dict(data_format="channels_first"),
                                    dict(data_format="channels_first", keepdims=True)],
                         ids=lambda k: str(sorted(k.items())))
def test_global_pooling_harness(backend, cls, kwargs):
    two_d = cls.endswith("2D")
    shape = (2, 4, 3, 5) if two_d else (2, 4, 5)
    layer = run_layer_test(lambda: getattr(pn.layers, cls)(**kwargs), shape, backend)
    channels = shape[1] if kwargs.get("data_format") == "channels_first" else shape[-1]
    out = layer.compute_output_shape(shape)
    if not kwargs.get("keepdims"):
        assert out == (2, channels)
    elif kwargs.get("data_format") == "channels_first":
        assert out == (2, channels) + (1,) * (2 if two_d else 1)
    else:
        assert out == (2,) + (1,) * (2 if two_d else 1) + (channels,)


def test_global_pooling_values(backend):
    x = np.arange(24, dtype="float32").reshape(2, 3, 4) * np.array([1, -1, 1, -1], "float32")
    np.testing.assert_allclose(to_np(backend, pn.layers.GlobalAveragePooling1D()(x)), x.mean(axis=1))
    np.testing.assert_allclose(to_np(backend, pn.layers.GlobalMaxPooling1D()(x)), x.max(axis=1))
    np.testing.assert_allclose(
        to_np(backend, pn.layers.GlobalMaxPooling1D(data_format="channels_first")(x)), x.max(axis=2))
    img = x.reshape(2, 3, 2, 2)
    np.testing.assert_allclose(to_np(backend, pn.layers.GlobalAveragePooling2D(keepdims=True)(img)),
                               img.mean(axis=(1, 2), keepdims=True))
    # Ties: the first maximum (in row-major position order) gets the whole gradient.
    layer = pn.layers.GlobalMaxPooling2D()
    y, back = layer_forward(layer, backend, np.ones((1, 2, 2, 1), "float32"))
    dx = to_np(backend, back(backend.asarray(np.full((1, 1), 5.0, "float32"))))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5, 0], [0, 0]])


def test_global_average_pooling1d_respects_mask(backend):
    x = np.array([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]], "float32")
    mask = np.array([[True, True, False], [True, True, True]])
    layer = pn.layers.GlobalAveragePooling1D()
    y, back = layer_forward(layer, backend, x, mask=backend.asarray(mask))
    np.testing.assert_allclose(to_np(backend, y), [[2.0], [4.0]])
    assert layer.compute_mask(x, backend.asarray(mask)) is None
    dx = to_np(backend, back(backend.asarray(np.ones((2, 1), "float32"))))
    np.testing.assert_allclose(dx[..., 0], [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
