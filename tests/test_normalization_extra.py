"""GroupNormalization, RMSNormalization, UnitNormalization: the harness (float64 finite
differences, training step, config round trip, every backend) and Keras's formulas by hand."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np

L = pn.layers


# ---------------------------------------------------------------------------- GroupNormalization
@pytest.mark.parametrize("options,shape", [
    ({"groups": 2}, (3, 4)),
    ({"groups": 2}, (2, 3, 5, 4)),
    ({"groups": -1}, (2, 3, 4)),
    ({"groups": 1, "center": False}, (2, 5, 6)),
    ({"groups": 3, "axis": 1, "scale": False}, (2, 6, 3, 2)),
    ({"groups": 2, "axis": -2}, (2, 3, 4, 5)),
], ids=str)
def test_group_norm_harness(backend, options, shape):
    n = options.get("center", True) + options.get("scale", True)
    run_layer_test(lambda: L.GroupNormalization(**options), shape, backend,
                   expected_output_shape=shape, expected_num_weights=n)


def _group_norm_reference(x, groups, gamma, beta, eps):
    # channels_last: (B, ..., C) -> (B, ..., G, C/G); statistics over all but batch and group
    b, c = x.shape[0], x.shape[-1]
    xg = x.reshape(x.shape[:-1] + (groups, c // groups))
    axes = tuple(range(1, xg.ndim - 2)) + (xg.ndim - 1,)
    mean = xg.mean(axis=axes, keepdims=True)
    var = (xg ** 2).mean(axis=axes, keepdims=True) - mean ** 2
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return y * gamma + beta


def test_group_norm_values_by_hand(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6)) * 3 + 1
    layer = L.GroupNormalization(groups=3, epsilon=1e-3)
    layer.build((None, 3, 6))
    gamma = rng.standard_normal(6).astype("float32")
    beta = rng.standard_normal(6).astype("float32")
    layer.set_weights([gamma, beta])
    assert [v.name for v in layer.weights] == ["gamma", "beta"]
    y = to_np(backend, layer(x.astype("float32")))
    np.testing.assert_allclose(y, _group_norm_reference(x, 3, gamma, beta, 1e-3), rtol=1e-4, atol=1e-5)
    # Hand check of one group: sample 0, group 0 = channels 0, 1 over the 3 steps.
    vals = x[0, :, 0:2]
    mu, var = vals.mean(), vals.var()
    np.testing.assert_allclose(y[0, 1, 1], (x[0, 1, 1] - mu) / np.sqrt(var + 1e-3) * gamma[1] + beta[1],
                               rtol=1e-4)


def test_group_norm_groups_minus_one_is_instance_norm_and_config(backend):
    layer = L.GroupNormalization(groups=-1)
    x = np.arange(24, dtype="float32").reshape(2, 3, 4) ** 1.5
    y = to_np(backend, layer(x))
    ref = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert layer.get_config()["groups"] == 4


def test_group_norm_bad_input():
    with pytest.raises(ValueError, match="groups"):
        L.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="groups"):
        L.GroupNormalization(groups=2.0)
    with pytest.raises(ValueError, match="not a multiple"):
        L.GroupNormalization(groups=3)(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="more than"):
        L.GroupNormalization(groups=8)(np.zeros((2, 4), "float32"))
    with pytest.raises(TypeError, match="axis"):
        L.GroupNormalization(axis=[1, 2])


# ---------------------------------------------------------------------------- RMSNormalization
@pytest.mark.parametrize("options,shape", [
    ({}, (4, 5)),
    ({"epsilon": 1e-2}, (2, 3, 4)),
    ({"axis": [1, 2]}, (2, 3, 4)),
    ({"axis": 1}, (2, 3, 4)),
], ids=str)
def test_rms_norm_harness(backend, options, shape):
    run_layer_test(lambda: L.RMSNormalization(**options), shape, backend,
                   expected_output_shape=shape, expected_num_weights=1)


def test_rms_norm_values_by_hand(backend):
    layer = L.RMSNormalization()
    x = np.array([[3.0, 4.0], [1.0, -1.0]], "float32")
    layer.build((None, 2))
    assert layer.weights[0].name == "scale" and layer.weights[0].shape == (2,)
    np.testing.assert_array_equal(layer.get_weights()[0], [1.0, 1.0])
    layer.set_weights([np.array([2.0, 0.5], "float32")])
    y = to_np(backend, layer(x))
    # rms of [3, 4] = sqrt(12.5), of [1, -1] = 1
    expected = np.array([[3 / np.sqrt(12.5 + 1e-6) * 2, 4 / np.sqrt(12.5 + 1e-6) * 0.5],
                         [1 / np.sqrt(1 + 1e-6) * 2, -1 / np.sqrt(1 + 1e-6) * 0.5]])
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert layer.get_config()["axis"] == [-1] and layer.get_config()["epsilon"] == 1e-6


def test_rms_norm_multi_axis_weight_shape(backend):
    layer = L.RMSNormalization(axis=[2, 1])
    layer(np.ones((2, 3, 4), "float32"))
    assert layer.weights[0].shape == (3, 4) and layer.axis == [1, 2]


# ---------------------------------------------------------------------------- UnitNormalization
@pytest.mark.parametrize("axis,shape", [(-1, (3, 4)), (1, (2, 3, 4)), ([1, 2], (2, 3, 4))], ids=str)
def test_unit_norm_harness(backend, axis, shape):
    run_layer_test(lambda: L.UnitNormalization(axis=axis), shape, backend,
                   expected_output_shape=shape, expected_num_weights=0)


def test_unit_norm_values_by_hand_and_zero_vector(backend, float64):
    layer = L.UnitNormalization()
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]])
    y = to_np(backend, layer(x))
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.0, 0.0], [2 ** -0.5, 2 ** -0.5]], rtol=1e-12)
    np.testing.assert_allclose(np.sum(y[[0, 2]] ** 2, axis=1), 1.0, rtol=1e-12)
    # The zero vector is clamped: its gradient is dy / 1e-12 (finite), as Keras's rsqrt(max(.)).
    _, back, _, _ = layer.run(backend.asarray(x))
    dx = to_np(backend, back(backend.asarray(np.array([[1.0, 0.0], [1e-12, 0.0], [0.0, 0.0]]))))
    np.testing.assert_allclose(dx[0], [0.8 * 0.8 / 5, -0.6 * 0.8 / 5], rtol=1e-12)
    np.testing.assert_allclose(dx[1], [1.0, 0.0], rtol=1e-12)
    assert np.all(np.isfinite(dx))


def test_unit_norm_bad_axis():
    with pytest.raises(TypeError, match="axis"):
        L.UnitNormalization(axis="last")
    with pytest.raises(ValueError, match="out of"):
        L.UnitNormalization(axis=3)(np.ones((2, 3), "float32"))
