"""Masks as Keras's "Understanding masking & padding" guide uses them: the symbolic
``_keras_mask`` of a functional tensor, a ``call(inputs, mask=None)`` layer that needs its
mask while the model is built, and masks passing through Dense."""

import numpy as np

import portanet as pn
from portanet import ops
from harness import to_np


class TemporalSoftmax(pn.layers.Layer):
    """The guide's layer: a softmax over the time axis that only counts unmasked steps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        assert mask is not None
        broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
        inputs_exp = ops.exp(inputs) * broadcast_float_mask
        inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=1, keepdims=True)
        return inputs_exp / inputs_sum


class MyActivation(pn.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.relu(inputs)


def test_symbolic_tensors_carry_their_mask(backend):
    inputs = pn.Input(shape=(None,), dtype="int32")
    assert inputs._keras_mask is None
    x = pn.layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)(inputs)
    mask = x._keras_mask
    assert mask.shape == (None, None) and mask.dtype == "bool"
    x = MyActivation()(x)                         # supports_masking: the mask passes on
    assert x._keras_mask.shape == (None, None)
    assert pn.layers.LSTM(3)(x)._keras_mask is None   # the last output only: no mask
    seq = pn.layers.LSTM(3, return_sequences=True)(x)
    assert seq._keras_mask.shape == (None, None)
    no_mask = pn.layers.Embedding(input_dim=50, output_dim=4)(inputs)
    assert no_mask._keras_mask is None
    masked = pn.layers.Masking()(pn.Input(shape=(5, 3)))
    assert masked._keras_mask.shape == (None, 5) and masked._keras_mask.dtype == "bool"


def test_a_call_layer_gets_its_mask_when_the_model_is_built_and_run(backend):
    inputs = pn.Input(shape=(None,), dtype="int32")
    emb = pn.layers.Embedding(input_dim=10, output_dim=2, mask_zero=True)
    x = emb(inputs)
    x = pn.layers.Dense(1, use_bias=False, kernel_initializer="ones")(x)   # keeps the mask
    assert x._keras_mask.shape == (None, None)
    outputs = TemporalSoftmax()(x)
    assert outputs.shape == (None, None, 1)
    model = pn.Model(inputs, outputs)
    ids = np.array([[3, 1, 0, 0], [2, 5, 7, 0]])
    got = to_np(backend, model(ids))[..., 0]
    table = to_np(backend, emb.embeddings)
    score = np.exp(table[ids].sum(-1)) * (ids != 0)     # Dense(1, ones): sum of the vector
    np.testing.assert_allclose(got, score / score.sum(1, keepdims=True), rtol=1e-6)
    assert got[0, 2] == 0.0 and got[1, 3] == 0.0


def test_dense_passes_the_mask_on_to_a_recurrent_layer(backend):
    # Keras's Dense supports masking: the LSTM after it skips the padded steps, so a
    # padded sequence gives the output of the unpadded one.
    inputs = pn.Input(shape=(None,), dtype="int32")
    x = pn.layers.Embedding(input_dim=20, output_dim=4, mask_zero=True)(inputs)
    x = pn.layers.Dense(3)(x)
    outputs = pn.layers.LSTM(2)(x)
    model = pn.Model(inputs, outputs)
    padded = to_np(backend, model(np.array([[4, 9, 0, 0]])))
    unpadded = to_np(backend, model(np.array([[4, 9]])))
    np.testing.assert_allclose(padded, unpadded, rtol=1e-6)
    full = to_np(backend, model(np.array([[4, 9, 3, 3]])))
    assert not np.allclose(full, unpadded)


class TemporalSplit(pn.layers.Layer):
    """The guide's layer: splits the time axis in two, and the mask with it."""

    def call(self, inputs):
        return ops.split(inputs, 2, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.split(mask, 2, axis=1)


def test_eager_calls_pass_masks_on(backend):
    # As Keras's eager calls: the mask an Embedding(mask_zero=True) or Masking output
    # carries reaches the next layer called on it.
    emb = pn.layers.Embedding(input_dim=20, output_dim=4, mask_zero=True)
    lstm = pn.layers.LSTM(2)
    ids = np.array([[4, 9, 0, 0]])
    x = emb(ids)
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(x)),
                                  [[True, True, False, False]])
    padded = to_np(backend, lstm(x))
    np.testing.assert_allclose(padded, to_np(backend, lstm(emb(np.array([[4, 9]])))), rtol=1e-6)
    unmasked = to_np(backend, lstm(backend.asarray(np.array(to_np(backend, x)))))  # a copy: no mask
    assert not np.allclose(unmasked, padded)
    steps = np.array([[[1.0], [0.0], [2.0], [0.0]]], "float32")
    first, second = TemporalSplit()(pn.layers.Masking()(steps))
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(first)), [[True, False]])
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(second)), [[True, False]])
    assert pn.layers.base.get_keras_mask(pn.layers.Dense(1)(steps)) is None


def test_keras_tensor_prints_as_keras():
    # Keras 3.15.1 prints keras.Input((3,), name="x") this way.
    assert repr(pn.Input((3,), name="x")) == \
        "<KerasTensor shape=(None, 3), dtype=float32, sparse=False, ragged=False, name=x>"
    mask = pn.layers.Embedding(5, 2, mask_zero=True)(pn.Input((None,), dtype="int32"))._keras_mask
    assert repr(mask).startswith("<KerasTensor shape=(None, None), dtype=bool, sparse=False, ragged=False")


def test_eager_outputs_carry_keras_mask_where_the_array_type_allows(backend):
    # The guide prints embedding(padded_inputs)._keras_mask. NumPy outputs carry it (a view
    # that prints like the output; what NumPy computes from it is a plain ndarray);
    # array-api-strict arrays take no attributes, so their masks live in a table.
    emb = pn.layers.Embedding(input_dim=10, output_dim=2, mask_zero=True)
    out = emb(np.array([[3, 0]]))
    expected = [[True, False]]
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(out)), expected)
    if backend.name == "numpy":
        np.testing.assert_array_equal(out._keras_mask, expected)
        assert repr(out) == repr(np.asarray(out)) and type(out + 1.0) is np.ndarray
        assert isinstance(out, np.ndarray) and not hasattr(np.asarray(out), "_keras_mask")
        assert getattr(out[:, :1], "_keras_mask") is None
