"""keras.utils.FeatureSpace against Keras 3.15.1's stored outputs
(tests/keras_reference/feature_space.npz/.json, made by make_feature_space_reference.py from
the same data), plus every way of feeding adapt, the symbolic inputs and encoding, a model
trained on the encoded features, configs and bad input."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

import portanet as pn
from portanet.utils import FeatureSpace

HERE = pathlib.Path(__file__).parent
REF_DIR = HERE / "keras_reference"
KERAS = np.load(REF_DIR / "feature_space.npz")
with open(REF_DIR / "feature_space.json") as f:
    META = json.load(f)
_spec = importlib.util.spec_from_file_location("make_feature_space_reference",
                                               REF_DIR / "make_feature_space_reference.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)


def _host(y):
    return y if isinstance(y, np.ndarray) else pn.backend.current().to_numpy(y)


def _concat_space():
    features, crosses = REF.feature_spec(FeatureSpace)
    return FeatureSpace(features, crosses=crosses, crossing_dim=16, hashing_dim=4,
                        num_discretization_bins=6)


def _dict_space():
    features, crosses = REF.dict_spec(FeatureSpace)
    return FeatureSpace(features, crosses=crosses, output_mode="dict", hashing_dim=8,
                        num_discretization_bins=4), features


@pytest.fixture(scope="module")
def data():
    return REF.make_data()


@pytest.fixture(scope="module")
def query():
    return REF.make_query()


# ----------------------------------------------------------------------------- Keras's numbers
def test_concat_equals_keras(backend, data, query):
    fs = _concat_space()
    fs.adapt(data)
    out = _host(fs(query))
    assert out.dtype == np.float32 and out.shape == (4, 56)
    np.testing.assert_allclose(out, KERAS["concat_query"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_host(fs(data)), KERAS["concat_data"], rtol=1e-6, atol=1e-6)
    single = _host(fs({k: v[1] for k, v in query.items()}))      # one unbatched row
    assert single.shape == (56,)
    np.testing.assert_allclose(single, KERAS["concat_single"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_host(fs.preprocessors["age"].mean).reshape(-1),
                               KERAS["age_mean"].reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(_host(fs.preprocessors["age"].variance).reshape(-1),
                               KERAS["age_variance"].reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(fs.preprocessors["height"].bin_boundaries,
                               KERAS["height_boundaries"], rtol=1e-7)
    assert fs.preprocessors["city"].get_vocabulary() == META["city_vocabulary"]
    assert fs.preprocessors["rooms"].get_vocabulary() == META["rooms_vocabulary"]


def test_dict_mode_equals_keras_with_batched_adapt(backend, data, query):
    fd, features = _dict_space()
    sub = {k: v for k, v in data.items() if k in features}
    fd.adapt([{k: v[i:i + 10] for k, v in sub.items()} for i in range(0, 100, 10)])
    dq = {k: v for k, v in query.items() if k in features}
    res = fd(dq)
    assert sorted(res) == META["dict_keys"]
    for k, v in res.items():
        v = _host(v)
        assert str(v.dtype) == META[f"dict_{k}_dtype"], k
        np.testing.assert_allclose(v, KERAS[f"dict_{k}"], rtol=1e-6, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(fd.preprocessors["height"].bin_boundaries,
                               KERAS["dict_height_boundaries"], rtol=1e-7)
    single = fd({k: v[2] for k, v in dq.items()})
    for k, v in single.items():
        np.testing.assert_allclose(_host(v), KERAS[f"dict_single_{k}"], rtol=1e-6, atol=1e-6)


def test_custom_tf_idf_feature_equals_keras(backend):
    fs = FeatureSpace({"text": FeatureSpace.feature(
        preprocessor=pn.layers.TextVectorization(output_mode="tf_idf"), dtype="string",
        output_mode="float")}, output_mode="concat")
    fs.adapt(REF.TEXT)
    assert fs.preprocessors["text"].get_vocabulary() == META["text_vocabulary"]
    np.testing.assert_allclose(_host(fs(REF.TEXT)), KERAS["text_tf_idf"], rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- adapt inputs
def _batches(data, size):
    return [{k: v[i:i + size] for k, v in data.items()} for i in range(0, 100, size)]


def test_adapt_accepts_what_fit_accepts(backend, data, query):
    """A list of batches, a generator, a PyDataset of (x, y) batches, and a stream of
    unbatched rows (batched by 32 as Keras) give the same space as Keras's batches."""
    fd, features = _dict_space()
    sub = {k: v for k, v in data.items() if k in features}
    dq = {k: v for k, v in query.items() if k in features}

    class Batches(pn.utils.PyDataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {k: v[10 * i:10 * i + 10] for k, v in sub.items()}, np.zeros(10)

    for source in (lambda: iter(_batches(sub, 10)), lambda: Batches()):
        fd, _ = _dict_space()
        fd.adapt(source())
        for k, v in fd(dq).items():
            np.testing.assert_allclose(_host(v), KERAS[f"dict_{k}"], rtol=1e-6, atol=1e-6)
    # unbatched rows -> batches of 32, the same as adapting on the dict of columns
    a, _ = _dict_space()
    a.adapt({k: list(v) if v.dtype.kind == "U" else v for k, v in sub.items()})
    b, _ = _dict_space()
    b.adapt(({k: v[i] for k, v in sub.items()} for i in range(100)))
    assert a.preprocessors["height"].bin_boundaries == b.preprocessors["height"].bin_boundaries
    for k, v in a(dq).items():
        np.testing.assert_array_equal(_host(v), _host(b(dq)[k]))


def test_plain_float_rescaled_and_hashed_by_hand(backend):
    fs = FeatureSpace({"x": "float", "r": FeatureSpace.float_rescaled(scale=2.0, offset=1.0),
                       "h": FeatureSpace.integer_hashed(3, output_mode="int")},
                      output_mode="dict")
    # nothing to adapt: usable at once, as Keras
    out = fs({"x": [1.5, -2.0], "r": np.array([[0.25], [3.0]]), "h": [7, 7]})
    np.testing.assert_array_equal(_host(out["x"]), [[1.5], [-2.0]])
    np.testing.assert_array_equal(_host(out["r"]), [[1.5], [7.0]])
    h = _host(out["h"])
    assert h.dtype == np.int64 and h[0, 0] == h[1, 0] and 0 <= h[0, 0] < 3
    expected = _host(pn.layers.Hashing(3)(np.array([[7]])))
    np.testing.assert_array_equal(h[:1], expected)


# ----------------------------------------------------------------------------- symbolic / model
def test_inputs_encoded_features_and_model(backend, data, query):
    fs = _concat_space()
    fs.adapt(data)
    inputs = fs.get_inputs()
    assert {k: (list(v.shape), v.dtype) for k, v in inputs.items()} == \
        {k: (s, d) for k, (s, d) in META["inputs"].items()}
    encoded = fs.get_encoded_features()
    assert list(encoded.shape) == META["encoded_shape"]
    dense = pn.layers.Dense(1, activation="sigmoid")
    model = pn.Model(inputs, dense(encoded))
    columns = {k: v[:, None] for k, v in query.items()}
    np.testing.assert_allclose(model.predict(columns, verbose=0), _host(dense(fs(query))),
                               rtol=1e-6, atol=1e-7)
    again = fs({k: pn.Input((1,), dtype=v.dtype, name=k) for k, v in inputs.items()})
    assert again.shape == encoded.shape


def test_model_trains_on_encoded_features(backend, data):
    """The Keras example's shape: a dict of columns, adapt, fs(x) -> Dense, fit."""
    fs = _concat_space()
    fs.adapt(data)
    x = fs(data)
    y = ((data["age"] > 40) ^ (data["city"] == "paris")).astype("float32")
    pn.utils.set_random_seed(3)
    model = pn.Sequential([pn.Input((56,)), pn.layers.Dense(16, activation="relu"),
                           pn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.03), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < 0.4 * history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.95


# ----------------------------------------------------------------------------- config
def test_config_is_keras_layout_and_round_trips(backend, data, query):
    fs = _concat_space()
    config = fs.get_config()
    keras_config = META["concat_config"]
    assert sorted(config) == sorted(keras_config)
    for key in ("output_mode", "crossing_dim", "hashing_dim", "num_discretization_bins"):
        assert config[key] == keras_config[key]
    assert sorted(config["features"]) == sorted(keras_config["features"])
    for name, entry in config["features"].items():
        ref = keras_config["features"][name]
        for key in ("module", "class_name", "registered_name"):
            assert entry[key] == ref[key]
        assert entry["config"]["dtype"] == ref["config"]["dtype"]
        assert entry["config"]["output_mode"] == ref["config"]["output_mode"]
        p, kp = entry["config"]["preprocessor"], ref["config"]["preprocessor"]
        assert p["class_name"] == kp["class_name"] and p["config"]["name"] == kp["config"]["name"]
    assert [c["config"] for c in json.loads(json.dumps(config["crosses"]))] == \
        [c["config"] for c in keras_config["crosses"]]
    json.dumps(config)
    for source in (config, json.loads(json.dumps(config)), keras_config):
        fs2 = FeatureSpace.from_config(source)
        fs2.adapt(data)
        np.testing.assert_allclose(_host(fs2(query)), KERAS["concat_query"], rtol=1e-6, atol=1e-6)
    restored = pn.saving.deserialize_keras_object(pn.saving.serialize_keras_object(fs))
    assert isinstance(restored, FeatureSpace) and restored.get_config() == config


def test_build_config(backend, data):
    fs = _concat_space()
    fs.adapt(data)
    build = fs.get_build_config()
    assert build["age"] == {"input_shape": [None, 1]}
    fs2 = FeatureSpace.from_config(fs.get_config())
    fs2.build_from_config(build)
    assert fs2.preprocessors["age"].built and fs2._is_adapted


# ----------------------------------------------------------------------------- bad input
def test_bad_input(backend, data):
    with pytest.raises(ValueError, match="cannot be None or empty"):
        FeatureSpace({})
    with pytest.raises(ValueError, match="Invalid feature type: floaty"):
        FeatureSpace({"a": "floaty"})
    with pytest.raises(ValueError, match="Received unknown features"):
        FeatureSpace({"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="Invalid value for argument `output_mode`"):
        FeatureSpace({"a": "float"}, output_mode="stack")
    with pytest.raises(ValueError, match="Invalid value for argument `output_mode`"):
        FeatureSpace.cross(("a", "b"), crossing_dim=4, output_mode="multi_hot")
    with pytest.raises(ValueError, match="hashing_dim=0"):
        FeatureSpace({"a": "float"}, hashing_dim=0)
    fs = FeatureSpace({"age": "float_normalized", "city": "string_categorical"})
    with pytest.raises(ValueError, match=r"call `.adapt\(dataset\)`"):
        fs({"age": [1.0], "city": ["x"]})
    with pytest.raises(ValueError, match="can only be called on a dict"):
        fs.adapt(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="has no column 'city'"):
        fs.adapt({"age": data["age"]})
    with pytest.raises(ValueError, match="different numbers of rows"):
        fs.adapt({"age": data["age"], "city": data["city"][:5]})
    fs.adapt({"age": data["age"], "city": data["city"]})
    with pytest.raises(ValueError, match="can only be called with a dict"):
        fs([1.0, 2.0])
    with pytest.raises(ValueError, match=r"missing: \['city'\]"):
        fs({"age": [1.0]})
    with pytest.raises(ValueError, match=r"unexpected: \['zip'\]"):
        fs({"age": [1.0], "city": ["x"], "zip": [1]})
    bad = FeatureSpace({"s": FeatureSpace.string_categorical(output_mode="int")})
    with pytest.raises(ValueError, match="Cannot concatenate features because feature 's'"):
        bad.adapt({"s": ["a", "b"]})     # adapt builds the encoding, as Keras
    custom = FeatureSpace({"x": FeatureSpace.feature("float32", pn.layers.Identity(), "one_hot")})
    with pytest.raises(ValueError, match="should return an integer dtype"):
        custom({"x": [1.0]})


def test_float64_floatx(backend, float64, data, query):
    """With floatx float64 the encoding is float64 (Normalization and the encoders follow
    floatx) and equals Keras's float32 numbers to float32 precision."""
    fs = _concat_space()
    fs.adapt(data)
    out = _host(fs(query))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, KERAS["concat_query"], rtol=1e-5, atol=1e-5)


def test_keras_io_training_and_inference_models(backend):
    """keras-io's structured-data example: a training model whose input is the encoded
    features (an intermediate tensor: Keras gives it a new Input, '<tensor>CLONE'), and an
    inference model from the raw dict inputs (Input((1,)) each) fed 1-D columns, numbers and
    strings, which Keras's Functional expands to (N, 1)."""
    data = {"age": np.array([20., 30., 40., 50.], "float32"),
            "city": np.array(["a", "b", "a", "c"])}
    fs = FeatureSpace({"age": "float_normalized", "city": "string_categorical"},
                      output_mode="concat")
    fs.adapt(data)
    encoded = fs.get_encoded_features()
    out = pn.layers.Dense(1, kernel_initializer="ones", name="head")(encoded)
    train = pn.Model(encoded, out)
    infer = pn.Model(fs.get_inputs(), out)
    assert [type(l).__name__ for l in train.layers] == ["InputLayer", "Dense"]
    assert train.layers[0].name.endswith("CLONE") and train.input_shapes == [encoded.shape]
    # Encoded row: the standardized age (mean 35, std sqrt(125)) and the city's one-hot
    # ([UNK], a, b, c); a Dense with kernel ones sums it: z + 1.
    z = (data["age"] - 35.0) / np.sqrt(125.0)
    expected = (z + 1.0)[:, None]
    got = infer.predict(data, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(train.predict(_host(fs(data)), verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
