import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_harness(backend, activation, use_bias):
    run_layer_test(lambda: pn.layers.Dense(5, activation=activation, use_bias=use_bias),
                   (4, 3), backend, expected_output_shape=(4, 5),
                   expected_num_weights=2 if use_bias else 1)


def test_dense_3d_input(backend):
    run_layer_test(lambda: pn.layers.Dense(2), (2, 3, 4), backend, expected_output_shape=(2, 3, 2))


def test_dense_known_values(backend):
    layer = pn.layers.Dense(2, activation="relu")
    layer.build((None, 3))
    layer.set_weights([np.array([[1., -1.], [2., 0.], [0., 3.]], "float32"), np.array([0.5, -4.], "float32")])
    y = to_np(backend, layer(np.array([[1., 1., 1.], [0., 0., 2.]], "float32")))
    np.testing.assert_allclose(y, [[3.5, 0.0], [0.5, 2.0]])


def test_activation_flatten_reshape_dropout(backend):
    run_layer_test(lambda: pn.layers.Activation("tanh"), (3, 4), backend, expected_output_shape=(3, 4))
    run_layer_test(lambda: pn.layers.Flatten(), (2, 3, 4), backend, expected_output_shape=(2, 12))
    run_layer_test(lambda: pn.layers.Reshape((4, 3)), (2, 3, 4), backend, expected_output_shape=(2, 4, 3))
    run_layer_test(lambda: pn.layers.Reshape((-1, 2)), (2, 3, 4), backend, expected_output_shape=(2, 6, 2))
    run_layer_test(lambda: pn.layers.Dropout(0.5), (4, 6), backend, training=True)


def test_flatten_channels_first(backend):
    x = np.arange(24, dtype="float32").reshape(1, 2, 3, 4)
    y = to_np(backend, pn.layers.Flatten(data_format="channels_first")(x))
    np.testing.assert_array_equal(y[0], np.transpose(x, (0, 2, 3, 1)).reshape(-1))


def test_dropout_statistics(backend):
    layer = pn.layers.Dropout(0.25)
    x = np.ones((200, 50), "float32")
    y = to_np(backend, layer(x, training=True))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(to_np(backend, layer(x)), x)
    noise = to_np(backend, pn.layers.Dropout(0.5, noise_shape=(None, 1))(x, training=True))
    assert all(len(np.unique(row)) == 1 for row in noise)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="units"):
        pn.layers.Dense(0)
    with pytest.raises(ValueError, match="rate"):
        pn.layers.Dropout(1.0)
    with pytest.raises(ValueError, match="unknown activation name 'rellu'.*relu"):
        pn.layers.Dense(3, activation="rellu")
    with pytest.raises(ValueError, match="unknown initializer name 'glorot'"):
        pn.layers.Dense(3, kernel_initializer="glorot")


def test_dense_with_activity_regularizer_harness(backend):
    run_layer_test(lambda: pn.layers.Dense(3, activation="tanh", activity_regularizer=pn.regularizers.L1L2(0.01, 0.02)),
                   (4, 3), backend, expected_output_shape=(4, 3))
