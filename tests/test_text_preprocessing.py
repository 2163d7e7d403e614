"""Categorical and string preprocessing layers against Keras 3.15.1's stored numbers
(tests/keras_reference/text.json, made by make_text_reference.py), plus adapt, configs,
saving, models fed with strings, text_dataset_from_directory and bad input."""

import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest

import portanet as pn
from portanet.backend import host_text
from harness import run_layer_test

HERE = pathlib.Path(__file__).parent
REF_DIR = HERE / "keras_reference"
with open(REF_DIR / "text.json") as f:
    REFERENCE = json.load(f)
_spec = importlib.util.spec_from_file_location("make_text_reference",
                                               REF_DIR / "make_text_reference.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)


def _host(y):
    if isinstance(y, np.ndarray):
        return y
    return pn.backend.current().to_numpy(y)


def _make(name):
    cls, kwargs, adapt, x, call_kwargs = REF.CASES[name]
    layer = getattr(pn.layers, cls)(**kwargs)
    if adapt is not None:
        layer.adapt(REF.adapt_data(adapt))
    return layer, x, call_kwargs


@pytest.mark.parametrize("name", sorted(REF.CASES))
def test_matches_keras(backend, name):
    ref = REFERENCE["cases"][name]
    layer, x, call_kwargs = _make(name)
    y = _host(layer(x, **call_kwargs))
    assert list(y.shape) == ref["shape"], (y.shape, ref["shape"])
    if ref["dtype"] == "string":
        assert y.reshape(-1).tolist() == ref["values"]
    else:
        assert str(y.dtype) == ref["dtype"]
        expected = np.asarray(ref["values"], dtype=ref["dtype"])
        if ref["dtype"].startswith("float"):
            np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(y, expected)
    if "vocabulary" in ref:
        assert layer.get_vocabulary() == ref["vocabulary"]
        assert layer.vocabulary_size() == ref["vocabulary_size"]
    if "bin_boundaries" in ref:
        np.testing.assert_allclose(layer.bin_boundaries, ref["bin_boundaries"], rtol=1e-6,
                                   atol=1e-6)
    config = layer.get_config()
    assert sorted(config) == ref["config_keys"], (sorted(config), ref["config_keys"])
    for key, value in ref["config"].items():
        if key in ("name", "dtype"):
            continue
        got = config[key]
        if isinstance(got, tuple):
            got = list(got)
        if key == "bin_boundaries" and value is not None:
            np.testing.assert_allclose(got, value, rtol=1e-6)
            continue
        if key == "idf_weights" and value is not None:
            np.testing.assert_allclose(got, value, rtol=1e-6)
            continue
        assert got == value, (key, got, value)


@pytest.mark.parametrize("name", sorted(REF.CASES))
def test_config_round_trip(backend, name):
    """from_config(get_config()) gives the same outputs; an adapted vocabulary travels as
    Keras's asset (vocabulary.txt) and idf weights as its own variables."""
    ref = REFERENCE["cases"][name]
    layer, x, call_kwargs = _make(name)
    config = layer.get_config()
    config.pop("name")
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    if hasattr(layer, "get_assets"):
        store = {}
        layer.save_own_variables(store)
        clone.load_own_variables(store)
        clone.set_assets(layer.get_assets())
    if type(layer).__name__ == "Discretization" and ref["config"]["num_bins"] is not None:
        assert clone.bin_boundaries == layer.bin_boundaries
    a, b = _host(layer(x, **call_kwargs)), _host(clone(x, **call_kwargs))
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- hashes
def test_fingerprint64_known_values():
    # FarmHash64 (TensorFlow Fingerprint64) of the empty string is k2; the Keras docstring
    # examples (Hashing(num_bins=3)): A B C D E -> 1 0 1 1 2.
    assert host_text.fingerprint64(b"") == 0x9AE16A3B2F90404F
    assert [host_text.fingerprint64(s) % 3 for s in "ABCDE"] == [1, 0, 1, 1, 2]
    assert [host_text.siphash64([133, 137], s) % 3 for s in "ABCDE"] == [1, 2, 1, 0, 2]


def test_hashing_ints_equal_their_decimal_strings(backend):
    layer = pn.layers.Hashing(num_bins=17)
    ints = _host(layer(np.array([[5], [-12], [123456789]])))
    strs = _host(layer([["5"], ["-12"], ["123456789"]]))
    np.testing.assert_array_equal(ints, strs)


# --------------------------------------------------------------------------- adapt sources
def _batches():
    data = REF.adapt_data("sentences")
    for i in range(0, len(data), 3):
        yield np.array(data[i:i + 3])


def test_adapt_generator_equals_array(backend):
    a = pn.layers.TextVectorization()
    a.adapt(np.array(REF.adapt_data("sentences")))
    b = pn.layers.TextVectorization()
    b.adapt(_batches())
    assert a.get_vocabulary() == b.get_vocabulary()
    assert a.get_vocabulary() == REFERENCE["cases"]["text_int"]["vocabulary"]


def test_adapt_pydataset_and_steps(backend):
    class Texts(pn.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            data = REF.adapt_data("sentences")
            return np.array(data[3 * i:3 * i + 3]), np.zeros(3)

    layer = pn.layers.TextVectorization()
    layer.adapt(Texts())
    assert layer.get_vocabulary() == REFERENCE["cases"]["text_int"]["vocabulary"]
    d = pn.layers.Discretization(num_bins=2)
    d.adapt((np.full((4, 1), v, dtype="float32") for v in (1.0, 2.0, 3.0)), steps=2)
    np.testing.assert_allclose(d.bin_boundaries, [1.0], atol=1e-6)


def test_string_lookup_vocabulary_file(backend, tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\n")
    layer = pn.layers.StringLookup(vocabulary=str(path))
    np.testing.assert_array_equal(_host(layer([["a", "c", "q"]])), [[1, 3, 0]])
    assert layer.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    layer.set_vocabulary(["x", "y"])
    np.testing.assert_array_equal(_host(layer(["y"])), [2])


def test_save_and_load_assets(backend, tmp_path):
    layer = pn.layers.StringLookup(output_mode="tf_idf")
    layer.adapt(REF.adapt_data("words_2d"))
    layer.save_assets(str(tmp_path))
    assert (tmp_path / "vocabulary.txt").read_text().splitlines()[0] == "[UNK]"
    store = {}
    layer.save_own_variables(store)
    config = layer.get_config()
    assert config["vocabulary"] is None
    clone = pn.layers.StringLookup.from_config(config)
    clone.load_own_variables(store)
    clone.load_assets(str(tmp_path))
    x = [["the", "cat", "zz"]]
    np.testing.assert_array_equal(_host(layer(x)), _host(clone(x)))


# --------------------------------------------------------------------------- models
TEXTS = ["good great fine", "great good", "awful bad", "bad terrible awful", "fine good",
         "terrible bad", "great fine good", "awful terrible"] * 4
LABELS = np.array([1, 1, 0, 0, 1, 0, 1, 0] * 4, dtype="float32").reshape(-1, 1)


def _text_model(vectorizer):
    inputs = pn.Input(shape=(1,), dtype="string")
    x = vectorizer(inputs)
    x = pn.layers.Embedding(vectorizer.vocabulary_size(), 8)(x)
    x = pn.layers.GlobalAveragePooling1D()(x)
    outputs = pn.layers.Dense(1, activation="sigmoid")(x)
    return pn.Model(inputs, outputs)


def test_text_model_trains_and_saves(backend, tmp_path):
    pn.utils.set_random_seed(1)
    vec = pn.layers.TextVectorization(output_sequence_length=4,
                                      vocabulary=["good", "great", "fine", "bad", "awful",
                                                  "terrible"])
    model = _text_model(vec)
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="binary_crossentropy")
    x = np.array(TEXTS).reshape(-1, 1)
    hist = model.fit(x, LABELS, batch_size=8, epochs=15, verbose=0, shuffle=True)
    losses = hist.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    pred = model.predict(x, verbose=0)
    assert ((pred > 0.5) == (LABELS > 0.5)).all()
    path = str(tmp_path / "text_model.portanet")
    model.save(path)
    loaded = pn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), pred)


def test_sequential_string_lookup_adapted(backend, tmp_path):
    pn.utils.set_random_seed(2)
    lookup = pn.layers.StringLookup()
    words = np.array([t.split()[0] for t in TEXTS]).reshape(-1, 1)
    lookup.adapt(words)
    model = pn.Sequential([pn.Input((1,), dtype="string"), lookup,
                           pn.layers.Embedding(lookup.vocabulary_size(), 4),
                           pn.layers.GlobalAveragePooling1D(), pn.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="binary_crossentropy")
    hist = model.fit(words, LABELS, batch_size=8, epochs=10, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    pred = model.predict(words, verbose=0)
    # An adapted vocabulary is not in the config (as Keras): the asset hooks carry it.
    path = str(tmp_path / "lookup.portanet")
    model.save(path)
    lookup.save_assets(str(tmp_path))
    loaded = pn.load_model(path)
    loaded.layers[0].load_assets(str(tmp_path))
    np.testing.assert_array_equal(loaded.predict(words, verbose=0), pred)


def test_preprocessing_outside_the_model(backend):
    vec = pn.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vec.adapt(TEXTS)
    ids = _host(vec(TEXTS))
    model = pn.Sequential([pn.Input((5,), dtype="int64"), pn.layers.Embedding(20, 4),
                           pn.layers.GlobalAveragePooling1D(), pn.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="binary_crossentropy")
    hist = model.fit(ids, LABELS, batch_size=8, epochs=10, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


# --------------------------------------------------------------------------- text datasets
def _write_corpus(root):
    for label, words in (("neg", ["bad awful", "terrible bad", "awful"]),
                         ("pos", ["good great", "great fine", "fine good", "good"])):
        os.makedirs(root / label, exist_ok=True)
        for i, text in enumerate(words):
            (root / label / f"{i}.txt").write_text(text)
    (root / "pos" / "ignored.csv").write_text("not a text file")


def test_text_dataset_from_directory(backend, tmp_path, capsys):
    _write_corpus(tmp_path)
    ds = pn.utils.text_dataset_from_directory(str(tmp_path), batch_size=3, shuffle=False)
    assert "Found 7 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["neg", "pos"]
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [3, 3, 1]
    texts = [t for b in batches for t in b[0].tolist()]
    labels = [int(v) for b in batches for v in np.asarray(b[1]).reshape(-1)]
    assert texts[:3] == ["bad awful", "terrible bad", "awful"]
    assert labels == [0, 0, 0, 1, 1, 1, 1]
    cat = pn.utils.text_dataset_from_directory(str(tmp_path), label_mode="categorical",
                                               batch_size=8, shuffle=False, verbose=False)
    assert np.asarray(next(iter(cat))[1]).shape == (7, 2)
    tr = pn.utils.text_dataset_from_directory(str(tmp_path), validation_split=0.3,
                                              subset="training", seed=3, max_length=4,
                                              verbose=False)
    va = pn.utils.text_dataset_from_directory(str(tmp_path), validation_split=0.3,
                                              subset="validation", seed=3, verbose=False)
    n_tr = sum(len(b[0]) for b in tr)
    n_va = sum(len(b[0]) for b in va)
    assert (n_tr, n_va) == (5, 2)
    assert all(len(t) <= 4 for b in tr for t in b[0].tolist())
    both = pn.utils.text_dataset_from_directory(str(tmp_path), validation_split=0.3,
                                                subset="both", seed=3, verbose=False)
    assert len(both) == 2


def test_text_dataset_fits_a_text_model(backend, tmp_path):
    _write_corpus(tmp_path)
    pn.utils.set_random_seed(3)
    ds = pn.utils.text_dataset_from_directory(str(tmp_path), batch_size=4, seed=1,
                                              verbose=False)
    vec = pn.layers.TextVectorization(output_sequence_length=3)
    vec.adapt(ds.map(lambda x, y: x) if hasattr(ds, "map") else (b[0] for b in ds))
    model = pn.Sequential([pn.Input((), dtype="string"), vec,
                           pn.layers.Embedding(vec.vocabulary_size(), 4),
                           pn.layers.GlobalAveragePooling1D(), pn.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.1), loss="binary_crossentropy")
    hist = model.fit(ds, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_text_dataset_bad_arguments(tmp_path):
    _write_corpus(tmp_path)
    with pytest.raises(ValueError, match="label_mode"):
        pn.utils.text_dataset_from_directory(str(tmp_path), label_mode="sparse")
    with pytest.raises(ValueError, match="subset"):
        pn.utils.text_dataset_from_directory(str(tmp_path), validation_split=0.2)
    with pytest.raises(ValueError, match="class_names"):
        pn.utils.text_dataset_from_directory(str(tmp_path), class_names=["pos", "x"])
    with pytest.raises(ValueError, match="directory"):
        pn.utils.text_dataset_from_directory(str(tmp_path / "missing"))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, match", [
    (lambda: pn.layers.CategoryEncoding(), "num_tokens"),
    (lambda: pn.layers.CategoryEncoding(3, output_mode="tf_idf"), "output_mode"),
    (lambda: pn.layers.CategoryEncoding(3, sparse=True), "sparse"),
    (lambda: pn.layers.Discretization(), "num_bins or bin_boundaries"),
    (lambda: pn.layers.Discretization([0.0], num_bins=3), "both"),
    (lambda: pn.layers.Discretization([2.0, 1.0]), "sorted"),
    (lambda: pn.layers.Hashing(0), "num_bins"),
    (lambda: pn.layers.Hashing(3, salt="x"), "salt"),
    (lambda: pn.layers.HashedCrossing(3, output_mode="count"), "output_mode"),
    (lambda: pn.layers.StringLookup(max_tokens=1), "max_tokens"),
    (lambda: pn.layers.StringLookup(num_oov_indices=-1), "num_oov_indices"),
    (lambda: pn.layers.StringLookup(invert=True, output_mode="count"), "invert"),
    (lambda: pn.layers.StringLookup(vocabulary=["a", "a"]), "repeated"),
    (lambda: pn.layers.StringLookup(vocabulary=["a", "m"], mask_token="m"), "mask token"),
    (lambda: pn.layers.StringLookup(vocabulary=["a"], output_mode="tf_idf"), "idf_weights"),
    (lambda: pn.layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3), "max_tokens"),
    (lambda: pn.layers.StringLookup(pad_to_max_tokens=True), "pad_to_max_tokens"),
    (lambda: pn.layers.IntegerLookup(vocabulary_dtype="int32"), "vocabulary_dtype"),
    (lambda: pn.layers.TextVectorization(standardize="upper"), "standardize"),
    (lambda: pn.layers.TextVectorization(split="comma"), "split"),
    (lambda: pn.layers.TextVectorization(ngrams="2"), "ngrams"),
    (lambda: pn.layers.TextVectorization(output_mode="count", output_sequence_length=3),
     "output_sequence_length"),
    (lambda: pn.layers.TextVectorization(ragged=True), "ragged"),
])
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_calls(backend):
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        pn.layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["a", "b"])
    with pytest.raises(ValueError, match="Cannot adapt"):
        pn.layers.StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(ValueError, match="adapt"):
        pn.layers.Discretization(num_bins=2, bin_boundaries=None).forward(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="bin_boundaries"):
        pn.layers.Discretization(bin_boundaries=[1.0]).adapt(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="last shape dimension"):
        pn.layers.TextVectorization(vocabulary=["a"])(np.array([["a b", "c"]]))
    with pytest.raises(TypeError, match="expected strings"):
        pn.layers.StringLookup(vocabulary=["a"])(np.array([1.5, 2.5]))
    with pytest.raises(ValueError, match="at least two"):
        pn.layers.HashedCrossing(4)([["a"]])
    with pytest.raises(ValueError, match="count_weights"):
        pn.layers.CategoryEncoding(3)([0, 1], count_weights=[1.0, 2.0])
    with pytest.raises(RuntimeError, match="set the vocabulary"):
        pn.layers.StringLookup(output_mode="multi_hot")(["a"])


# --------------------------------------------------------------------------- shared harness
@pytest.mark.parametrize("make, data", [
    (lambda: pn.layers.CategoryEncoding(5, output_mode="count"), [[0, 1, 1], [4, 2, 2]]),
    (lambda: pn.layers.Discretization([0.0, 0.5], output_mode="one_hot"), [[-1.0], [0.7]]),
    (lambda: pn.layers.Discretization([0.0, 0.5]), [[-1.0, 0.2], [0.7, 0.5]]),
    (lambda: pn.layers.IntegerLookup(vocabulary=[4, 9], output_mode="multi_hot"), [[4, 1], [9, 9]]),
    (lambda: pn.layers.Hashing(5), [[4, 1], [9, 9]]),
])
def test_numeric_layers_pass_the_harness(backend, make, data):
    """Shapes, config round trip and numpy agreement from the shared harness (these layers
    have no weights and no gradient: backward returns None)."""
    run_layer_test(make, None, backend, input_data=np.array(data), training_step=False,
                   check_input_grad=False)


def test_text_vectorization_callables(backend):
    """A callable standardize gets a NumPy array of str (as Keras on non-TensorFlow
    backends); a callable split gets the 1-D array of standardized strings."""
    seen = {}

    def shout(texts):
        seen["type"] = type(texts).__name__
        return np.array([t.upper() for t in texts.reshape(-1)]).reshape(texts.shape)

    def commas(texts):
        return [t.split(",") for t in texts]

    layer = pn.layers.TextVectorization(standardize=shout, split=commas,
                                        vocabulary=["A", "B C", "D"], output_sequence_length=4)
    out = _host(layer(["a,b c,zz", "d"]))
    assert seen["type"] == "ndarray"
    np.testing.assert_array_equal(out, [[2, 3, 1, 0], [4, 0, 0, 0]])
    assert layer.get_config()["standardize"] is shout


def test_symbolic_numeric_input_is_refused():
    with pytest.raises(TypeError, match="expected strings"):
        pn.layers.StringLookup()(pn.Input((3,)))
    with pytest.raises(TypeError, match="expected strings"):
        pn.layers.TextVectorization()(pn.Input((1,), dtype="int64"))
    out = pn.layers.StringLookup(invert=True, vocabulary=["a"])(pn.Input((3,), dtype="int64"))
    assert tuple(out.shape) == (None, 3)


@pytest.mark.parametrize("mode,sums", [
    # Vocabulary [UNK], a, b, c; rows "a b" and "c a c"; a Dense with kernel ones sums the
    # encoding: multi_hot 2 and 2, count 2 and 3, tf_idf (idf a=1, b=2, c=3) 1+2 and 1+2*3.
    ("multi_hot", [2.0, 2.0]), ("count", [2.0, 3.0]), ("tf_idf", [3.0, 7.0])])
@pytest.mark.parametrize("column", [False, True])
def test_text_vectorization_symbolic_shape_is_the_output_shape(backend, mode, sums, column):
    """On (batch, 1) strings the call squeezes the last axis before splitting, so the
    multi_hot/count/tf_idf output is (batch, depth) for (None, 1) as for (None,), and the
    symbolic shape says so (Keras 3.15.1's compute_output_shape gives (None, 1, 4) there,
    unlike its own outputs)."""
    kwargs = dict(output_mode=mode, vocabulary=["a", "b", "c"], standardize=None)
    if mode == "tf_idf":
        kwargs["idf_weights"] = [1.0, 2.0, 3.0]
    layer = pn.layers.TextVectorization(**kwargs)
    shape = (None, 1) if column else (None,)
    assert layer.compute_output_shape(shape) == (None, 4)
    inp = pn.Input(shape[1:], dtype="string")
    enc = layer(inp)
    assert enc.shape == (None, 4)
    out = pn.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")(enc)
    model = pn.Model(inp, out)
    texts = np.array(["a b", "c a c"])
    texts = texts[:, None] if column else texts
    assert tuple(layer(texts).shape) == (2, 4)
    np.testing.assert_allclose(model.predict(texts, verbose=0), np.array(sums)[:, None], rtol=1e-6)
    one_hot = pn.layers.TextVectorization(output_mode="one_hot", vocabulary=["a", "b", "c"])
    assert one_hot.compute_output_shape(shape) == (None, None, 4)
    with pytest.raises(ValueError, match=r"last shape dimension must be 1; got inputs of shape "
                                         r"\(None, 3\)"):
        layer.compute_output_shape((None, 3))
