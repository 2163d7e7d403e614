"""Lambda: functions of pn.ops differentiated by the tape (harness, float64 finite
differences), Keras's output_shape / mask / arguments, and saving by registered name only
(never bytecode)."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np
from portanet import ops

L = pn.layers


@pn.saving.register_serializable(package="test_lambda")
def softplus_times(x, factor=1.0):
    return ops.softplus(x) * factor + ops.square(x)


@pn.saving.register_serializable(package="test_lambda")
def weighted_pair(xs):
    return ops.tanh(xs[0]) * xs[1]


@pn.saving.register_serializable(package="test_lambda")
def pair_shape(input_shapes):
    return input_shapes[0]


def test_lambda_harness_single_input(backend):
    layer = run_layer_test(lambda: L.Lambda(softplus_times, arguments={"factor": 3.0}), (4, 3),
                           backend, expected_output_shape=(4, 3), expected_num_weights=0)
    assert layer.get_config()["function"]["registered_name"] == "test_lambda>softplus_times"


def test_lambda_harness_two_inputs_and_callable_output_shape(backend):
    run_layer_test(lambda: L.Lambda(weighted_pair, output_shape=pair_shape), [(3, 2), (3, 2)],
                   backend, expected_output_shape=(3, 2))


def test_lambda_values_and_gradient_by_hand(backend, float64):
    layer = L.Lambda(softplus_times, arguments={"factor": 2.0})
    x = np.array([[0.0, 1.0, -2.0]])
    layer._maybe_build((1, 3))
    y, back, _, _ = layer.run(backend.asarray(x))
    np.testing.assert_allclose(to_np(backend, y), 2 * np.log1p(np.exp(x)) + x ** 2, rtol=1e-12)
    dx = to_np(backend, back(backend.asarray(np.ones((1, 3)))))
    np.testing.assert_allclose(dx, 2 / (1 + np.exp(-x)) + 2 * x, rtol=1e-12)


def test_lambda_output_shape_tuple_inferred_and_training_argument(backend):
    def first_two(x):
        return x[:, :2]
    assert L.Lambda(first_two).compute_output_shape((None, 5)) == (None, 2)
    assert L.Lambda(first_two, output_shape=(2,)).compute_output_shape((7, 5)) == (7, 2)

    def noisy(x, training=None):
        return x + 1.0 if training else x
    layer = L.Lambda(noisy)
    x = np.zeros((2, 2), "float32")
    assert float(np.sum(to_np(backend, layer(x)))) == 0.0
    assert float(np.sum(to_np(backend, layer(x, training=True)))) == 4.0


def test_lambda_mask_function(backend):
    def keep_first(inputs, mask):
        return inputs[:, :, 0] > 0
    layer = L.Lambda(lambda x: x, mask=keep_first)
    assert layer.supports_masking
    m = layer.compute_mask(np.array([[[1.0], [-1.0]]]), None)
    assert to_np(backend, m).tolist() == [[True, False]]
    assert L.Lambda(ops.relu).compute_mask(np.ones((1, 2)), np.ones((1, 2), bool)) is None


def test_lambda_in_a_model_trains_and_saves_by_name(backend, tmp_path):
    pn.utils.set_random_seed(1)
    model = pn.Sequential([pn.Input((3,)), L.Dense(4),
                           L.Lambda(softplus_times, arguments={"factor": 0.5}), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x[:, :1] ** 2).astype("float32")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * first
    path = tmp_path / "lambda.portanet"
    model.save(str(path))
    loaded = pn.load_model(str(path))
    assert loaded.layers[1].function is softplus_times
    assert loaded.layers[1].arguments == {"factor": 0.5}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_lambda_ops_function_round_trip(backend):
    layer = L.Lambda(ops.relu)
    config = layer.get_config()
    assert config["function"] == {"class_name": "function", "config": "relu", "module": "portanet.ops"}
    assert L.Lambda.from_config(config).function is ops.relu


def test_lambda_refuses_anonymous_lambda_and_never_runs_bytecode():
    layer = L.Lambda(lambda x: x * 2)
    with pytest.raises(ValueError, match="anonymous lambda.*register_serializable"):
        layer.get_config()
    keras_config = {"name": "l", "function": {"class_name": "__lambda__", "config": {
        "code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA",
        "defaults": None, "closure": None}}, "arguments": {}}
    with pytest.raises(ValueError, match="never runs saved bytecode"):
        L.Lambda.from_config(keras_config)


def test_lambda_unregistered_function_needs_custom_objects():
    def local_square(x):
        return x * x
    config = L.Lambda(local_square).get_config()
    assert config["function"] == {"class_name": "function", "config": "local_square"}
    with pytest.raises(ValueError, match="unknown function 'local_square'"):
        L.Lambda.from_config(config)
    layer = L.Lambda.from_config(config, custom_objects={"local_square": local_square})
    assert layer.function is local_square
    with pn.saving.custom_object_scope({"local_square": local_square}):
        assert pn.layers.deserialize({"class_name": "Lambda", "config": config}).function is local_square


def test_lambda_bad_arguments():
    with pytest.raises(TypeError, match="function"):
        L.Lambda(3)
    with pytest.raises(TypeError, match="arguments"):
        L.Lambda(ops.relu, arguments=[1])
    with pytest.raises(TypeError, match="output_shape"):
        L.Lambda(ops.relu, output_shape="big")
    with pytest.raises(ValueError, match="arguments"):
        L.Lambda(ops.relu, arguments={"a": object()}).get_config()
