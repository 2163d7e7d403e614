"""Behaviour that keras-io's examples (keras.io/examples) rely on, checked against values
computed by hand or printed by Keras 3.15.1 (jax backend) on the same inputs."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops
from harness import to_np


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


def _ops_model():
    a = pn.Input((3,), name="a")
    b = pn.Input((3,), name="b")
    h = pn.layers.Dense(3, kernel_initializer="ones", name="d")(a)
    s = h * 2.0 + b
    out = ops.mean(s, axis=-1, keepdims=True) - a[:, :1] + (-b[:, 1:2]) ** 2
    return pn.Model([a, b], out)


_X1 = np.array([[1., 2., 3.], [0., -1., 2.]], "float32")
_X2 = np.array([[0.5, 1., -1.], [2., 0., 1.]], "float32")


def test_operators_and_ops_on_symbolic_tensors_build_keras_operations(backend):
    # timeseries_classification_transformer.py: `res = x + inputs` on KerasTensors.
    # Names, order, outputs and the SGD step are Keras 3.15.1's for the same model.
    model = _ops_model()
    assert [layer.name for layer in model.layers] == ["a", "d", "b"]   # ops are not layers
    assert [(op.name, type(op).__name__) for op in model._layers] == [
        ("a", "InputLayer"), ("d", "Dense"), ("multiply", "Multiply"), ("b", "InputLayer"),
        ("add", "Add"), ("get_item_1", "GetItem"), ("mean", "Mean"), ("get_item", "GetItem"),
        ("negative", "Negative"), ("subtract", "Subtract"), ("power", "Power"), ("add_1", "Add")]
    # row 0: h = 6, s = [12.5, 13, 11], mean 12.1667, - a0 (1) + (-1)^2 -> 12.1667
    np.testing.assert_allclose(model.predict([_X1, _X2], verbose=0), [[12.166667], [3.0]], rtol=1e-6)
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    model.fit([_X1, _X2], np.zeros((2, 1)), batch_size=2, epochs=1, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, np.repeat([[0.188888818], [-0.42222235], [-1.8333336]], 3, 1),
                               rtol=1e-5)
    np.testing.assert_allclose(bias, [-1.0111111] * 3, rtol=1e-6)
    assert ops.shape(pn.Input((4, 2))) == (None, 4, 2)
    with pytest.raises(TypeError, match="Iterating over a symbolic KerasTensor"):
        list(pn.Input((4, 2)))


def test_symbolic_operations_are_written_and_read_as_keras_writes_them(backend):
    model = _ops_model()
    layers = model.get_config()["layers"]
    assert layers[2] == {  # as Keras 3.15.1 writes it
        "module": "keras.src.ops.numpy", "class_name": "Multiply", "config": {"name": "multiply"},
        "registered_name": "Multiply", "name": "multiply", "inbound_nodes": [{"args": [
            {"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "dtype": "float32",
                                                          "keras_history": ["d", 0, 0]}}, 2.0],
            "kwargs": {}}]}
    get_item = next(e for e in layers if e["name"] == "get_item_1")
    assert get_item["inbound_nodes"][0]["args"][1] == [
        {"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}},
        {"class_name": "__slice__", "config": {"start": 1, "stop": 2, "step": None}}]
    rebuilt = pn.Model.from_config(model.get_config())
    assert [op.name for op in rebuilt._layers] == [op.name for op in model._layers]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([_X1, _X2], verbose=0), [[12.166667], [3.0]], rtol=1e-6)


def test_keras_operation_entries_with_arguments_in_their_config_load(backend):
    # Keras writes ops.mean(x, axis=-1, keepdims=True) with axis/keepdims in the config.
    tensor = {"class_name": "__keras_tensor__",
              "config": {"shape": [None, 3], "dtype": "float32", "keras_history": ["a", 0, 0]}}
    config = {"name": "m", "trainable": True, "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 3], "dtype": "float32", "sparse": False, "name": "a"},
         "name": "a", "inbound_nodes": []},
        {"module": "keras.src.ops.numpy", "class_name": "Mean", "registered_name": "Mean",
         "config": {"name": "mean", "axis": -1, "keepdims": True}, "name": "mean",
         "inbound_nodes": [{"args": [tensor], "kwargs": {}}]}],
        "input_layers": [["a", 0, 0]], "output_layers": [["mean", 0, 0]]}
    model = pn.Model.from_config(config)
    assert model.outputs[0].shape == (None, 1)
    np.testing.assert_allclose(model.predict(_X1, verbose=0), [[2.0], [1 / 3]], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown operation 'GradientTape'"):
        pn.Model.from_config({**config, "layers": [config["layers"][0], {
            **config["layers"][1], "class_name": "GradientTape"}]})


def test_multi_head_attention_takes_the_names_of_its_keras_sub_layers(backend):
    # Keras's MultiHeadAttention.build makes a Softmax and a Dropout: the next Dropout made
    # is "dropout_1" (the transformer examples' summaries show it).
    query = pn.Input((4, 2))
    pn.layers.MultiHeadAttention(num_heads=2, key_dim=2)(query, query)
    assert pn.layers.Dropout(0.1).name == "dropout_1"
    assert pn.layers.Softmax().name == "softmax_1"


class _Scale(pn.layers.Layer):
    """call() takes a second tensor and a constant besides its inputs (an endpoint layer)."""

    def call(self, a, b, factor=1.0):
        self.add_loss(ops.mean(a * b))
        return a * factor + b


_XS = np.array([[1., 2., 0.], [0., 1., -1.]], "float32")
_TS = np.array([[1.], [-2.]], "float32")


def _two_tensor_model():
    x = pn.Input((3,), name="x")
    t = pn.Input((1,), name="t")
    logits = pn.layers.Dense(1, kernel_initializer="ones", name="lg")(x)
    h = pn.layers.Dense(1, kernel_initializer="ones", name="h")(t)
    return pn.Model([x, t], _Scale(name="scale")(logits, h, factor=2.0))


def test_call_arguments_besides_the_inputs_are_graph_inputs_with_gradients(backend):
    # endpoint_layer_pattern.py: LogisticEndpoint()(logits, targets, sample_weight).
    # Outputs and the weights after one SGD step are Keras 3.15.1's (mse + the add_loss
    # term; the gradient reaches layer h through the second argument).
    model = _two_tensor_model()
    assert [t.node.layer.name for t in model.get_layer("scale")._inbound_nodes[0].input_tensors] \
        == ["lg", "h"]
    np.testing.assert_allclose(model.predict([_XS, _TS], verbose=0), [[7.0], [-2.0]])
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    model.fit([_XS, _TS], np.zeros((2, 1)), batch_size=2, verbose=0)
    expected = [[[-0.45], [-1.4], [0.5]], [-0.95], [[-0.25]], [-0.65]]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_call_arguments_besides_the_inputs_round_trip_through_the_config(backend):
    model = _two_tensor_model()
    node = model.get_config()["layers"][-1]["inbound_nodes"][0]
    # As Keras 3.15.1 writes _Scale()(logits, h, factor=2.0): positional tensors in "args".
    assert [a["config"]["keras_history"] for a in node["args"]] == [["lg", 0, 0], ["h", 0, 0]]
    assert node["kwargs"] == {"factor": 2.0}
    rebuilt = pn.Model.from_config(model.get_config(), custom_objects={"_Scale": _Scale})
    np.testing.assert_allclose(rebuilt.predict([_XS, _TS], verbose=0), [[7.0], [-2.0]])
    # A tensor given by keyword is written (and read) in "kwargs".
    config = model.get_config()
    entry = config["layers"][-1]["inbound_nodes"][0]
    entry["kwargs"]["b"] = entry["args"].pop()
    rebuilt = pn.Model.from_config(config, custom_objects={"_Scale": _Scale})
    assert rebuilt.get_config()["layers"][-1]["inbound_nodes"][0]["kwargs"]["b"][
        "config"]["keras_history"] == ["h", 0, 0]
    np.testing.assert_allclose(rebuilt.predict([_XS, _TS], verbose=0), [[7.0], [-2.0]])


def test_layer_call_binds_arguments_as_keras(backend):
    layer = _Scale()
    a, b = np.ones((2, 1), "float32"), np.full((2, 1), 3.0, "float32")
    np.testing.assert_allclose(to_np(backend, layer(a, b, factor=2.0)), [[5.0], [5.0]])
    np.testing.assert_allclose(to_np(backend, layer(a=a, b=b)), [[4.0], [4.0]])       # inputs by name
    # Keras 3.15.1: only tensors may be given by position.
    with pytest.raises(ValueError, match="Only input tensors may be passed as positional"):
        layer(a, b, 2.0)
    with pytest.raises(TypeError, match=r"call\(\) takes 3 positional arguments; got 4 \(its "
                                        r"positional parameters: \['a', 'b', 'factor'\]\)"):
        layer(a, b, b, b)
    with pytest.raises(TypeError, match="called without inputs; expected them as the first "
                                        "argument or as a="):
        layer(b=b)


class _Star(pn.layers.Layer):
    """call() takes var-positional tensors (Keras accepts Star()(a, b))."""

    def build(self, *shapes):
        self.build_args = shapes

    def call(self, *args):
        if len(args) == 1:         # one list argument
            return args[0][0] - args[0][1]
        return args[0] * args[1]


class _Rest(pn.layers.Layer):
    """call(self, x, *rest): a weight built for x, the other tensors added."""

    def build(self, shape):
        self.build_shape = shape
        self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

    def call(self, x, *rest):
        out = x * self.w
        for r in rest:
            out = out + 2.0 * r
        return out


_XA = np.array([[1., 2., 0.], [0., 1., -1.]], "float32")
_XB = np.array([[0.5, 1., -1.], [2., 0., 1.]], "float32")
_YS = np.array([[1.], [-1.]], "float32")


def test_a_call_taking_var_positional_tensors_binds_them_as_keras(backend):
    # Keras 3.15.1: Star()(a, b) gives call (a, b); Star()([a, b]) gives call ONE list;
    # build(self, *shapes) gets nothing (build(self, input_shape) None) for call(self, *args),
    # and x's shape for call(self, x, *rest).
    star = _Star()
    np.testing.assert_allclose(to_np(backend, star(_XA, _XB)), _XA * _XB)
    assert star.build_args == ()
    np.testing.assert_allclose(to_np(backend, _Star()([_XA, _XB])), _XA - _XB)

    class Star1(_Star):
        def build(self, input_shape):
            self.build_args = input_shape
    one = Star1()
    one(_XA, _XB)
    assert one.build_args is None
    rest = _Rest()
    np.testing.assert_allclose(to_np(backend, rest(_XA, _XB, _XB)), _XA + 4 * _XB)
    assert rest.build_shape == (2, 3)
    np.testing.assert_allclose(to_np(backend, _Rest()(_XA)), _XA)


def _star_model():
    a = pn.Input((3,), name="a")
    b = pn.Input((3,), name="b")
    ha = pn.layers.Dense(2, kernel_initializer="ones", name="da")(a)
    hb = pn.layers.Dense(2, kernel_initializer=pn.initializers.Constant(0.5), name="db")(b)
    out = pn.layers.Dense(1, kernel_initializer="ones", name="out")(_Star(name="star")(ha, hb))
    return pn.Model([a, b], out)


def test_var_positional_tensors_are_inputs_of_a_functional_node_with_gradients(backend):
    # Predictions, loss and the weights after one SGD step are Keras 3.15.1's: the gradient
    # reaches both da and db through Star's two tensors.
    model = _star_model()
    node = model.get_layer("star")._inbound_nodes[0]
    assert [t.node.layer.name for t in node.input_tensors] == ["da", "db"]
    np.testing.assert_allclose(model.predict([_XA, _XB], verbose=0), [[1.5], [0.0]])
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    history = model.fit([_XA, _XB], _YS, batch_size=2, verbose=0)
    assert history.history["loss"] == [pytest.approx(0.625)]
    expected = [np.repeat([[0.9875], [0.825], [1.15]], 2, 1), [-0.1625] * 2,
                np.repeat([[0.425], [0.35], [0.65]], 2, 1), [-0.15] * 2, [[0.9625], [0.9625]], [-0.15]]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_var_positional_tensors_round_trip_through_the_config_and_a_keras_file(backend, tmp_path):
    model = _star_model()
    entry = model.get_config()["layers"][-2]
    # As Keras 3.15.1 writes Star()(ha, hb): both tensors in "args", no named build shape.
    assert entry["build_config"] == {"shapes_dict": {}}
    assert [a["config"]["keras_history"] for a in entry["inbound_nodes"][0]["args"]] == [
        ["da", 0, 0], ["db", 0, 0]]
    assert entry["inbound_nodes"][0]["kwargs"] == {}
    rebuilt = pn.Model.from_config(model.get_config(), custom_objects={"_Star": _Star})
    np.testing.assert_allclose(rebuilt.predict([_XA, _XB], verbose=0), [[1.5], [0.0]])
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    model.fit([_XA, _XB], _YS, batch_size=2, verbose=0)
    model.save(tmp_path / "star.keras")
    loaded = pn.models.load_model(tmp_path / "star.keras", custom_objects={"_Star": _Star})
    np.testing.assert_allclose(loaded.predict([_XA, _XB], verbose=0),
                               model.predict([_XA, _XB], verbose=0), rtol=1e-6)
    # call(self, x, *rest): Keras writes x's shape and the three tensors in "args".
    a, b = pn.Input((3,), name="a"), pn.Input((3,), name="b")
    rest_model = pn.Model([a, b], _Rest(name="rest")(a, b, b))
    entry = rest_model.get_config()["layers"][-1]
    assert entry["build_config"] == {"input_shape": [None, 3]}
    assert [t["config"]["keras_history"] for t in entry["inbound_nodes"][0]["args"]] == [
        ["a", 0, 0], ["b", 0, 0], ["b", 0, 0]]
    lines = []
    rest_model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "rest (_Rest)" in text and text.count("b[0][0]") == 2


class _StarModel(pn.Model):
    def __init__(self):
        super().__init__()
        self.d = pn.layers.Dense(2, kernel_initializer="ones")
        self.r = _Rest()
        self.s = _Star()
        self.o = pn.layers.Dense(1, kernel_initializer="ones")

    def call(self, inputs):
        a, b = inputs
        h = self.d(a)
        return self.o(self.s(self.r(h, b[:, :2], b[:, 1:]), h))


def test_var_positional_tensors_in_a_subclassed_model_train_as_keras(backend):
    # Loss, weights and predictions after one SGD step are Keras 3.15.1's.
    model = _StarModel()
    model.compile(pn.optimizers.SGD(0.01), loss="mse")
    history = model.fit([_XA, _XB], _YS, batch_size=2, verbose=0)
    assert history.history["loss"] == [pytest.approx(338.5)]
    expected = [[[-1.34, -0.56], [-3.72, -2.14], [1.04, 1.02]], [-2.38, -1.58], [-1.34, -1.34],
                [[-3.68], [-1.34]], [-0.27]]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(model.predict([_XA, _XB], verbose=0), [[811.1037], [409.26733]],
                               rtol=1e-5)


class _DictModel(pn.Model):
    def __init__(self):
        super().__init__()
        self.dense = pn.layers.Dense(1, kernel_initializer="ones")

    def call(self, inputs):
        return self.dense(inputs["a"]) * inputs["b"]


def test_a_subclassed_model_takes_a_dict_of_inputs(backend):
    # endpoint_layer_pattern.py's LogReg: model.fit(data) with data a dict read in call().
    # Weights and predictions after one SGD step are Keras 3.15.1's.
    model = _DictModel()
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    data = {"b": np.array([[2.], [1.]], "float32"), "a": _XS}
    model.fit(data, np.ones((2, 1)), batch_size=2, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, [[0.0], [-0.9], [0.9]], atol=1e-6)
    np.testing.assert_allclose(bias, [-0.9], rtol=1e-6)
    np.testing.assert_allclose(model.predict(data, verbose=0), [[-5.4], [-2.7]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"missing input\(s\) \['b'\]"):
        model.predict({"a": _XS}, verbose=0)


def test_an_adapted_normalization_has_keras_three_weights(backend):
    # image_classification_with_vision_transformer.py: the summary's non-trainable count
    # (Keras 3.15.1: mean (3,), variance (3,) and count, an int32 scalar kept at 0).
    layer = pn.layers.Normalization()
    layer.adapt(np.array([[1., 2., 3.], [3., 2., 1.]], "float32"))
    assert [(w.path, tuple(w.shape)) for w in layer.weights] == [
        ("normalization/mean", (3,)), ("normalization/variance", (3,)), ("normalization/count", ())]
    assert str(np.asarray(layer.count.numpy()).dtype) == "int32" and layer.count.numpy() == 0
    assert layer.count_params() == 7
    np.testing.assert_allclose(to_np(backend, layer.mean), [[2., 2., 2.]])   # Keras's broadcast shape
    np.testing.assert_allclose(to_np(backend, layer(np.array([[3., 2., 1.]], "float32"))), [[1., 0., -1.]], atol=1e-3)


def test_given_normalization_statistics_are_constants_as_keras(backend, tmp_path):
    # Keras 3.15.1: Normalization(mean=..., variance=...) has no weights (0 params) and
    # its config carries the statistics; the output is (x - mean) / sqrt(variance).
    inputs = pn.Input((2,))
    model = pn.Model(inputs, pn.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])(inputs))
    layer = model.layers[1]
    assert layer.weights == [] and model.count_params() == 0
    x = np.array([[3.0, 8.0]], "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), [[1.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(to_np(backend, layer.mean), [[1.0, 2.0]])
    for name in ("m.keras", "m.portanet"):
        model.save(str(tmp_path / name))
        loaded = pn.saving.load_model(str(tmp_path / name))
        np.testing.assert_allclose(loaded.predict(x, verbose=0), [[1.0, 2.0]], rtol=1e-6)


def test_epoch_logs_keep_keras_order_and_the_float32_learning_rate(backend, capsys):
    # timeseries_classification_from_scratch.py's ReduceLROnPlateau: Keras prints
    # "... - val_loss: ... - val_mae: ... - learning_rate: 0.0010" (its logs: sorted training
    # logs, sorted validation logs, then what callbacks add; the rate read from float32).
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(8, 3))
    history = model.fit(x, x[:, :1], validation_split=0.25, epochs=1, verbose=2,
                        callbacks=[pn.callbacks.ReduceLROnPlateau()])
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae", "learning_rate"]
    assert history.history["learning_rate"] == [0.0010000000474974513]
    line = capsys.readouterr().out.strip().splitlines()[-1]
    names = [part.split(":")[0] for part in line.split(" - ")[3:]]
    assert names == ["loss", "mae", "val_loss", "val_mae", "learning_rate"]
    assert line.endswith("learning_rate: 0.0010")


def test_the_logged_loss_is_the_float32_mean_as_keras_tracker(backend):
    # Keras's loss tracker divides its float32 total by the sample count in float32; the
    # history holds that float32 (here batch means 5.0069447, 4.6597223, 1.875 over 16, 16
    # and 8 rows: 169.66667 / 40 = 4.2416668 in float32; Keras 3.15.1/jax logs
    # 4.241666316986084, one float32 step lower from its own batch means).
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(pn.optimizers.SGD(0.0), "mse")
    x = (np.arange(120, dtype="float32").reshape(40, 3) % 7) / 3.0
    y = np.arange(40, dtype="float32").reshape(40, 1) % 5
    loss = model.fit(x, y, epochs=1, verbose=0, batch_size=16, shuffle=False).history["loss"][0]
    assert loss == 4.241666793823242
    assert float(np.float32(loss)) == loss


def test_ops_namespaces_on_symbolic_tensors_and_a_keras_written_resize(backend):
    # keras.ops.nn.relu / keras.ops.image.resize on symbolic tensors, and the entry Keras
    # 3.15.1 writes for ops.image.resize(im, (4, 4)) (its arguments in the config).
    a = pn.Input((3,))
    assert type(ops.nn.relu(a).node.layer).__name__ == "Relu"
    tensor = {"class_name": "__keras_tensor__",
              "config": {"shape": [None, 8, 8, 3], "dtype": "float32", "keras_history": ["im", 0, 0]}}
    config = {"name": "m", "trainable": True, "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 8, 8, 3], "dtype": "float32", "sparse": False,
                    "name": "im"}, "name": "im", "inbound_nodes": []},
        {"module": "keras.src.ops.image", "class_name": "Resize",
         "config": {"name": "resize", "size": [4, 4], "interpolation": "bilinear",
                    "antialias": False, "crop_to_aspect_ratio": False,
                    "pad_to_aspect_ratio": False, "fill_mode": "constant", "fill_value": 0.0,
                    "data_format": None}, "registered_name": "Resize", "name": "resize",
         "inbound_nodes": [{"args": [tensor], "kwargs": {}}]}],
        "input_layers": [["im", 0, 0]], "output_layers": [["resize", 0, 0]]}
    model = pn.Model.from_config(config)
    x = np.arange(2 * 8 * 8 * 3, dtype="float32").reshape(2, 8, 8, 3) / 100.0
    np.testing.assert_allclose(model.predict(x, verbose=0)[0, :2, :2, 0],
                               [[0.135, 0.195], [0.615, 0.675]], rtol=1e-5)
    assert model.get_config()["layers"][1]["module"] == "keras.src.ops.image"


class _ScaledModel(pn.Model):
    def __init__(self):
        super().__init__()
        self.dense = pn.layers.Dense(1, kernel_initializer="ones")

    def call(self, inputs, scale=None, training=False):
        y = self.dense(inputs)
        return y if scale is None else y * scale


def test_a_model_call_binds_arguments_to_its_call(backend):
    # Keras 3.15.1 gives [[3.], [3.]], [[6.], [6.]], [[9.], [9.]] for these calls.
    model = _ScaledModel()
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(to_np(backend, model(x)), [[3.0], [3.0]])
    np.testing.assert_allclose(to_np(backend, model(x, scale=2.0)), [[6.0], [6.0]])
    np.testing.assert_allclose(to_np(backend, model(inputs=x, scale=3.0)), [[9.0], [9.0]])


class _ActivationsInCall(pn.layers.Layer):
    def call(self, x):
        return (pn.activations.gelu(x)
                + pn.activations.relu(x, negative_slope=0.1) * pn.activations.sigmoid(x))


def test_activations_inside_call_and_on_symbolic_tensors(backend):
    # keras.activations.* on the traced tensors of a call() layer and on pn.Input tensors;
    # predictions, the SGD step and the op names are Keras 3.15.1's.
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(
        2, kernel_initializer="ones", bias_initializer=pn.initializers.Constant(-2.0)),
        _ActivationsInCall()])
    model.compile(pn.optimizers.SGD(0.1), "mse")
    x = np.array([[1., -1., 0.5], [0.2, 0.3, -2.]], "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               [[-0.12757467] * 2, [-0.011073482] * 2], rtol=1e-5)
    model.fit(x, np.zeros((2, 2)), batch_size=2, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [0.99915946, 1.0008378, 0.99959117], rtol=1e-6)
    np.testing.assert_allclose(bias, [-2.000845] * 2, rtol=1e-6)
    a = pn.Input((2,), name="a")
    functional = pn.Model(a, pn.activations.tanh(pn.activations.gelu(a)))
    assert [type(op).__name__ for op in functional._layers] == ["InputLayer", "Gelu", "Tanh"]
    np.testing.assert_allclose(functional.predict(x[:, :2], verbose=0),
                               [[0.68652064, -0.15733734], [0.11533638, 0.18327884]], rtol=1e-5)
