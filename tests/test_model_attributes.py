"""Keras's symbolic attributes: ``model.inputs``/``outputs``/``input``/``output`` and
``layer.input``/``layer.output``, which feature-extraction models are built from."""

import numpy as np
import pytest

import portanet as pn


def _seq():
    return pn.Sequential([
        pn.Input((6,)),
        pn.layers.Dense(5, activation="relu", name="first"),
        pn.layers.Dense(4, activation="tanh", name="middle"),
        pn.layers.Dense(3, name="last"),
    ])


def test_sequential_feature_extractor_gives_every_layers_output(backend, rng):
    model = _seq()
    extractor = pn.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    x = rng.standard_normal((7, 6)).astype("float32")
    features = extractor.predict(x, verbose=0)
    assert [f.shape for f in features] == [(7, 5), (7, 4), (7, 3)]
    # Each feature is that layer applied to the previous one, with the same weights.
    h = x
    for layer, f in zip(model.layers, features):
        h = backend.to_numpy(layer(h))
        np.testing.assert_allclose(f, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features[-1], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_one_intermediate_layer_and_singular_attributes(backend, rng):
    model = _seq()
    assert model.input is model.inputs[0]
    assert model.output is model.outputs[0]
    assert model.get_layer("first").input is model.input
    sub = pn.Model(inputs=model.inputs, outputs=model.get_layer(name="middle").output)
    x = rng.standard_normal((2, 6)).astype("float32")
    assert sub.predict(x, verbose=0).shape == (2, 4)


def test_rebuilding_by_add_keeps_one_node_per_layer(backend):
    model = pn.Sequential([pn.Input((3,))])
    first = pn.layers.Dense(2)
    model.add(first)
    model.add(pn.layers.Dense(4))
    model.add(pn.layers.Dense(1))
    assert len(first._inbound_nodes) == 1
    assert model.output.shape == (None, 1)


def test_functional_attributes_and_errors(backend):
    inputs = pn.Input((4,), name="x")
    hidden = pn.layers.Dense(3, name="h")(inputs)
    model = pn.Model(inputs, hidden)
    assert model.inputs == [inputs] and model.outputs == [hidden]
    assert model.get_layer("h").output is hidden
    with pytest.raises(ValueError, match="never been called"):
        pn.layers.Dense(2, name="lonely").output
    unbuilt = pn.Sequential([pn.layers.Dense(2)])
    with pytest.raises(ValueError, match="no defined inputs"):
        unbuilt.inputs
