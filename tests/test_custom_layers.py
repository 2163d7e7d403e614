"""Keras-style custom code: call() layers, GradientTape, custom losses and metrics."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops


class CallDense(pn.layers.Layer):
    """Dense written with call() and ops."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        y = inputs @ self.kernel + self.bias
        return ops.relu(y) if self.activation == "relu" else y

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "activation": self.activation})
        return config


class CallConv2D(pn.layers.Layer):
    """Conv2D written with call() and ops.conv."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.padding = strides, padding

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.kernel_size, self.kernel_size, input_shape[-1],
                                             self.filters), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.relu(ops.conv(inputs, self.kernel, strides=self.strides,
                                 padding=self.padding) + self.bias)


def _train(model, x, y, loss="mse", epochs=3):
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss=loss)
    h = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, shuffle=False)
    return h.history["loss"]


def test_call_dense_trains_like_dense(backend, float64):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)), rng.normal(size=(32, 2))
    custom = pn.Sequential([pn.Input((5,)), CallDense(8, "relu"), CallDense(2)])
    builtin = pn.Sequential([pn.Input((5,)), pn.layers.Dense(8, activation="relu"),
                             pn.layers.Dense(2)])
    builtin.set_weights(custom.get_weights())
    assert custom.layers[0].compute_output_shape((None, 5)) == (None, 8)
    h1, h2 = _train(custom, x, y), _train(builtin, x, y)
    assert h1[-1] < h1[0]
    np.testing.assert_allclose(h1, h2, rtol=1e-10)
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_call_conv2d_trains_like_conv2d(backend, float64):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 6, 6, 2)), rng.normal(size=(16, 3))
    custom = pn.Sequential([pn.Input((6, 6, 2)), CallConv2D(3, 3, strides=2, padding="same"),
                            pn.layers.Flatten(), pn.layers.Dense(3)])
    builtin = pn.Sequential([pn.Input((6, 6, 2)),
                             pn.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu"),
                             pn.layers.Flatten(), pn.layers.Dense(3)])
    assert custom.layers[0].compute_output_shape((None, 6, 6, 2)) == (None, 3, 3, 3)
    builtin.set_weights(custom.get_weights())
    h1, h2 = _train(custom, x, y), _train(builtin, x, y)
    assert h1[-1] < h1[0]
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_gradient_tape_custom_loop_matches_fit_gradients(backend, float64):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(6, activation="tanh"), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="mse")
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    fit_grads = [(a - b) / 0.1 for a, b in zip(w0, model.get_weights())]
    model.set_weights(w0)
    losses = []
    for step in range(5):
        with pn.GradientTape() as tape:
            pred = model(x, training=True)
            loss = ops.mean(ops.square(pred - y))
        grads = tape.gradient(loss, model.trainable_weights)
        if step == 0:
            for g, e in zip(grads, fit_grads):
                np.testing.assert_allclose(backend.to_numpy(g), e, rtol=1e-9, atol=1e-12)
        # The old optimizer.apply(variables) form (reads .grad), which every branch keeps;
        # Keras's apply(grads, variables) arrives with the optimizer branch.
        for v, g in zip(model.trainable_weights, grads):
            v.grad = g
        model.optimizer.apply(model.trainable_weights)
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_gradient_tape_with_a_loss_object_and_watched_tensor(backend, float64):
    x = backend.from_numpy(np.array([[1.0, -2.0, 0.5]]))
    with pn.GradientTape() as tape:
        t = tape.watch(x)
        loss = pn.losses.MeanSquaredError()(np.zeros((1, 3)), t * 2.0)
    (g,) = tape.gradient(loss, [t])
    # d/dx mean((2x)^2) = 8x/3
    np.testing.assert_allclose(backend.to_numpy(g), 8 * np.array([[1.0, -2.0, 0.5]]) / 3)


def test_add_weight_forms_and_sublayer_tracking(backend):
    class Block(pn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.scale = self.add_weight(shape=(3,), initializer="ones", trainable=False)
            self.dense = pn.layers.Dense(3)
            self.stack = [CallDense(3), CallDense(2)]
            self.named = {"head": pn.layers.Dense(1)}

        def call(self, inputs, training=None):
            h = self.dense(inputs) * self.scale
            for layer in self.stack:
                h = layer(h)
            return self.named["head"](h)

    block = Block()
    out = block(np.ones((2, 4), dtype="float32"))
    assert tuple(out.shape) == (2, 1)
    names = [v.name for v in block.weights]
    assert names == ["variable", "kernel", "bias", "kernel", "bias", "kernel", "bias", "kernel", "bias"]
    assert len(block.trainable_weights) == 8 and len(block.non_trainable_weights) == 1
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 9
    layer = pn.layers.Layer()
    v = layer.add_weight("w", (2, 2), "zeros")            # portanet's positional form
    assert v.name == "w" and v.shape == (2, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shap'"):
        layer.add_weight(shap=(2,))


def test_frozen_call_layer_does_not_move_in_fit(backend, float64):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    first = CallDense(4)
    model = pn.Sequential([pn.Input((3,)), first, CallDense(1)])
    first.trainable = False
    before = first.get_weights()
    after_head = model.layers[1].get_weights()
    _train(model, x, y, epochs=1)
    for a, b in zip(before, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(after_head[0], model.layers[1].get_weights()[0])


def test_add_loss_joins_the_objective(backend, float64):
    class Penalized(CallDense):
        def call(self, inputs):
            y = super().call(inputs)
            self.add_loss(0.5 * ops.sum(ops.square(self.kernel)))
            return y

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    layer = Penalized(1)
    model = pn.Sequential([pn.Input((3,)), layer])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="mse")
    k, b = model.get_weights()
    expected = np.mean((x @ k + b - y) ** 2) + 0.5 * np.sum(k ** 2)
    assert layer.losses == []          # the build-time probe leaves none behind
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-10)
    assert len(layer.losses) == 1      # those of the last call
    model.train_on_batch(x, y)
    grad_k = 2 * x.T @ (x @ k + b - y) / 8 + k
    np.testing.assert_allclose(model.get_weights()[0], k - 0.1 * grad_k, rtol=1e-10)


def test_output_shape_inference_errors_name_the_layer(backend):
    class Broken(pn.layers.Layer):
        def call(self, inputs):
            return ops.reshape(inputs, (7, 7, 7))

    class NotATensor(pn.layers.Layer):
        def call(self, inputs):
            return "hello"

    with pytest.raises(ValueError, match="output shape of layer 'broken'"):
        pn.Sequential([pn.Input((3,)), Broken(name="broken")])
    with pytest.raises(TypeError, match="call\\(\\) returned str"):
        pn.Sequential([pn.Input((3,)), NotATensor()])


def test_converting_a_traced_tensor_to_numpy_says_gradients_cannot_flow(backend):
    class Leaky(pn.layers.Layer):
        def call(self, inputs):
            return ops.convert_to_tensor(ops.convert_to_numpy(inputs) * 2)

    class Floaty(pn.layers.Layer):
        def call(self, inputs):
            return inputs * float(ops.sum(inputs))

    for cls in (Leaky, Floaty):
        with pytest.raises(TypeError, match="gradients cannot flow"):
            pn.Sequential([pn.Input((3,)), cls()])
    with pn.GradientTape() as tape:
        t = tape.watch(backend.from_numpy(np.ones(3, dtype="float32")))
        with pytest.raises(TypeError, match="gradients cannot flow"):
            np.asarray(t * 2.0)
    assert float(ops.sum(t * 2.0)) == 6.0      # allowed once the tape has stopped


def test_op_errors_name_the_op_shapes_and_dtypes(backend):
    a = ops.ones((2, 3))
    b = ops.ones((4, 5))
    with pytest.raises(ValueError, match=r"ops\.matmul: .*shape=\(2, 3\) dtype=float32; shape=\(4, 5\)"):
        ops.matmul(a, b)
    with pytest.raises(ValueError, match=r"ops\.add: .*shape=\(2, 3\).*shape=\(4, 5\)"):
        ops.add(a, b)


def test_custom_loss_function_and_loss_subclass_train_like_builtins(backend, float64):
    def my_mse(y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=-1)

    class MyHuber(pn.losses.Loss):
        def __init__(self, delta=1.0, **kwargs):
            super().__init__(**kwargs)
            self.delta = delta

        def call(self, y_true, y_pred):
            e = ops.abs(y_pred - y_true)
            quad = 0.5 * e * e
            return ops.mean(ops.where(e <= self.delta, quad, self.delta * e - 0.5 * self.delta ** 2),
                            axis=-1)

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(24, 3)), 3 * rng.normal(size=(24, 1))
    for custom, builtin in ((my_mse, "mse"), (MyHuber(), "huber")):
        results = []
        for loss in (custom, builtin):
            pn.utils.set_random_seed(0)
            m = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
            results.append((_train(m, x, y, loss=loss), m.get_weights()))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
        for a, b in zip(results[0][1], results[1][1]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    sw = np.array([1.0, 0.0, 2.0])
    yt, yp = np.zeros((3, 1)), np.array([[0.5], [3.0], [2.0]])
    # Keras reduction: Σ w·ℓ / N with ℓ = [0.125, 2.5, 1.5].
    value = MyHuber()(backend.from_numpy(yt), backend.from_numpy(yp), backend.from_numpy(sw))
    np.testing.assert_allclose(float(value), (0.125 + 2 * 1.5) / 3)


def test_custom_metric_with_add_variable(backend):
    class TruePositives(pn.metrics.Metric):
        def __init__(self, name="tp", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = ops.logical_and(ops.cast(y_true, "bool"), ops.greater(y_pred, 0.5))
            self.tp.assign_add(ops.sum(ops.cast(hit, self.dtype)))

        def result(self):
            return self.tp

    m = TruePositives()
    m.update_state(backend.from_numpy(np.array([1, 1, 0, 1])), backend.from_numpy(np.array([0.9, 0.2, 0.8, 0.7])))
    assert float(m.result()) == 2.0
    m.update_state(backend.from_numpy(np.array([1])), backend.from_numpy(np.array([0.6])))
    assert float(m.result()) == 3.0
    m.reset_state()
    assert float(m.result()) == 0.0 and [v.name for v in m.variables] == ["tp"]
    x = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    model = pn.Sequential([pn.Input((1,)), pn.layers.Dense(1, activation="sigmoid",
                                                             kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[TruePositives()])
    logs = model.evaluate(x, np.array([[1.0], [1.0], [0.0], [0.0]]), verbose=0, return_dict=True)
    assert logs["tp"] == 1.0


def test_call_cell_forward_follows_the_rnn_cell_contract(backend, float64):
    class MinimalCell(pn.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent = self.add_weight(shape=(self.units, self.units), name="recurrent")

        def call(self, inputs, states, training=None):
            h = ops.tanh(inputs @ self.kernel + states[0] @ self.recurrent)
            return h, [h]

    cell = MinimalCell(3)
    cell._maybe_build((None, 2))
    rng = np.random.default_rng(6)
    x, h0 = backend.from_numpy(rng.normal(size=(4, 2))), backend.from_numpy(rng.normal(size=(4, 3)))
    (out, new_states), backward = cell.forward(x, [h0], training=True)
    k, r = cell.get_weights()
    expected = np.tanh(backend.to_numpy(x) @ k + backend.to_numpy(h0) @ r)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    d_out = backend.from_numpy(np.ones((4, 3)))
    dx, dstates = backward(d_out, [None])
    dz = 1 - expected ** 2
    np.testing.assert_allclose(backend.to_numpy(dx), dz @ k.T, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(dstates[0]), dz @ r.T, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(cell.kernel.grad), backend.to_numpy(x).T @ dz, rtol=1e-12)


def test_custom_layer_config_round_trip_and_registration(backend, tmp_path):
    @pn.saving.register_serializable(package="tests")
    class Scaled(CallDense):
        pass

    model = pn.Sequential([pn.Input((3,)), Scaled(2, name="scaled")])
    path = tmp_path / "m.portanet"
    model.save(str(path))
    loaded = pn.load_model(str(path))
    assert type(loaded.layers[0]).__name__ == "Scaled" and loaded.layers[0].units == 2
    x = np.ones((2, 3), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_ops_outside_a_trace_return_plain_arrays(backend):
    x = ops.ones((2, 2))
    y = ops.relu(ops.matmul(x, x) - 1.0)
    assert backend.is_array(y)
    assert float(ops.sum(y)) == 4.0
    assert len(ops.ALL) >= 180


def test_a_call_returning_its_variable_gives_back_the_variable(backend):
    # Keras's subclassing guide: ComputeSum.call returns self.total, and `y = my_sum(x)`
    # is that Variable (the guide prints y.numpy()), holding the running sum.
    class ComputeSum(pn.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x)
    assert y is my_sum.total
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0])
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    # A computed output stays an array; in a list, only the Variable is given back.

    class Both(ComputeSum):
        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return [self.total, self.total * 2.0]

    both = Both(2)
    first, second = both(x)
    assert first is both.total and backend.is_array(second)
    np.testing.assert_array_equal(backend.to_numpy(second), [4.0, 4.0])
    assert backend.is_array(CallDense(2)(np.ones((1, 3), dtype="float32")))


def test_gradient_tape_through_a_model_mixing_call_and_builtin_layers(backend, float64):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    model = pn.Sequential([pn.Input((3,)), CallDense(4, "relu"), pn.layers.Dense(1)])
    w0 = model.get_weights()

    def loss_of(weights):
        model.set_weights(weights)
        return float(np.mean((model.predict(x, verbose=0) - y) ** 2))

    with pn.GradientTape() as tape:
        loss = ops.mean(ops.square(model(x) - y))
    grads = [backend.to_numpy(g) for g in tape.gradient(loss, model.trainable_weights)]
    assert all(v.grad is None for v in model.trainable_weights)   # gradient() changes nothing
    for i in range(len(w0)):
        numeric = np.zeros_like(w0[i])
        for idx in np.ndindex(w0[i].shape):
            plus, minus = [w.copy() for w in w0], [w.copy() for w in w0]
            plus[i][idx] += 1e-6
            minus[i][idx] -= 1e-6
            numeric[idx] = (loss_of(plus) - loss_of(minus)) / 2e-6
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-9)


def test_a_call_layer_reading_the_model_input_skips_its_input_gradient_exactly(backend, float64,
                                                                              monkeypatch):
    """The training step's unused-input-gradient shortcut (training/fast_paths.py) takes a
    call() layer fed by the model's input: the step marks it (and clears the mark after),
    and the weights it trains to are those of the step without the shortcut."""
    from portanet.training import fast_paths

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(24, 5)), rng.normal(size=(24, 2))

    def trained(skip):
        pn.utils.set_random_seed(7)
        model = pn.Sequential([pn.Input((5,)), CallDense(8, "relu"), CallDense(2)])
        marks = []
        original = fast_paths.input_grad_skipper

        def spy(m):
            layer = original(m) if skip else None
            marks.append(layer)
            return layer
        monkeypatch.setattr(fast_paths, "input_grad_skipper", spy)
        _train(model, x, y, epochs=2)
        monkeypatch.setattr(fast_paths, "input_grad_skipper", original)
        return model, marks

    fast, marks = trained(True)
    assert marks and all(layer is fast.layers[0] for layer in marks)
    assert fast.layers[0].__dict__["_skip_input_grad"] is False
    slow, slow_marks = trained(False)
    assert slow_marks and all(layer is None for layer in slow_marks)
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
