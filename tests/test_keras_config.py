"""portanet's configs are Keras 3.15.1's: for each case in tests/keras_reference/configs.json
(written by make_config_reference.py from Keras itself), ``serialize_keras_object`` of the
same portanet object equals Keras's dict exactly, and ``deserialize_keras_object`` of
Keras's dict builds an object whose config round-trips; models rebuilt from Keras's config
predict Keras's outputs with Keras's weights."""

import json
import pathlib
import struct

import numpy as np
import pytest

import portanet as pn
from portanet.serialization import deserialize_keras_object, serialize_keras_object

REFERENCE = json.loads((pathlib.Path(__file__).parent / "keras_reference" / "configs.json").read_text())
LAYER_CASES = {c["id"]: c for c in REFERENCE["layers"]}
OBJECT_CASES = {c["id"]: c for c in REFERENCE["objects"]}
MODEL_CASES = {c["id"]: c for c in REFERENCE["models"]}
_MODULES = {"loss": pn.losses, "metric": pn.metrics, "optimizer": pn.optimizers,
            "initializer": pn.initializers, "regularizer": pn.regularizers, "constraint": pn.constraints}


def make_layer(cls, args, name):
    def resolve(v):
        if isinstance(v, dict) and "__layer__" in v:
            c, a = v["__layer__"]
            return make_layer(c, a, a.get("name"))
        if isinstance(v, list):
            return [resolve(x) for x in v]
        return v
    kwargs = {k: resolve(v) for k, v in args.items() if k != "name"}
    return getattr(pn.layers, cls)(name=name, **kwargs)


def build_case_layer(case):
    layer = make_layer(case["class_name"], case["args"], case["id"])
    shapes = case["inputs"]
    if shapes is not None:
        if shapes and isinstance(shapes[0], list):
            inputs = [pn.Input(shape=tuple(s), dtype=case["dtype"]) for s in shapes]
            if case["class_name"] in ("MultiHeadAttention", "GroupedQueryAttention"):
                layer(*inputs)
            else:
                layer(inputs)
        else:
            layer(pn.Input(shape=tuple(shapes), dtype=case["dtype"]))
    return layer


@pytest.mark.parametrize("ident", sorted(LAYER_CASES))
def test_layer_config_is_keras(backend, ident):
    case = LAYER_CASES[ident]
    layer = build_case_layer(case)
    assert serialize_keras_object(layer) == case["keras"]


@pytest.mark.parametrize("ident", sorted(LAYER_CASES))
def test_layer_from_keras_config(backend, ident):
    case = LAYER_CASES[ident]
    layer = deserialize_keras_object(case["keras"])
    assert type(layer).__name__ == case["class_name"]
    assert layer.get_config() == case["keras"]["config"]
    again = deserialize_keras_object(serialize_keras_object(layer))
    assert again.get_config() == case["keras"]["config"]


def as_float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def float32_learning_rate(entry):
    """Keras writes float() of its float32 learning-rate variable (0.001 ->
    0.0010000000474974513), as portanet does; a hand-written config's rate is compared
    as float32."""
    entry = json.loads(json.dumps(entry))
    config = entry["config"]
    if isinstance(config.get("learning_rate"), float):
        config["learning_rate"] = as_float32(config["learning_rate"])
    return entry


@pytest.mark.parametrize("ident", sorted(OBJECT_CASES))
def test_object_config_is_keras(backend, ident):
    case = OBJECT_CASES[ident]
    obj = getattr(_MODULES[case["kind"]], case["class_name"])(**case["args"])
    entry = serialize_keras_object(obj)
    if case["kind"] == "optimizer" and "learning_rate" in case["args"]:
        # As Keras: float() of the float32 rate variable (0.01 -> 0.009999999776482582).
        assert entry["config"]["learning_rate"] == as_float32(case["args"]["learning_rate"])
    assert entry == case["keras"]


@pytest.mark.parametrize("ident", sorted(OBJECT_CASES))
def test_object_from_keras_config(backend, ident):
    case = OBJECT_CASES[ident]
    obj = deserialize_keras_object(case["keras"])
    assert type(obj).__name__ == case["class_name"]
    assert serialize_keras_object(obj) == case["keras"]


# ---------------------------------------------------------------------------------- models
def build_model(ident):
    """The model of MODEL_CASES[ident], built as make_config_reference.py builds it in Keras."""
    L = pn.layers
    if ident == "sequential":
        return pn.Sequential([pn.Input(shape=(4,), name="seq_in"), L.Dense(5, activation="relu", name="seq_d1"),
                              L.Dropout(0.1, name="seq_drop"),
                              L.Dense(2, activation="softmax", name="seq_d2")], name="seq")
    if ident == "functional_multi":
        a = pn.Input(shape=(4,), name="in_a")
        b = pn.Input(shape=(3,), name="in_b")
        h = L.Dense(5, activation="tanh", name="fa")(a)
        g = L.Dense(5, name="fb")(b)
        s = L.Add(name="fadd")([h, g])
        o1 = L.Dense(2, name="out1")(s)
        o2 = L.Dense(1, activation="sigmoid", name="out2")(L.Concatenate(name="fcat")([s, b]))
        return pn.Model([a, b], [o1, o2], name="multi")
    if ident == "functional_nested":
        inner_in = pn.Input(shape=(4,), name="inner_in")
        inner = pn.Model(inner_in, L.Dense(3, activation="relu", name="inner_d")(inner_in), name="inner")
        inner_seq = pn.Sequential([pn.Input(shape=(3,), name="iseq_in"), L.Dense(2, name="iseq_d")],
                                  name="inner_seq")
        x = pn.Input(shape=(4,), name="outer_in")
        y = inner_seq(inner(x))
        return pn.Model(x, L.Dense(1, name="outer_d")(y), name="nested")
    if ident == "sequential_nested":
        return pn.Sequential([pn.Input(shape=(4,), name="sn_in"),
                              pn.Sequential([L.Dense(3, name="sn_inner_d")], name="sn_inner"),
                              L.Dense(2, name="sn_d")], name="seq_nested")
    if ident == "functional_call_kwargs":
        t = pn.Input(shape=(5, 4), name="seq_x")
        r = L.LSTM(3, return_sequences=True, name="m_lstm")(t)
        r = L.BatchNormalization(name="m_bn")(r)
        r = L.Dropout(0.2, name="m_drop")(r)
        att = L.Attention(name="m_att")([r, r])
        mha = L.MultiHeadAttention(num_heads=2, key_dim=2, name="m_mha")(att, r)
        pooled = L.GlobalAveragePooling1D(name="m_pool")(mha)
        probs = L.Softmax(name="m_soft")(L.Dense(3, name="m_d")(pooled))
        return pn.Model(t, probs, name="call_kwargs")
    raise KeyError(ident)


def _drop_auto_input_names(entry):
    """Keras names the InputLayer it makes for a Sequential without one ``input_layer_<n>``
    (a global counter): the only auto-generated name in these configs, dropped on both sides."""
    if isinstance(entry, list):
        return [_drop_auto_input_names(e) for e in entry]
    if not isinstance(entry, dict):
        return entry
    out = {k: _drop_auto_input_names(v) for k, v in entry.items()}
    if out.get("class_name") == "InputLayer" and str(out["config"].get("name", "")).startswith("input_layer"):
        out["config"] = {k: v for k, v in out["config"].items() if k != "name"}
    return out


@pytest.mark.parametrize("ident", sorted(MODEL_CASES))
def test_model_config_is_keras(backend, ident):
    case = MODEL_CASES[ident]
    model = build_model(ident)
    assert _drop_auto_input_names(serialize_keras_object(model)) == _drop_auto_input_names(case["keras"])
    # to_json is json.dumps of that dict, as Keras's.
    assert _drop_auto_input_names(json.loads(model.to_json())) == _drop_auto_input_names(
        json.loads(case["json"]))


def _predict(model, inputs):
    out = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("ident", sorted(MODEL_CASES))
@pytest.mark.parametrize("route", ["deserialize", "model_from_json"])
def test_model_from_keras_config_predicts_keras_outputs(backend, ident, route):
    """A model rebuilt from Keras's config (or Keras's to_json text), given Keras's weights,
    predicts Keras's outputs; its config is Keras's again."""
    case = MODEL_CASES[ident]
    if route == "deserialize":
        model = deserialize_keras_object(case["keras"])
    else:
        model = pn.models.model_from_json(case["json"])
    assert type(model).__name__ == case["keras"]["class_name"]
    model.set_weights([np.asarray(w, dtype="float32") for w in case["weights"]])
    inputs = [np.asarray(x, dtype="float32") for x in case["inputs"]]
    outputs = _predict(model, inputs)
    assert len(outputs) == len(case["outputs"])
    for got, want in zip(outputs, case["outputs"]):
        np.testing.assert_allclose(got, np.asarray(want, dtype="float32"), rtol=1e-5, atol=1e-6)
    assert _drop_auto_input_names(serialize_keras_object(model)) == _drop_auto_input_names(case["keras"])


@pytest.mark.parametrize("ident", sorted(MODEL_CASES))
def test_model_round_trip_keeps_predictions(backend, ident):
    """portanet -> Keras's config form -> portanet: same architecture, same outputs."""
    model = build_model(ident)
    again = pn.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    inputs = [np.asarray(x, dtype="float32") for x in MODEL_CASES[ident]["inputs"]]
    for a, b in zip(_predict(model, inputs), _predict(again, inputs)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert serialize_keras_object(again) == serialize_keras_object(model)


def test_compile_config_is_keras(backend):
    model = pn.Sequential([pn.Input(shape=(4,), name="c_in"), pn.layers.Dense(2, name="c_d")],
                          name="compiled")
    assert model.get_compile_config() == {}
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.01, name="adam"), loss="mse",
                  metrics=["mae", pn.metrics.RootMeanSquaredError(name="rmse")])
    config = model.get_compile_config()
    config["optimizer"] = float32_learning_rate(config["optimizer"])
    assert config == REFERENCE["compile_config"]["keras"]


def test_compile_from_keras_compile_config(backend):
    """Keras's compile config compiles a portanet model (compile_from_config), and a model
    config holding it comes back compiled, as Keras's deserialize_keras_object does."""
    keras_cc = REFERENCE["compile_config"]["keras"]
    model = pn.Sequential([pn.Input(shape=(4,), name="c_in"), pn.layers.Dense(2, name="c_d")],
                          name="compiled")
    model.compile_from_config(keras_cc)
    assert isinstance(model.optimizer, pn.optimizers.Adam) and model.optimizer.name == "adam"
    assert abs(model.optimizer.learning_rate - 0.01) < 1e-8
    x = np.ones((4, 4), "float32")
    logs = model.evaluate(x, np.zeros((4, 2), "float32"), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mae", "rmse"}
    entry = serialize_keras_object(model)
    again = deserialize_keras_object(json.loads(json.dumps(entry)))
    assert again.compiled and float32_learning_rate(again.get_compile_config()["optimizer"]) == \
        keras_cc["optimizer"]
    with pytest.raises(ValueError, match="unknown key"):
        model.compile_from_config({"optimizer": "adam", "bogus": 1})


def test_old_portanet_configs_still_load(backend):
    """Configs written before this form (dtype as a name, nested objects as {"class_name",
    "config"}, no module) still deserialize."""
    old = {"class_name": "Dense", "config": {
        "name": "d", "trainable": True, "dtype": "float32", "units": 3, "activation": "relu",
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}
    layer = deserialize_keras_object(old)
    assert isinstance(layer, pn.layers.Dense) and layer.units == 3 and layer.dtype == "float32"
    assert layer.get_config()["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                                           "config": {"name": "float32"}, "registered_name": None}
    seq = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "i"}},
        old]}}
    model = deserialize_keras_object(seq)
    assert model.built and model.layers[0].units == 3


def test_bad_dtype_policy_is_refused(backend):
    with pytest.raises(ValueError, match="dtype"):
        pn.layers.Dense(2, dtype={"class_name": "Nope", "config": {}})
