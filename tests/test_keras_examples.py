"""Behaviour that keras-io's examples (keras.io/examples) rely on, checked against values
computed by hand or printed by Keras 3.15.1 (jax backend) on the same inputs."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops


class _MeanSquareEndpoint(pn.layers.Layer):
    """An endpoint layer: its loss is add_loss(mean(x ** 2)); it passes x through."""

    def call(self, x):
        self.add_loss(ops.mean(x ** 2))
        return x


def _endpoint_model():
    inputs = pn.Input((3,))
    outputs = _MeanSquareEndpoint()(pn.layers.Dense(2, kernel_initializer="ones")(inputs))
    model = pn.Model(inputs, outputs)
    model.compile(pn.optimizers.SGD(0.1))       # no loss: the layers add theirs
    return model


def test_fit_and_evaluate_without_targets_when_the_loss_comes_from_add_loss(backend):
    # keras_recipes/endpoint_layer_pattern.py: model.fit(data) with no y.
    # x = ones: y = 3 everywhere, loss 9; d loss/d y = 2y/8 = 0.75, dW = 4 * 0.75 = 3,
    # db = 3; SGD(0.1): W = 0.7, b = -0.3, y = 1.8, loss 3.24 (Keras prints the same).
    model = _endpoint_model()
    x = np.ones((4, 3), "float32")
    assert model.evaluate(x, verbose=0) == pytest.approx(9.0)
    history = model.fit(x, epochs=1, batch_size=4, verbose=0)
    assert history.history["loss"] == [pytest.approx(9.0)]
    np.testing.assert_allclose(model.get_weights()[0], np.full((3, 2), 0.7), rtol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], np.full((2,), -0.3), rtol=1e-6)
    assert model.evaluate(x, verbose=0) == pytest.approx(3.24, rel=1e-6)


def test_targets_stay_required_when_a_loss_is_compiled(backend):
    model = _endpoint_model()
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    x = np.ones((4, 3), "float32")
    with pytest.raises(ValueError, match="fit: x and y are required"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="evaluate: x and y are required"):
        model.evaluate(x, verbose=0)
