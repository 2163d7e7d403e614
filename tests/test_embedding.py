"""Embedding (lookup, scatter-add gradient with duplicate ids, mask_zero) and Masking."""

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward, run_layer_test, to_np

L = pn.layers


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_harness(backend, mask_zero):
    ids = np.array([[1, 2, 2, 0], [3, 1, 1, 1]])      # duplicates accumulate in the gradient
    layer = run_layer_test(lambda: L.Embedding(5, 3, mask_zero=mask_zero), ids.shape, backend,
                           input_data=ids, expected_output_shape=(2, 4, 3), expected_num_weights=1)
    assert layer.embeddings.shape == (5, 3)


def test_embedding_rank1_and_rank3_ids_harness(backend):
    run_layer_test(lambda: L.Embedding(4, 2), (5,), backend, input_data=np.array([0, 3, 3, 1, 2]),
                   expected_output_shape=(5, 2))
    ids = np.arange(12).reshape(2, 3, 2) % 4
    run_layer_test(lambda: L.Embedding(4, 2), ids.shape, backend, input_data=ids,
                   expected_output_shape=(2, 3, 2, 2))


def test_embedding_lookup_and_gradient_values(backend):
    layer = L.Embedding(4, 2)
    layer.build(None)
    table = np.array([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5], [3.0, 3.5]], "float32")
    layer.set_weights([table])
    ids = np.array([[2, 0, 2], [3, 2, 1]])
    y, back = layer_forward(layer, backend, ids)
    np.testing.assert_array_equal(to_np(backend, y), table[ids])
    dy = np.arange(12, dtype="float32").reshape(2, 3, 2)
    layer.embeddings.grad = None
    assert back(backend.asarray(dy)) is None
    expected = np.zeros_like(table)
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 2))
    np.testing.assert_array_equal(to_np(backend, layer.embeddings.grad), expected)
    # Row 2 appears three times: its gradient is the sum of the three rows of dy.
    np.testing.assert_array_equal(expected[2], dy[0, 0] + dy[0, 2] + dy[1, 1])


def test_embedding_float_ids_and_mask(backend):
    layer = L.Embedding(10, 4, mask_zero=True)
    ids = np.array([[3, 0, 7], [0, 0, 1]])
    y = to_np(backend, layer(ids))
    y_float = to_np(backend, layer(ids.astype("float32")))
    np.testing.assert_array_equal(y, y_float)
    mask = to_np(backend, layer.compute_mask(backend.asarray(ids)))
    np.testing.assert_array_equal(mask, ids != 0)
    assert L.Embedding(10, 4).compute_mask(backend.asarray(ids)) is None


def test_embedding_defaults_config_and_initializer():
    layer = L.Embedding(50, 8)
    layer.build(None)
    w = layer.get_weights()[0]
    assert w.shape == (50, 8) and np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.03
    config = layer.get_config()
    assert config["mask_zero"] is False and config["input_dim"] == 50
    again = L.deserialize(L.serialize(L.Embedding(50, 8, mask_zero=True, embeddings_regularizer="l2")))
    assert again.mask_zero and again.get_config()["embeddings_regularizer"] is not None
    with pytest.raises(ValueError, match="input_dim=0"):
        L.Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim=-2"):
        L.Embedding(3, -2)


def test_embedding_model_learns(backend, rng):
    """Label = whether token 1 occurs in the sequence; Embedding + GlobalAverage-free LSTM-free model."""
    ids = rng.integers(1, 6, size=(200, 5))
    y = (ids == 1).any(axis=1).astype("float32")[:, None]
    model = pn.Sequential([pn.Input((5,), dtype="int64"), L.Embedding(6, 4), L.Flatten(),
                           L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, y, epochs=20, batch_size=50, verbose=0)
    assert history.history["accuracy"][-1] >= 0.95


# ---------------------------------------------------------------------------- Masking
def test_masking_harness(backend, rng):
    x = rng.standard_normal((2, 4, 3))
    run_layer_test(lambda: L.Masking(mask_value=7.0), x.shape, backend, input_data=x,
                   expected_output_shape=(2, 4, 3), expected_num_weights=0)


def test_masking_values_mask_and_gradient(backend):
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [-1.0, 3.0]]], "float32")
    layer = L.Masking(mask_value=-1.0)
    y, back = layer_forward(layer, backend, x)
    np.testing.assert_array_equal(to_np(backend, y), [[[1.0, 2.0], [0.0, 0.0], [-1.0, 3.0]]])
    np.testing.assert_array_equal(to_np(backend, layer.compute_mask(backend.asarray(x))),
                                  [[True, False, True]])
    dx = to_np(backend, back(backend.asarray(np.ones_like(x))))
    np.testing.assert_array_equal(dx, [[[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]])
    assert L.Masking().mask_value == 0.0
    assert L.deserialize(L.serialize(layer)).mask_value == -1.0
    with pytest.raises(TypeError, match="mask_value"):
        L.Masking(mask_value="zero")
