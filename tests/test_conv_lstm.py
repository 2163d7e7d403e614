"""ConvLSTM1D/2D/3D (issue 16): Keras 3.15.1's outputs and gradients (stored in
tests/keras_reference/layers_a.npz, float64), the shared harness on every backend, and
the recurrent options (initial state, go_backwards, masks, stateful, dropout)."""

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward, run_layer_test, to_np
from test_layers_a import CASES, compare_with_keras

CONV_LSTM = sorted(n for n in CASES if n.startswith("convlstm"))


@pytest.mark.parametrize("name", CONV_LSTM)
def test_matches_stored_keras(backend, name):
    compare_with_keras(backend, name)


@pytest.mark.parametrize("make, shape, expected", [
    (lambda: pn.layers.ConvLSTM1D(2, 2, return_sequences=True), (2, 3, 4, 2), (2, 3, 3, 2)),
    (lambda: pn.layers.ConvLSTM2D(2, 2, padding="same", return_state=True), (1, 2, 3, 3, 1),
     [(1, 3, 3, 2)] * 3),
    (lambda: pn.layers.ConvLSTM3D(1, 2, data_format="channels_first"), (1, 2, 1, 3, 2, 2),
     (1, 1, 2, 1, 1)),
])
def test_harness(backend, make, shape, expected):
    run_layer_test(make, shape, backend, expected_output_shape=expected, expected_num_weights=3)


def test_weights_layout_config_and_forget_bias(backend, float64):
    layer = pn.layers.ConvLSTM2D(3, (2, 3), padding="same")
    layer(np.zeros((1, 2, 4, 5, 2)))
    assert [(v.path, v.shape) for v in layer.weights] == [
        ("conv_lstm2d/conv_lstm_cell/kernel", (2, 3, 2, 12)),
        ("conv_lstm2d/conv_lstm_cell/recurrent_kernel", (2, 3, 3, 12)),
        ("conv_lstm2d/conv_lstm_cell/bias", (12,))]
    np.testing.assert_array_equal(layer.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    config = layer.get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                "recurrent_initializer", "bias_initializer", "unit_forget_bias", "dropout",
                "recurrent_dropout", "seed", "return_sequences", "return_state",
                "go_backwards", "stateful"):
        assert key in config, key
    assert "cell" not in config
    again = pn.layers.ConvLSTM2D.from_config(config)
    assert again.kernel_size == (2, 3) and again.padding == "same"


def test_initial_state_go_backwards_and_mask(backend, float64):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 2))
    h0 = rng.standard_normal((2, 5, 3))
    c0 = rng.standard_normal((2, 5, 3))
    layer = pn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True, return_state=True)
    y, h, c = layer(x, initial_state=[h0, c0])
    # Step by step with the cell gives the same numbers.
    cell = layer.cell
    states = [backend.asarray(h0), backend.asarray(c0)]
    for t in range(4):
        out, states = cell.call(backend.asarray(x[:, t]), states)
        np.testing.assert_allclose(to_np(backend, y[:, t, ...]), to_np(backend, out), rtol=1e-12)
    np.testing.assert_allclose(to_np(backend, c), to_np(backend, states[1]), rtol=1e-12)
    # go_backwards: the reversed sequence, outputs in processing order (Keras).
    back = pn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True, go_backwards=True)
    back(x)
    back.set_weights(layer.get_weights())
    fwd = pn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True)
    fwd(x)
    fwd.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_np(backend, back(x)), to_np(backend, fwd(x[:, ::-1].copy())),
                               rtol=1e-12)
    # A masked step keeps the state and repeats the previous output.
    mask = np.array([[True, True, False, True], [True, False, True, True]])
    seq = pn.layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True)
    seq(x)
    seq.set_weights(layer.get_weights())
    y, _ = layer_forward(seq, backend, x, mask=backend.asarray(mask))
    y = to_np(backend, y)
    np.testing.assert_allclose(y[0, 2], y[0, 1], rtol=1e-12)
    np.testing.assert_allclose(y[1, 1], y[1, 0], rtol=1e-12)
    kept = np.concatenate([x[:1, [0, 1, 3]]], axis=0)
    np.testing.assert_allclose(y[0, 3], to_np(backend, seq(kept))[0, 2], rtol=1e-12)


def test_stateful_keeps_states_between_calls(backend, float64):
    x = np.random.default_rng(4).standard_normal((2, 4, 3, 3, 1))
    whole = pn.layers.ConvLSTM2D(2, 2, padding="same")
    whole(x)
    half = pn.layers.ConvLSTM2D(2, 2, padding="same", stateful=True)
    half(x)
    half.set_weights(whole.get_weights())
    half.reset_states()
    half(x[:, :2])
    second = half(x[:, 2:])
    np.testing.assert_allclose(to_np(backend, second), to_np(backend, whole(x)), rtol=1e-12)
    half.reset_states()
    np.testing.assert_allclose(to_np(backend, half(x[:, 2:])),
                               to_np(backend, whole(x[:, 2:])), rtol=1e-12)
    with pytest.raises(ValueError, match="batch"):
        half(x[:1])


def test_dropout_only_in_training(backend, float64):
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 2))
    layer = pn.layers.ConvLSTM1D(2, 2, dropout=0.5, recurrent_dropout=0.5, seed=1)
    a = to_np(backend, layer(x))
    b = to_np(backend, layer(x))
    np.testing.assert_array_equal(a, b)
    pn.utils.set_random_seed(1)
    c = to_np(backend, layer(x, training=True))
    assert not np.allclose(a, c)
    # Gradients through the dropped sequence: the harness's finite differences at a fixed seed.
    run_layer_test(lambda: pn.layers.ConvLSTM1D(2, 2, dropout=0.3, recurrent_dropout=0.3),
                   (2, 3, 4, 2), backend, training=True, training_step=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        pn.layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        pn.layers.ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="dilation_rate"):
        pn.layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="padding"):
        pn.layers.ConvLSTM1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="expected ndim=5, found ndim=4"):   # Keras's spec
        pn.layers.ConvLSTM2D(2, 3)(np.zeros((2, 3, 4, 1)))
