"""BatchNormalization and LayerNormalization: harness for every option, Keras's formulas by
hand (biased variance, moving statistics without Bessel), training vs inference."""

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward, numeric_grad, run_layer_test, to_np

L = pn.layers


# ---------------------------------------------------------------------------- BatchNormalization
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False},
                                     {"center": False, "scale": False}],
                         ids=lambda o: ",".join(o) or "default")
def test_batchnorm_harness(backend, training, options):
    n_weights = 2 + (options.get("center", True)) + (options.get("scale", True))
    run_layer_test(lambda: L.BatchNormalization(**options), (6, 4), backend, training=training,
                   expected_output_shape=(6, 4), expected_num_weights=n_weights,
                   training_step=bool(options.get("center", True) or options.get("scale", True)))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_channels_first_and_3d_harness(backend, training):
    run_layer_test(lambda: L.BatchNormalization(axis=1, momentum=0.9), (3, 2, 4, 2), backend,
                   training=training, expected_output_shape=(3, 2, 4, 2))
    run_layer_test(lambda: L.BatchNormalization(), (3, 4, 2), backend, training=training)


def test_batchnorm_training_values_and_moving_update_by_hand(backend):
    layer = L.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]], "float32")
    layer.build((None, 2))
    gamma = np.array([2.0, 0.5], "float32")
    beta = np.array([0.1, -1.0], "float32")
    layer.set_weights([gamma, beta, np.array([0.5, 1.0], "float32"), np.array([2.0, 3.0], "float32")])
    y = to_np(backend, layer(x, training=True))
    mean = np.array([3.0, 30.0])
    var = np.array([(4 + 0 + 4) / 3, (400 + 100 + 900) / 3])      # biased: divided by 3
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-5)
    mm, mv = layer.get_weights()[2:]
    np.testing.assert_allclose(mm, [0.5 * 0.9 + 3.0 * 0.1, 1.0 * 0.9 + 30.0 * 0.1], rtol=1e-6)
    # No Bessel correction: var·(1 − momentum), not var·n/(n−1).
    np.testing.assert_allclose(mv, [2.0 * 0.9 + 8 / 3 * 0.1, 3.0 * 0.9 + 1400 / 3 * 0.1], rtol=1e-6)


def test_batchnorm_inference_uses_moving_statistics(backend):
    layer = L.BatchNormalization(epsilon=0.01)
    layer.build((None, 2))
    layer.set_weights([np.ones(2, "float32"), np.zeros(2, "float32"),
                       np.array([1.0, -2.0], "float32"), np.array([4.0, 0.25], "float32")])
    x = np.array([[3.0, 0.0], [1.0, -2.0]], "float32")
    expected = (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 0.01)
    np.testing.assert_allclose(to_np(backend, layer(x)), expected, rtol=1e-6)
    # Inference does not touch the moving statistics.
    np.testing.assert_array_equal(layer.get_weights()[2], [1.0, -2.0])
    # A frozen layer uses the moving statistics even when training (Keras 3).
    layer.trainable = False
    np.testing.assert_allclose(to_np(backend, layer(x, training=True)), expected, rtol=1e-6)
    np.testing.assert_array_equal(layer.get_weights()[2], [1.0, -2.0])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_batchnorm_defaults_and_weight_order():
    layer = L.BatchNormalization()
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center, layer.scale) == (-1, 0.99, 1e-3, True, True)
    layer.build((None, 5, 3))
    assert [v.name for v in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [v.trainable for v in layer.weights] == [True, True, False, False]
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(3))
    config = layer.get_config()
    again = L.BatchNormalization.from_config(config)
    assert again.get_config() == config


def test_batchnorm_masked_statistics(backend, float64, rng):
    """With a (batch, time) mask, training statistics use only the unmasked positions."""
    x = rng.standard_normal((2, 3, 2))
    mask = np.array([[True, True, False], [True, False, False]])
    layer = L.BatchNormalization(momentum=0.0)
    layer_forward(layer, backend, x)
    y, back = layer_forward(layer, backend, x, training=True, mask=backend.asarray(mask))
    sel = x[mask]
    mean = sel.sum(0) / (len(sel) + 1e-7)
    var = ((sel - mean) ** 2).sum(0) / (len(sel) + 1e-7)
    np.testing.assert_allclose(to_np(backend, y), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-9)
    np.testing.assert_allclose(layer.get_weights()[2], mean, rtol=1e-9)
    # The gradient of that computation, against central differences.
    r = rng.standard_normal(x.shape)
    for v in layer.weights:
        v.grad = None
    y, back = layer_forward(layer, backend, x, training=True, mask=backend.asarray(mask))
    dx = to_np(backend, back(backend.asarray(r)))

    def loss():
        out, _ = layer_forward(layer, backend, x, training=True, mask=backend.asarray(mask))
        return float(np.sum(to_np(backend, out) * r))
    idx = list(np.ndindex(x.shape))
    np.testing.assert_allclose(dx[tuple(np.array(idx).T)], numeric_grad(loss, x, idx), rtol=1e-5,
                               atol=1e-8)


@pytest.mark.filterwarnings("ignore:fit. the inputs are far from standardized")
def test_batchnorm_in_a_model_learns_and_updates_statistics(backend, rng):
    x = (rng.standard_normal((64, 3)) * [1.0, 5.0, 0.1] + [2.0, -3.0, 10.0]).astype("float32")
    y = (x[:, :1] - 2.0 > 0).astype("float32")
    model = pn.Sequential([pn.Input((3,)), L.BatchNormalization(momentum=0.5), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    mm, mv = model.layers[0].get_weights()[2:]
    np.testing.assert_allclose(mm, x.mean(0), rtol=1e-3, atol=1e-3)
    # Keras's E[x²]-μ² in float32 loses digits when |μ| >> σ (column 2: μ=10, σ²=0.011):
    # allow that cancellation error (~|μ|²·2⁻²³ per update) on top of the relative tolerance.
    np.testing.assert_allclose(mv, x.var(0), rtol=1e-3, atol=1e-4)
    assert history.history["accuracy"][-1] >= 0.95


def test_batchnorm_bad_arguments():
    with pytest.raises(ValueError, match="momentum=1.5"):
        L.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon=0"):
        L.BatchNormalization(epsilon=0)
    with pytest.raises(TypeError, match="axis="):
        L.BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        L.BatchNormalization(axis=3).build((None, 4))


# ---------------------------------------------------------------------------- LayerNormalization
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}, {"rms_scaling": True},
                                     {"axis": [1, 2]}, {"axis": 1}, {"axis": [2, 1]},
                                     {"axis": [-1, 1], "rms_scaling": True}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_layernorm_harness(backend, options):
    run_layer_test(lambda: L.LayerNormalization(**options), (3, 4, 2), backend,
                   expected_output_shape=(3, 4, 2))


def test_layernorm_values_by_hand(backend):
    layer = L.LayerNormalization(epsilon=1e-3)
    layer.build((None, 4))
    layer.set_weights([np.array([1.0, 2.0, 1.0, 0.5], "float32"), np.array([0.0, 0.0, 1.0, 0.0], "float32")])
    x = np.array([[1.0, 2.0, 3.0, 6.0]], "float32")
    mean, var = 3.0, (4 + 1 + 0 + 9) / 4
    expected = (x - mean) / np.sqrt(var + 1e-3) * [1.0, 2.0, 1.0, 0.5] + [0.0, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(to_np(backend, layer(x)), expected, rtol=1e-6)


def test_layernorm_multi_axis_and_rms_values(backend, float64, rng):
    x = rng.standard_normal((2, 3, 4))
    layer = L.LayerNormalization(axis=[1, 2], center=False, scale=False)
    y = to_np(backend, layer_forward(layer, backend, x)[0])
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    assert layer.weights == []
    rms = L.LayerNormalization(rms_scaling=True)
    y = to_np(backend, layer_forward(rms, backend, x)[0])
    # Keras 3.15's rms_scaling divides by sqrt(variance + epsilon), not by the RMS.
    np.testing.assert_allclose(y, x / np.sqrt(x.var(-1, keepdims=True) + 1e-3), rtol=1e-10)
    assert [v.name for v in rms.weights] == ["gamma"]
    listed = L.LayerNormalization(axis=[2, 1])
    layer_forward(listed, backend, x)
    assert listed.gamma.shape == (3, 4) and listed.axis == [1, 2]


def test_layernorm_bad_arguments():
    with pytest.raises(TypeError, match="axis="):
        L.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="epsilon=-1"):
        L.LayerNormalization(epsilon=-1)
    with pytest.raises(ValueError, match="names an axis twice"):
        L.LayerNormalization(axis=[1, -1]).build((None, 3))


def _det(shape, phase):
    n = int(np.prod(shape))
    return (0.6 * np.sin(0.7 * np.arange(n) + phase)).reshape(shape)


def test_layernorm_values_computed_by_keras(backend, float64):
    """Keras 3.15.1 (torch, float64): axis=[-1, 1] gives weights of shape (3, 2) read in memory
    order, and rms_scaling scales by the variance."""
    x = _det((2, 2, 3), 0.1) * 3
    expected = {
        "axis": [[[0.6172336550, 2.2745783211, 2.5439317594], [1.3531798035, 0.1912338820, -0.1342327469]],
                 [[-0.0572286881, -0.5310266311, 0.0176949237], [0.7935352429, 1.0818884728, 1.1655855271]]],
        "rms": [[[0.4001972185, 3.0478296351, 3.7339496188], [2.3776738714, 0.7457318423, -1.2152542048]],
                [[-7.4913733689, -8.3105426170, -4.2048506795], [0.4747443266, 3.1471490982, 3.7981926679]]],
    }
    for key, layer in [("axis", L.LayerNormalization(axis=[-1, 1])), ("rms", L.LayerNormalization(rms_scaling=True))]:
        layer_forward(layer, backend, x)
        layer.set_weights([_det(w.shape, 1 + i) + 1 for i, w in enumerate(layer.get_weights())])
        y = layer_forward(layer, backend, x)[0]
        np.testing.assert_allclose(to_np(backend, y), expected[key], atol=1e-9)
    assert L.LayerNormalization(axis=[-1, 1]).get_config()["axis"] == [-1, 1]
