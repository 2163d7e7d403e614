"""What the Keras 3 guide "Save, serialize, and export models" relies on: a custom
activation function with no registered gradient, custom layers whose get_config holds
layers and Keras objects (serialized as Keras's serialize_dict), ``module`` None for
classes defined in ``__main__``, and Keras's layer repr. Expected dicts are Keras 3.15's
own output for the same objects."""

import numpy as np
import pytest

import portanet as pn
from harness import to_np as _to_np
from portanet import ops

L = pn.layers


def to_np(a):
    return _to_np(pn.backend.current(), a)


def test_dense_with_a_plain_python_activation_trains(backend):
    # The guide's custom_fn (x**2) registered for saving but with no gradient: the tape
    # differentiates it. One SGD step on mse, checked by hand.
    def square(x):
        return x ** 2

    x = np.array([[1.0, 2.0]], "float32")
    t = np.array([[3.0]], "float32")
    model = pn.Sequential([pn.Input((2,)), L.Dense(1, activation=square,
                                                   kernel_initializer="ones",
                                                   bias_initializer="zeros")])
    model.compile(optimizer=pn.optimizers.SGD(0.01), loss="mse")
    np.testing.assert_allclose(model.predict(x, verbose=0), [[9.0]])
    model.fit(x, t, epochs=1, verbose=0)
    # z = 3, y = 9, dL/dy = 2 (y - t) = 12, dy/dz = 2z = 6 -> dL/dz = 72; dW = x^T 72.
    np.testing.assert_allclose(to_np(model.layers[0].weights[0]),
                               [[1 - 0.01 * 72], [1 - 0.01 * 144]], rtol=1e-6)
    np.testing.assert_allclose(to_np(model.layers[0].weights[1]), [-0.72], rtol=1e-6)


@pn.saving.register_keras_serializable(package="MyLayers", name="KernelMultT")
class MyDense(L.Layer):
    def __init__(self, units, *, kernel_regularizer=None, nested_model=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = units
        self.kernel_regularizer = kernel_regularizer
        self.nested_model = nested_model

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.hidden_units, "kernel_regularizer": self.kernel_regularizer,
                       "nested_model": self.nested_model})
        return config

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.hidden_units),
                                      regularizer=self.kernel_regularizer, initializer="ones")

    def call(self, inputs):
        return ops.matmul(inputs, self.kernel)


_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


def test_objects_in_a_custom_get_config_are_serialized_as_keras(backend):
    inner = MyDense(units=16, kernel_regularizer=pn.regularizers.L1L2(l1=1e-5, l2=1e-4),
                    name="inner")
    outer = MyDense(units=64, nested_model=inner, name="outer")
    config = pn.layers.serialize(outer)
    assert config == {
        "module": "test_keras_guides_saving", "class_name": "MyDense",
        "config": {"name": "outer", "trainable": True, "dtype": _DTYPE, "units": 64,
                   "kernel_regularizer": None,
                   "nested_model": {
                       "module": "test_keras_guides_saving", "class_name": "MyDense",
                       "config": {"name": "inner", "trainable": True, "dtype": _DTYPE,
                                  "units": 16,
                                  "kernel_regularizer": {
                                      "module": "keras.regularizers", "class_name": "L1L2",
                                      "config": {"l1": 1e-05, "l2": 0.0001},
                                      "registered_name": None},
                                  "nested_model": None},
                       "registered_name": "MyLayers>KernelMultT"}},
        "registered_name": "MyLayers>KernelMultT"}
    assert pn.saving.serialize_keras_object(outer) == config
    # A class defined in __main__ is written with module None (Keras 3 does the same).
    MyDense.__module__ = "__main__"
    try:
        assert pn.layers.serialize(inner)["module"] is None
    finally:
        MyDense.__module__ = __name__


@pn.saving.register_keras_serializable(package="ComplexModelsT")
class CustomModel(L.Layer):
    """The guide's layer holding two layers; from_config deserializes them."""

    def __init__(self, first_layer, second_layer=None, **kwargs):
        super().__init__(**kwargs)
        self.first_layer = first_layer
        self.second_layer = second_layer if second_layer is not None else L.Dense(8)

    def get_config(self):
        config = super().get_config()
        config.update({"first_layer": self.first_layer, "second_layer": self.second_layer})
        return config

    @classmethod
    def from_config(cls, config):
        config["first_layer"] = pn.layers.deserialize(config["first_layer"])
        config["second_layer"] = pn.layers.deserialize(config["second_layer"])
        return cls(**config)

    def call(self, inputs):
        return self.first_layer(self.second_layer(inputs))


def test_functional_model_with_layers_in_a_custom_config_round_trips(backend):
    inputs = pn.Input((32,))
    outputs = CustomModel(first_layer=MyDense(units=16, name="first"))(inputs)
    model = pn.Model(inputs, outputs)
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["class_name"] == "CustomModel")
    assert entry["config"]["first_layer"]["class_name"] == "MyDense"
    assert entry["config"]["second_layer"]["config"]["units"] == 8
    new_model = pn.Model.from_config(config)
    assert new_model.output.shape == (None, 16)
    new_model.set_weights(model.get_weights())
    x = np.linspace(-1, 1, 64, dtype="float32").reshape(2, 32)
    np.testing.assert_allclose(new_model.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_layer_repr_is_keras(backend):
    layer = L.Dense(3, name="d3")
    assert repr(layer) == "<Dense name=d3, built=False>"
    layer.build((None, 2))
    assert str(layer) == "<Dense name=d3, built=True>"


def small_square_sum_loss(y_true, y_pred):
    loss = ops.square(y_pred - y_true)
    loss = loss / 10.0
    return ops.sum(loss, axis=1)


def test_a_custom_loss_function_gets_labels_of_any_shape_as_keras(backend):
    # Keras checks nothing about a user's loss: labels (4,) against outputs (4, 4)
    # broadcast inside the function (the customizing-saving guide's small_square_sum_loss).
    rng = np.random.default_rng(3)
    x = rng.random((4, 8)).astype("float32")
    y = rng.random((4,)).astype("float32")
    model = pn.Sequential([pn.Input((8,)), L.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss=small_square_sum_loss)
    p = model.predict(x, verbose=0)
    expected = np.mean(np.sum((p - y) ** 2 / 10.0, axis=1))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)

    class CustomMSE(pn.losses.Loss):
        def call(self, y_true, y_pred):
            return ops.mean(ops.square(y_pred - y_true), axis=-1)

    model.compile(optimizer="sgd", loss=CustomMSE())
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                               np.mean(np.mean((p - y) ** 2, axis=1)), rtol=1e-5)
    # A built-in loss still refuses labels that cannot match its output.
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"targets of shape \(4, 3\) do not match"):
        model.evaluate(x, np.ones((4, 3)), verbose=0)


@pn.saving.register_keras_serializable(package="gb_test")
def gb_square_sum_loss(y_true, y_pred):
    return ops.sum(ops.square(y_pred - y_true), axis=1)


@pn.saving.register_keras_serializable(package="gb_test")
def gb_mean_pred(y_true, y_pred):
    return ops.mean(y_pred)


@pn.saving.register_keras_serializable(package="gb_test")
class ModelWithCustomCompile(pn.Model):
    """The guide's model: compile(optimizer, loss_fn, metrics) and its own compile config."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = L.Dense(3, activation="relu")

    def call(self, inputs):
        return self.dense1(inputs)

    def compile(self, optimizer, loss_fn, metrics):
        super().compile(optimizer=optimizer, loss=loss_fn, metrics=metrics)
        self.model_optimizer, self.loss_fn, self.loss_metrics = optimizer, loss_fn, metrics

    def get_compile_config(self):
        return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn,
                "metric": self.loss_metrics}

    def compile_from_config(self, config):
        self.compile(optimizer=pn.utils.deserialize_keras_object(config["model_optimizer"]),
                     loss_fn=pn.utils.deserialize_keras_object(config["loss_fn"]),
                     metrics=pn.utils.deserialize_keras_object(config["metric"]))


def test_a_models_own_compile_config_is_serialized_and_applied_on_load(backend, tmp_path):
    model = ModelWithCustomCompile()
    model.compile(optimizer="SGD", loss_fn=gb_square_sum_loss, metrics=["mae", gb_mean_pred])
    x = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
    model.fit(x, x, verbose=0)
    entry = pn.layers.serialize(model)
    assert entry["compile_config"] == {
        "model_optimizer": "SGD",
        "loss_fn": {"module": None, "class_name": "function",
                    "config": "gb_test>gb_square_sum_loss",
                    "registered_name": "gb_test>gb_square_sum_loss"},
        "metric": ["mae", {"module": None, "class_name": "function",
                           "config": "gb_test>gb_mean_pred",
                           "registered_name": "gb_test>gb_mean_pred"}]}
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = pn.models.load_model(path)
    assert restored.model_optimizer == "SGD"
    assert restored.loss_fn is gb_square_sum_loss
    assert restored.loss_metrics == ["mae", gb_mean_pred]
    np.testing.assert_allclose(restored.evaluate(x, x, verbose=0),
                               model.evaluate(x, x, verbose=0), rtol=1e-6)


@pn.saving.register_keras_serializable(package="gb_test")
class ModelWithOnlyCustomCompile(pn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = L.Dense(2)

    def call(self, inputs):
        return self.dense1(inputs)

    def compile(self, learning_rate):
        super().compile(optimizer=pn.optimizers.SGD(learning_rate), loss="mse")


def test_a_custom_compile_without_compile_from_config_is_skipped_with_keras_warning(backend, tmp_path):
    model = ModelWithOnlyCustomCompile()
    model.compile(0.1)
    model(np.ones((1, 3), "float32"))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.warns(UserWarning, match=r"`compile\(\)` was not called as part of model loading"):
        restored = pn.models.load_model(path)
    np.testing.assert_allclose(restored.predict(np.ones((1, 3)), verbose=0),
                               model.predict(np.ones((1, 3)), verbose=0), rtol=1e-6)


def test_regression_losses_broadcast_labels_against_a_single_output(backend):
    # Keras: MSE of y_true (N, k) and y_pred (N, 1) broadcasts to (N, k) and averages the
    # last axis; the gradient sums back over it (the customizing-saving guide fits a
    # Dense(1) model on targets of shape (8, 10)).
    y = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]])
    p = np.array([[1.0], [2.0]])
    for loss, value, grad in (
            (pn.losses.MeanSquaredError(), np.mean((p - y) ** 2),
             np.sum(2 * (p - y), axis=1, keepdims=True) / 6),
            (pn.losses.MeanAbsoluteError(), np.mean(np.abs(p - y)),
             np.sum(np.sign(p - y), axis=1, keepdims=True) / 6)):
        v, back = loss.forward(backend.from_numpy(y), backend.from_numpy(p))
        np.testing.assert_allclose(float(to_np(v)), value, rtol=1e-12)
        np.testing.assert_allclose(to_np(back()), grad, rtol=1e-12)


@pn.saving.register_keras_serializable(package="gb_test")
class LayerWithCustomVariable(L.Dense):
    """The guide's layer: a keras.Variable attribute and its own save/load hooks."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.my_variable = pn.Variable(np.arange(1.0, units + 1.0), name="my_variable",
                                       dtype="float32")

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["variables"] = self.my_variable.numpy()

    def load_own_variables(self, store):
        self.my_variable.assign(store["variables"])
        self.kernel.assign(store["0"])
        self.bias.assign(store["1"])

    def call(self, inputs):
        return super().call(inputs) + self.my_variable


def test_keras_variable_forms_and_tracking(backend):
    v = pn.Variable(np.arange(3))
    assert v.name == "variable" and str(v.dtype).endswith("int64") and v.trainable
    v = pn.Variable(1.5)
    assert v.shape == () and str(v.dtype).endswith("float32")
    v = pn.Variable("ones", shape=(2,), dtype="float64", trainable=False, name="w")
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])
    assert str(v.dtype).endswith("float64") and not v.trainable and v.path == "w"
    with pytest.raises(ValueError, match="needs a shape"):
        pn.Variable("zeros")
    with pytest.raises(ValueError, match="aggregation='max'"):
        pn.Variable(1.0, aggregation="max")
    # Keras 3.15: a Variable assigned in __init__ comes first among the layer's weights.
    layer = LayerWithCustomVariable(2)
    layer.build((None, 3))
    assert [(w.name, w.path) for w in layer.weights] == [
        ("my_variable", "my_variable"), ("kernel", layer.name + "/kernel"),
        ("bias", layer.name + "/bias")]
    store = {}
    L.Dense.save_own_variables(layer, store)   # Keras's Dense: kernel and bias only
    assert sorted(store) == ["0", "1"] and store["0"].shape == (3, 2)


def test_save_and_load_own_variables_hooks_in_keras_files(backend, tmp_path):
    x = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
    model = pn.Sequential([pn.Input((3,)), LayerWithCustomVariable(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((4, 2)), verbose=0)
    model.layers[0].my_variable.assign(np.array([5.0, 7.0]))
    path = str(tmp_path / "v.keras")
    model.save(path)
    restored = pn.models.load_model(path)
    np.testing.assert_array_equal(restored.layers[0].my_variable.numpy(), [5.0, 7.0])
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    # The file holds what the hook stored: "0", "1" (kernel, bias) and "variables".
    import h5py
    import zipfile
    with zipfile.ZipFile(path) as zf:
        zf.extract("model.weights.h5", str(tmp_path))
    with h5py.File(str(tmp_path / "model.weights.h5"), "r") as f:
        group = f["layers/layer_with_custom_variable/vars"]
        assert sorted(group) == ["0", "1", "variables"]


def _unregistered_scale(x):
    return x * 3.0


class HoldsAFunction(L.Layer):
    def __init__(self, fn=None, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def get_config(self):
        return {**super().get_config(), "fn": self.fn}

    def call(self, inputs):
        return self.fn(inputs)


def test_an_unregistered_function_in_a_config_stays_for_in_memory_use(backend):
    # Not serializable by name: kept as the function, so from_config in memory works.
    config = pn.layers.serialize(HoldsAFunction(_unregistered_scale, name="h"))
    assert config["config"]["fn"] is _unregistered_scale
    layer = HoldsAFunction.from_config(config["config"])
    np.testing.assert_allclose(to_np(layer(np.array([[1.0, 2.0]], "float32"))), [[3.0, 6.0]])
