"""What "Introduction to Keras for researchers" uses beyond the layers: ``keras.Variable``
and Keras 3's other top-level classes, Variables assigned to layer attributes, TensorFlow's
``tape.watch(a)``, the losses of an eager call, and a layer whose weights were replaced by
computed tensors (the hypernetwork)."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops
from harness import to_np


def test_keras_variable_signature(backend):
    v = pn.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert v.name.startswith("variable") and v.trainable and v.shape == (2, 2)
    np.testing.assert_array_equal(v.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    ones = pn.Variable(initializer="ones", shape=(3,), dtype="float32", trainable=False, name="w")
    assert ones.name == "w" and not ones.trainable
    np.testing.assert_array_equal(ones.numpy(), [1.0, 1.0, 1.0])
    assert pn.dtype_policies.standardize_dtype(ones.dtype) == "float32"
    zeros = pn.Variable(pn.initializers.Zeros(), (2,))      # Keras's positional shape
    np.testing.assert_array_equal(zeros.numpy(), [0.0, 0.0])
    floats = pn.Variable([1.0, 2.0])                          # Python floats: floatx
    assert pn.dtype_policies.standardize_dtype(floats.dtype) == "float32"
    v.assign_add(np.ones((2, 2)))
    assert float(v[1, 1]) == 5.0
    assert repr(ones) == "<Variable path=w, shape=(3,), dtype=float32, value=[1. 1. 1.]>"
    with pytest.raises(ValueError, match="initializer='ones' needs a shape"):
        pn.Variable("ones")
    with pytest.raises(ValueError, match=r"initial value has shape \(2,\); shape=\(3,\) was given"):
        pn.Variable([1.0, 2.0], shape=(3,))


def test_keras_top_level_classes():
    assert pn.Layer is pn.layers.Layer and pn.InputSpec is pn.layers.InputSpec
    assert pn.Loss is pn.losses.Loss and pn.Metric is pn.metrics.Metric
    assert pn.Optimizer is pn.optimizers.Optimizer and pn.Regularizer is pn.regularizers.Regularizer
    assert pn.Initializer is pn.initializers.Initializer
    assert isinstance(pn.Input((3,)), pn.KerasTensor)


def test_variables_assigned_to_attributes_are_weights(backend):
    class Linear(pn.layers.Layer):
        def __init__(self, units=4, input_dim=2):
            super().__init__()
            self.w = pn.Variable(np.full((input_dim, units), 0.5, "float32"))
            self.b = pn.Variable(np.zeros((units,), "float32"))
            self.total = pn.Variable(np.zeros((units,), "float32"), trainable=False)
            self.w = self.w                                    # no duplicate

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    layer = Linear()
    assert layer.weights == [layer.w, layer.b, layer.total]
    assert layer.trainable_weights == [layer.w, layer.b]
    assert layer.non_trainable_weights == [layer.total]
    x = np.array([[1.0, 2.0]], "float32")
    with pn.GradientTape() as tape:
        loss = ops.sum(layer(x))
    gw, gb = tape.gradient(loss, layer.trainable_weights)
    np.testing.assert_allclose(to_np(backend, gw), [[1.0] * 4, [2.0] * 4])
    np.testing.assert_allclose(to_np(backend, gb), [1.0] * 4)


def test_tape_watch_then_ops_on_the_array_itself(backend, float64):
    # TensorFlow's form: tape.watch(a) returns nothing useful; ops use `a` itself.
    a = backend.asarray(np.array([[3.0, -4.0]]))
    b = backend.asarray(np.array([[4.0, 3.0]]))
    with pn.GradientTape() as tape:
        tape.watch(a)
        c = ops.sqrt(ops.square(a) + ops.square(b))
    np.testing.assert_allclose(to_np(backend, tape.gradient(c, a)), [[3 / 5, -4 / 5]])
    with pn.GradientTape() as tape:          # an unwatched array is still refused
        c = ops.square(b)
    with pytest.raises(TypeError, match="sources must be Variables or watched Tensors"):
        tape.gradient(c, b)


def test_losses_of_an_eager_call_are_arrays(backend):
    class Penalty(pn.layers.Layer):
        def call(self, inputs):
            self.add_loss(0.5 * ops.sum(inputs))
            return inputs

    class Block(pn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.penalty = Penalty()

        def call(self, inputs):
            return self.penalty(inputs * 2.0)

    block = Block()
    block(np.ones((2, 3), "float32"))
    (loss,) = block.losses
    assert backend.is_array(loss) or np.isscalar(loss)
    assert float(loss) == 6.0
    with pn.GradientTape() as tape:          # inside a tape they stay differentiable
        x = tape.watch(backend.asarray(np.ones((2, 3), "float32")))
        block(x)
        total = sum(block.losses)
    np.testing.assert_allclose(to_np(backend, tape.gradient(total, x)), np.ones((2, 3)))
    for _ in range(2):                       # a new step's tape: no accumulation
        with pn.GradientTape() as tape:
            block(np.ones((1, 3), "float32"))
            assert len(block.losses) == 1 and float(pn.ops.tape.value_of(block.losses[0])) == 3.0


def test_weights_replaced_by_computed_tensors(backend, float64):
    # The hypernetwork: a Dense's kernel and bias are set to tensors computed from the
    # trainable weights of another network; gradients reach that network's weights.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    y = rng.standard_normal((2, 2))
    hyper = pn.Sequential([pn.Input((3,)), pn.layers.Dense(8)])
    main = pn.Sequential([pn.layers.Dense(2)])
    for layer in main.layers:
        layer.built = True
    with pn.GradientTape() as tape:
        pred = ops.mean(hyper(x), axis=0)
        main.layers[0].kernel = ops.reshape(pred[:6], (3, 2))
        main.layers[0].bias = pred[6:]
        loss = ops.sum(ops.square(main(x) - y))
    grads = tape.gradient(loss, hyper.trainable_weights)
    # The same computation written with ops only.
    with pn.GradientTape() as tape:
        pred = ops.mean(hyper(x), axis=0)
        out = ops.matmul(backend.asarray(x), ops.reshape(pred[:6], (3, 2))) + pred[6:]
        expected_loss = ops.sum(ops.square(out - y))
    expected = tape.gradient(expected_loss, hyper.trainable_weights)
    np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-12)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(to_np(backend, g), to_np(backend, e), rtol=1e-10)
    assert isinstance(main.layers[0].kernel, pn.ops.tape.Tensor)   # the user's tensor stays
