"""serialize_keras_object / deserialize_keras_object, Model.to_json / model_from_json."""

import json
import pathlib

import numpy as np
import pytest

import portanet as pn


def _sequential():
    return pn.Sequential([pn.Input((4,)), pn.layers.Dense(5, activation="relu", name="h"),
                          pn.layers.Dense(2, name="out")], name="seq")


def _functional():
    a = pn.Input((4,), name="a")
    left = pn.layers.Dense(3, activation="tanh", name="left")(a)
    right = pn.layers.Dense(3, name="right")(a)
    merged = pn.layers.Concatenate(name="cat")([left, right])
    out = pn.layers.Dense(2, name="out")(merged)
    return pn.Model(a, out, name="two_branch")


@pytest.mark.parametrize("make", [_sequential, _functional])
def test_json_round_trip_gives_same_predictions(backend, make):
    model = make()
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    text = model.to_json()
    data = json.loads(text)
    assert data["class_name"] == type(model).__name__
    assert set(data) >= {"module", "class_name", "config", "registered_name"}
    clone = pn.models.model_from_json(text)
    assert type(clone) is type(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((6, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(clone.predict(x, verbose=0)),
                               np.asarray(model.predict(x, verbose=0)), rtol=1e-6, atol=1e-6)
    # The second writing is the same text (nothing lost on the way).
    assert json.loads(clone.to_json()) == data


def test_to_json_passes_kwargs_to_json_dumps(backend):
    text = _sequential().to_json(indent=2)
    assert "\n  " in text


def test_keras_forms():
    dense = pn.layers.Dense(3, activation="relu", name="d")
    entry = pn.saving.serialize_keras_object(dense)
    assert entry["module"] == "keras.layers" and entry["class_name"] == "Dense"
    assert entry["registered_name"] is None and "build_config" not in entry
    assert entry["config"]["units"] == 3
    opt = pn.saving.serialize_keras_object(pn.optimizers.Adam(learning_rate=0.01))
    assert opt["module"] == "keras.optimizers" and opt["class_name"] == "Adam"
    fn = pn.saving.serialize_keras_object(pn.activations.relu)
    assert fn == {"module": "keras.activations", "class_name": "function", "config": "relu",
                  "registered_name": "function"}
    assert pn.saving.deserialize_keras_object(fn) is pn.activations.relu
    # Plain values and containers pass through, their items serialized.
    assert pn.saving.serialize_keras_object([1, "a", None, {"k": 2.5}]) == [1, "a", None, {"k": 2.5}]


@pytest.mark.parametrize("obj, check", [
    # Keras 3.15's Huber writes only name and reduction (delta is not saved); so does portanet.
    (pn.losses.Huber(delta=2.0), lambda o: o.get_config() == {"name": "huber_loss",
                                                              "reduction": "sum_over_batch_size"}),
    (pn.metrics.MeanSquaredError(), lambda o: isinstance(o, pn.metrics.MeanSquaredError)),
    (pn.optimizers.SGD(learning_rate=0.25, momentum=0.5),
     lambda o: o.get_config()["momentum"] == 0.5 and abs(float(o.get_config()["learning_rate"]) - 0.25) < 1e-7),
    (pn.initializers.Constant(3.0), lambda o: o.get_config()["value"] == 3.0),
    (pn.regularizers.L2(0.125), lambda o: abs(o.get_config()["l2"] - 0.125) < 1e-9),
    (pn.constraints.MaxNorm(1.5), lambda o: o.get_config()["max_value"] == 1.5),
])
def test_round_trip_of_each_kind(obj, check):
    entry = pn.saving.serialize_keras_object(obj)
    assert entry["module"].startswith("keras.")
    back = pn.saving.deserialize_keras_object(json.loads(json.dumps(entry)))
    assert type(back) is type(obj) and check(back)
    assert back.get_config() == obj.get_config()


def test_layer_with_build_config_comes_back_built(backend):
    layer = pn.layers.Dense(3, name="d")
    layer(pn.Input((7,)))
    entry = pn.saving.serialize_keras_object(layer)
    assert entry["build_config"] == {"input_shape": [None, 7]}
    back = pn.saving.deserialize_keras_object(entry)
    assert back.built and [tuple(w.shape) for w in back.weights] == [(7, 3), (3,)]


def test_unknown_class_refused_with_registry_message():
    with pytest.raises(ValueError, match=r"unknown layer name 'NoSuchLayer'; expected one of: .*Dense"):
        pn.saving.deserialize_keras_object({"module": "keras.layers", "class_name": "NoSuchLayer", "config": {}})
    with pytest.raises(ValueError, match=r"unknown layer name 'Nope'"):
        pn.models.model_from_json(json.dumps({"class_name": "Nope", "config": {}}))
    with pytest.raises(ValueError, match="not valid JSON"):
        pn.models.model_from_json("{nope")
    with pytest.raises(TypeError, match="json_string"):
        pn.models.model_from_json(3)
    with pytest.raises(ValueError, match="not a model"):
        pn.models.model_from_json(json.dumps(pn.saving.serialize_keras_object(pn.layers.Dense(2))))


def test_never_imports_a_module_named_in_the_config(backend, monkeypatch):
    import builtins
    import importlib
    asked = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy_import(name, *args, **kwargs):
        asked.append(name)
        return real_import(name, *args, **kwargs)

    def spy_import_module(name, *args, **kwargs):
        asked.append(name)
        return real_import_module(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", spy_import)
    monkeypatch.setattr(importlib, "import_module", spy_import_module)
    name = "os.path"   # importable: a loader that imported config modules would succeed
    cfg = {"module": name, "class_name": "join", "config": {}, "registered_name": "os.path>join"}
    with pytest.raises(ValueError, match="unknown"):
        pn.saving.deserialize_keras_object(cfg)
    text = json.dumps({"module": "json", "class_name": "Dense", "config": {"name": "d", "units": 2},
                       "registered_name": None})
    layer = pn.saving.deserialize_keras_object(json.loads(text))
    assert isinstance(layer, pn.layers.Dense)
    model_text = _sequential().to_json().replace('"keras"', '"subprocess"')
    assert isinstance(pn.models.model_from_json(model_text), pn.Sequential)
    assert not [n for n in asked if n in ("os.path", "json", "subprocess") or n.startswith("keras")]


def test_custom_objects_resolve(backend):
    class Doubler(pn.layers.Layer):
        def call(self, x):
            return x * 2.0

    entry = {"module": "my.custom", "class_name": "Doubler", "config": {"name": "dbl"}, "registered_name": None}
    with pytest.raises(ValueError, match="unknown"):
        pn.saving.deserialize_keras_object(entry)
    layer = pn.saving.deserialize_keras_object(entry, custom_objects={"Doubler": Doubler})
    assert isinstance(layer, Doubler) and layer.name == "dbl"


def test_load_model_alias():
    assert pn.models.load_model is pn.saving.load_model


# A Dense model in the form Keras 3's to_json writes (module / registered_name / build_config,
# dtype as a DTypePolicy dict), read by portanet. The files are written by hand after Keras 3's
# serialization_lib (no Keras in the test environment), not generated by Keras.
KERAS_JSON = {name: (pathlib.Path(__file__).parent / "data" / f"keras3_{name}.json").read_text()
              for name in ("sequential", "functional")}


@pytest.mark.parametrize("name", ["sequential", "functional"])
def test_reads_keras3_json(backend, name):
    model = pn.models.model_from_json(KERAS_JSON[name])
    dense = model.get_layer("dense")
    assert model.built and dense.dtype == "float32"
    units = dense.get_config()["units"]
    kernel = np.arange(4 * units, dtype="float32").reshape(4, units) / 10
    bias = np.full((units,), 0.5, dtype="float32")
    model.set_weights([kernel, bias])
    x = np.array([[1.0, -1.0, 0.5, 2.0]], dtype="float32")
    act = np.tanh if name == "functional" else (lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), act(x @ kernel + bias), rtol=1e-6)


def test_registered_custom_layer_round_trip(backend):
    @pn.saving.register_serializable(package="SerTest")
    class ScaleBy(pn.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    entry = pn.saving.serialize_keras_object(ScaleBy(3.0, name="s"))
    assert entry["registered_name"] == "SerTest>ScaleBy" and entry["class_name"] == "ScaleBy"
    back = pn.saving.deserialize_keras_object(json.loads(json.dumps(entry)))
    assert isinstance(back, ScaleBy) and back.factor == 3.0 and back.name == "s"
