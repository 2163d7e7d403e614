"""keras.applications' VGG16 and VGG19 against Keras 3.15.1 (parameter counts, layer names,
input and output shapes printed by Keras for the same arguments); a forward pass on every
backend; Keras's argument errors."""

import numpy as np
import pytest

import portanet as pn
from harness import to_np


def test_vgg19_without_top_matches_keras(backend):
    model = pn.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert model.name == "vgg19" and model.count_params() == 20024384 and len(model.layers) == 22
    assert [l.name for l in model.layers][-4:] == ["block5_conv2", "block5_conv3", "block5_conv4",
                                                    "block5_pool"]
    assert model.output.shape == (None, 1, 1, 512) and model.input.shape == (None, 32, 32, 3)
    y = to_np(backend, model(np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")))
    assert y.shape == (2, 1, 1, 512) and np.all(y >= 0.0)
    # The functional guide's feature extraction: every layer's output.
    features = pn.Model(inputs=model.input, outputs=[layer.output for layer in model.layers])
    assert len(features(np.zeros((1, 32, 32, 3), "float32"))) == 22


def test_vgg16_pooling_and_top_match_keras(backend):
    pooled = pn.applications.VGG16(weights=None, include_top=False, pooling="avg")
    assert pooled.count_params() == 14714688 and len(pooled.layers) == 20
    assert pooled.input.shape == (None, None, None, 3) and pooled.output.shape == (None, 512)
    top = pn.applications.vgg16.VGG16(weights=None, include_top=True, input_shape=(32, 32, 3),
                                      classes=10, classifier_activation=None)
    assert top.count_params() == 33638218 and len(top.layers) == 23
    assert [l.name for l in top.layers][-4:] == ["flatten", "fc1", "fc2", "predictions"]
    assert top.output.shape == (None, 10)


def test_vgg_argument_errors():
    with pytest.raises(ValueError, match="you should specify a static `input_shape`"):
        pn.applications.VGG19(weights=None, include_top=True, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="Input size must be at least 32x32"):
        pn.applications.VGG19(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        pn.applications.VGG16(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="pooling='sum'"):
        pn.applications.VGG16(weights=None, include_top=False, pooling="sum")
