"""What the Keras 3 guides "Training & evaluation with the built-in methods",
"Serialization & saving" and friends rely on: layers called with several positional
tensors (``LogisticEndpoint()(targets, logits)``), fit/evaluate without targets on a model
whose loss comes from ``add_loss``, and Keras's binding of positional ``training``."""

import numpy as np
import pytest

import portanet as pn
from harness import to_np as _to_np
from portanet import ops

L = pn.layers


def to_np(a):
    return _to_np(pn.backend.current(), a)


class LogisticEndpoint(L.Layer):
    """The guide's layer: call(targets, logits) adds a binary cross-entropy with add_loss."""

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = pn.losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        return ops.softmax(logits)


def _bce_logits(t, z):
    # Keras's BinaryCrossentropy(from_logits=True): mean over all entries.
    return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _endpoint_model():
    inputs = pn.Input(shape=(3,), name="inputs")
    targets = pn.Input(shape=(10,), name="targets")
    logits = L.Dense(10, name="dense")(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    return pn.Model(inputs=[inputs, targets], outputs=predictions)


def test_layer_called_with_two_positional_tensors_trains_on_its_add_loss(backend):
    rng = np.random.default_rng(0)
    x = rng.random((3, 3)).astype("float32")
    t = rng.random((3, 10)).astype("float32")
    model = _endpoint_model()
    assert model.output.shape == (None, 10)
    kernel, bias = (to_np(w) for w in model.get_layer("dense").weights)
    z = x @ kernel + bias
    np.testing.assert_allclose(model.predict({"inputs": x, "targets": t}, verbose=0),
                               _softmax(z), rtol=1e-5, atol=1e-6)
    model.compile(optimizer=pn.optimizers.SGD(0.5))     # no loss: add_loss is the loss
    history = model.fit({"inputs": x, "targets": t}, batch_size=3, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], _bce_logits(t, z), rtol=1e-5)
    # d loss / d z = (sigmoid(z) - t) / z.size; the kernel moves by -lr * x^T dz.
    dz = (1 / (1 + np.exp(-z)) - t) / z.size
    np.testing.assert_allclose(to_np(model.get_layer("dense").weights[0]),
                               kernel - 0.5 * x.T @ dz, rtol=1e-4, atol=1e-6)
    # evaluate without y as well (the loss is the model's own).
    kernel, bias = (to_np(w) for w in model.get_layer("dense").weights)
    got = model.evaluate({"inputs": x, "targets": t}, verbose=0)
    np.testing.assert_allclose(got, _bce_logits(t, x @ kernel + bias), rtol=1e-5)


def test_two_positional_tensors_in_the_config_and_eagerly(backend):
    model = _endpoint_model()
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "predictions")
    # Keras writes each positional tensor as its own argument.
    args = entry["inbound_nodes"][0]["args"]
    assert [a["config"]["keras_history"][0] for a in args] == ["targets", "dense"]
    rebuilt = pn.Model.from_config(config, custom_objects={"LogisticEndpoint": LogisticEndpoint})
    rebuilt.set_weights(model.get_weights())
    x = np.ones((2, 3), "float32")
    t = np.zeros((2, 10), "float32")
    np.testing.assert_allclose(rebuilt.predict([x, t], verbose=0),
                               model.predict([x, t], verbose=0), rtol=1e-6)
    # Eager call on arrays: softmax of the logits given second.
    layer = LogisticEndpoint()
    logits = np.array([[0.0, np.log(3.0)]], "float32")
    np.testing.assert_allclose(to_np(layer(np.zeros((1, 2), "float32"), logits)),
                               [[0.25, 0.75]], rtol=1e-6)


class Doubler(L.Layer):
    def call(self, inputs, training=None):
        return inputs * 2.0 if training else inputs


def test_only_tensors_are_positional_as_keras(backend):
    # Keras 3.15: layer(x, True) raises "Only input tensors may be passed as positional
    # arguments"; training goes by keyword.
    x = np.array([[1.0, -3.0]], "float32")
    np.testing.assert_allclose(to_np(Doubler()(x, training=True)), [[2.0, -6.0]])
    np.testing.assert_allclose(to_np(Doubler()(x)), [[1.0, -3.0]])
    with pytest.raises(ValueError, match="Only input tensors may be passed as positional"):
        Doubler()(x, True)
    with pytest.raises(ValueError, match="Only input tensors may be passed as positional"):
        L.Dense(2)(x, False)
    with pytest.raises(TypeError, match=r"call\(\) takes 2 positional arguments; got 3"):
        Doubler()(x, x, x)
    with pytest.raises(TypeError, match="multiple values for argument 'training'"):
        Doubler()(x, x, training=False)


def test_fit_without_y_still_refused_when_compiled_with_a_loss(backend):
    model = pn.Sequential([pn.Input((2,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x and y are required"):
        model.fit(np.ones((4, 2)), verbose=0)
    with pytest.raises(ValueError, match="x and y are required"):
        model.evaluate(np.ones((4, 2)), verbose=0)


def test_sequential_built_once_takes_one_functional_name_as_keras(backend):
    # Keras 3.15 builds a Sequential given its layers once (one internal functional graph,
    # one "functional" name); the names below are Keras's for the same sequence.
    def functional_name():
        i = pn.Input((3,))
        return pn.Model(i, L.Dense(2)(i)).name

    names = [functional_name()]
    pn.Sequential([pn.Input((3,)), L.Dense(3, activation="relu"), L.Dense(3)])
    names.append(functional_name())
    inner = pn.Sequential([pn.Input((3,)), L.Dense(3)])
    pn.Sequential([pn.Input((3,)), inner, L.Dense(3)])
    names.append(functional_name())
    grown = pn.Sequential([pn.Input((3,))])
    grown.add(L.Dense(3))
    grown.add(L.Dense(3))      # add() rebuilds each time, as Keras's add(rebuild=True)
    names.append(functional_name())
    assert names == ["functional", "functional_2", "functional_5", "functional_8"]


def test_model_input_and_output_shape_as_keras(backend):
    # Keras 3.15's values for the same models.
    a, b = pn.Input((3,), name="a"), pn.Input((4,), name="b")
    model = pn.Model([a, b], [L.Dense(2)(a), L.Dense(5)(b)])
    assert model.input_shape == [(None, 3), (None, 4)]
    assert model.output_shape == [(None, 2), (None, 5)]
    model = pn.Model({"a": a, "b": b}, {"o": L.Dense(2)(L.concatenate([a, b]))})
    assert model.input_shape == [(None, 3), (None, 4)] and model.output_shape == (None, 2)
    seq = pn.Sequential([pn.Input((3,)), L.Dense(2)])
    assert seq.input_shape == (None, 3) and seq.output_shape == (None, 2)
    lazy = pn.Sequential([L.Dense(2)])
    with pytest.raises(AttributeError, match="has no defined input shape yet"):
        lazy.input_shape
    lazy.build((None, 7))
    assert lazy.input_shape == (None, 7) and lazy.output_shape == (None, 2)
