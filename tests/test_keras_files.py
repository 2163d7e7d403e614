"""Files written by Keras 3 itself (tests/keras_reference/files/, made by
make_keras_files.py with Keras 3.15.1) load in portanet and predict Keras's stored
numbers (float32, 1e-5); training resumes from Keras's optimizer state exactly as Keras
continued it; files portanet writes have Keras's layout (and open in Keras where it is
installed: the live test at the end, and check_portanet_files.py's stored log)."""

import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import portanet as pn
from portanet import layers as L
from portanet.backend import host_h5
from portanet.saving import keras_format

FILES = pathlib.Path(__file__).parent / "keras_reference" / "files"
TOL = 1e-5


def _seq(*layers, name=None):
    return pn.Sequential(list(layers), name=name)


def dense():
    return _seq(pn.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3))


def conv1d():
    return _seq(pn.Input((10, 3)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2),
                L.Conv1D(2, 2, padding="same"), L.GlobalAveragePooling1D(), L.Dense(2))


def conv2d():
    return _seq(pn.Input((8, 8, 2)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                L.AveragePooling2D(2), L.MaxPooling2D(1), L.Flatten(), L.Dense(2))


def embedding():
    return _seq(pn.Input((5,), dtype="int32"), L.Embedding(10, 4), L.LayerNormalization(),
                L.GlobalMaxPooling1D(), L.Dense(2))


def simple_rnn():
    return _seq(pn.Input((5, 3)), L.SimpleRNN(4, return_sequences=True), L.SimpleRNN(2))


def lstm():
    return _seq(pn.Input((5, 3)), L.LSTM(4), L.Dense(2))


def gru():
    return _seq(pn.Input((5, 3)), L.GRU(4, return_sequences=True), L.GRU(3))


def bidirectional():
    return _seq(pn.Input((5, 3)), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                L.Bidirectional(L.GRU(2), merge_mode="sum"), L.Dense(2))


def functional():
    a, b = pn.Input((4,), name="a"), pn.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), b])
    h = L.Dense(6, activation="relu")(h)
    out1 = L.Dense(2, name="out1")(h)
    out2 = L.Dense(1, activation="sigmoid", name="out2")(L.Add()([h, L.Dense(6)(b)]))
    return pn.Model([a, b], [out1, out2], name="two_heads")


def nested():
    inner = _seq(pn.Input((4,)), L.Dense(5, activation="relu"), L.Dense(3), name="inner")
    x = pn.Input((4,))
    h = L.BatchNormalization()(inner(x))
    return pn.Model(x, L.Dense(2)(h), name="outer")


def nested_seq():
    inner = _seq(pn.Input((4,)), L.Dense(5, activation="relu"), name="block")
    return _seq(pn.Input((4,)), inner, L.Dense(3))


# The same architectures as make_keras_files.CASES, built in portanet.
BUILDERS = {"dense": dense, "conv1d": conv1d, "conv2d": conv2d, "embedding": embedding,
            "simple_rnn": simple_rnn, "lstm": lstm, "gru": gru, "bidirectional": bidirectional,
            "functional": functional, "nested": nested, "nested_seq": nested_seq}
TRAINED = {
    "dense_adam": ("dense", lambda: pn.optimizers.Adam(0.01), "mse"),
    "conv2d_sgd": ("conv2d", lambda: pn.optimizers.SGD(0.05, momentum=0.9), "mse"),
    "lstm_adam": ("lstm", lambda: pn.optimizers.Adam(0.01, amsgrad=True), "mse"),
    "gru_rmsprop": ("gru", lambda: pn.optimizers.RMSprop(0.01, momentum=0.5), "mse"),
    "functional_nadam": ("functional", lambda: pn.optimizers.Nadam(0.01), ["mse", "binary_crossentropy"]),
}
ALL = sorted(BUILDERS) + sorted(TRAINED)
LEGACY = ["dense", "conv2d", "lstm", "dense_adam"]


def _arch(case):
    return BUILDERS[TRAINED[case][0] if case in TRAINED else case]


def _ref(case):
    return np.load(FILES / f"{case}.npz")


def _inputs(ref, prefix="x"):
    keys = sorted(k for k in ref.files if k == prefix or (k.startswith(prefix) and k[len(prefix):].isdigit()))
    xs = [ref[k] for k in keys]
    return xs if len(xs) > 1 else xs[0]


def _predict(model, ref):
    y = model.predict(_inputs(ref), verbose=0)
    return [np.asarray(a) for a in (y if isinstance(y, list) else [y])]


def _check_predictions(model, ref):
    ys = _predict(model, ref)
    assert len(ys) == len([k for k in ref.files if k.startswith("y")])
    for i, y in enumerate(ys):
        np.testing.assert_allclose(y, ref[f"y{i}"], rtol=TOL, atol=TOL)


def _one_more_step_matches_keras(model, ref):
    tx, ty = _inputs(ref, "tx"), _inputs(ref, "ty")
    model.train_on_batch(tx, ty)
    assert model.optimizer.iterations == int(ref["after_iterations"])
    weights = model.weights
    assert len(weights) == len([k for k in ref.files if k.startswith("after_") and k[6:].isdigit()])
    for i, w in enumerate(weights):
        np.testing.assert_allclose(np.asarray(w.numpy()), ref[f"after_{i}"], rtol=TOL, atol=TOL,
                                   err_msg=f"weight {i} ({w.path}) after one more step")


# ---------------------------------------------------------------------- Keras -> portanet
@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("ext", [".weights.h5", ".keras"])
def test_keras_weights_load_into_portanet_model(backend, case, ext):
    """Keras's weights (its .weights.h5, or the weights inside its .keras) matched by
    Keras's walk of a portanet-built model of the same architecture."""
    model = _arch(case)()
    model.load_weights(FILES / f"{case}{ext}")
    _check_predictions(model, _ref(case))


@pytest.mark.parametrize("case", sorted(TRAINED))
def test_training_resumes_from_keras_optimizer_state(backend, case):
    """Weights + Keras's optimizer variables (iterations, learning rate, slots in Keras's
    order) into a compiled portanet model: the next step equals Keras's next step."""
    arch, make_opt, loss = TRAINED[case]
    model = BUILDERS[arch]()
    model.compile(optimizer=make_opt(), loss=loss)
    pn.saving.restore_training_state(model, FILES / f"{case}.keras")
    assert model.optimizer.iterations == 3
    np.testing.assert_allclose(model.optimizer.learning_rate, make_opt().learning_rate, rtol=1e-6)
    _check_predictions(model, _ref(case))
    _one_more_step_matches_keras(model, _ref(case))


@pytest.mark.parametrize("case", ALL)
def test_load_model_reads_keras_file(backend, case):
    """The whole .keras file: Keras's config.json rebuilt through
    pn.saving.deserialize_keras_object (the Keras 3 config form), weights, compile settings
    and optimizer state."""
    model = pn.saving.load_model(FILES / f"{case}.keras")
    ref = _ref(case)
    _check_predictions(model, ref)
    if case in TRAINED:
        assert model.compiled and model.optimizer.iterations == 3
        _one_more_step_matches_keras(model, ref)


@pytest.mark.parametrize("case", LEGACY)
def test_legacy_h5_weights_load_into_portanet_model(backend, case):
    model = _arch(case)()
    model.load_weights(FILES / f"{case}.h5")
    _check_predictions(model, _ref(case))


@pytest.mark.parametrize("case", LEGACY)
def test_load_model_reads_legacy_h5(backend, case):
    model = pn.saving.load_model(FILES / f"{case}.h5", compile=False)
    _check_predictions(model, _ref(case))


# ---------------------------------------------------------------------- portanet -> Keras's layout
def _h5_tree(data):
    with host_h5.H5Reader(data, "test") as r:
        return {p: (r.info(p) if r.is_dataset(p) else None) for p in r.paths}


@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_portanet_weights_file_has_keras_layout(backend, case, tmp_path):
    """Every dataset path, shape and dtype of portanet's .weights.h5 equals Keras's file."""
    model = _arch(case)()
    model.load_weights(FILES / f"{case}.weights.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    mine = _h5_tree((tmp_path / "m.weights.h5").read_bytes())
    keras = _h5_tree((FILES / f"{case}.weights.h5").read_bytes())
    datasets = lambda t: {p: v for p, v in t.items() if v is not None}  # noqa: E731
    assert datasets(mine) == datasets(keras)
    with host_h5.H5Reader(str(FILES / f"{case}.weights.h5"), "k") as a, \
            host_h5.H5Reader(str(tmp_path / "m.weights.h5"), "p") as b:
        for path, info in datasets(keras).items():
            np.testing.assert_array_equal(a.read(path), b.read(path))


@pytest.mark.parametrize("case", sorted(TRAINED))
def test_portanet_keras_file_has_keras_optimizer_layout(backend, case, tmp_path):
    """A compiled model restored from Keras's file and saved again writes the same
    optimizer variables (iterations, learning rate, slots in Keras's order)."""
    arch, make_opt, loss = TRAINED[case]
    model = BUILDERS[arch]()
    model.compile(optimizer=make_opt(), loss=loss)
    pn.saving.restore_training_state(model, FILES / f"{case}.keras")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert {"metadata.json", "config.json", "model.weights.h5"} <= set(zf.namelist())
        mine = zf.read("model.weights.h5")
    with zipfile.ZipFile(FILES / f"{case}.keras") as zf:
        theirs = zf.read("model.weights.h5")
    with host_h5.H5Reader(theirs, "k") as a, host_h5.H5Reader(mine, "p") as b:
        keys = [k for k in a.children("optimizer/vars")]
        assert sorted(b.children("optimizer/vars")) == sorted(keys)
        for k in keys:
            p = f"optimizer/vars/{k}"
            assert a.info(p)[0] == b.info(p)[0]
            np.testing.assert_allclose(b.read(p).astype("float64"), a.read(p).astype("float64"),
                                       rtol=1e-6, atol=1e-7, err_msg=p)
        layer_sets = [p for p in a.paths if a.is_dataset(p) and not p.startswith("optimizer")]
        for p in layer_sets:
            np.testing.assert_array_equal(a.read(p), b.read(p))


@pytest.mark.parametrize("case", ["dense", "conv2d", "bidirectional", "nested", "functional"])
def test_portanet_keras_file_round_trips_in_portanet(backend, case, tmp_path, rng):
    model = _arch(case)()
    model.load_weights(FILES / f"{case}.weights.h5")
    model.save(tmp_path / "m.keras")
    back = pn.saving.load_model(tmp_path / "m.keras")
    _check_predictions(back, _ref(case))


def test_compiled_portanet_keras_file_resumes_in_portanet(backend, tmp_path, rng):
    model = dense()
    model.compile(optimizer=pn.optimizers.Adam(0.01), loss="mse")
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(tmp_path / "m.keras")
    back = pn.saving.load_model(tmp_path / "m.keras")
    assert back.optimizer.iterations == 3
    model.train_on_batch(x, y)
    back.train_on_batch(x, y)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_allclose(np.asarray(b.numpy()), np.asarray(a.numpy()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", ["dense", "lstm"])
def test_legacy_h5_round_trips_in_portanet(backend, case, tmp_path):
    model = _arch(case)()
    model.load_weights(FILES / f"{case}.weights.h5")
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    fresh = _arch(case)()
    fresh.load_weights(tmp_path / "m.h5")
    _check_predictions(fresh, _ref(case))


def test_walk_paths_are_keras_paths(backend):
    paths = [p for p, _, own in keras_format.walk(bidirectional()) if own]
    assert paths == ["layers/bidirectional/backward_layer/cell", "layers/bidirectional/forward_layer/cell",
                     "layers/bidirectional_1/backward_layer/cell", "layers/bidirectional_1/forward_layer/cell",
                     "layers/dense"]
    paths = [p for p, _, own in keras_format.walk(nested()) if own]
    assert paths == ["layers/sequential/layers/dense", "layers/sequential/layers/dense_1",
                     "layers/batch_normalization", "layers/dense"]


# ---------------------------------------------------------------------- live Keras
_LIVE = """
import sys, numpy as np, keras
m = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])["x"]
np.save(sys.argv[3], np.asarray(m.predict(x, verbose=0)))
"""


def _keras_python():
    try:
        import keras  # noqa: F401 - only to learn whether Keras is installed here
    except ImportError:
        return None
    return sys.executable


@pytest.mark.parametrize("case", ["dense", "conv2d", "lstm", "nested"])
def test_keras_opens_portanet_keras_file(backend, case, tmp_path):
    """Live: Keras 3 opens portanet's .keras file and predicts the same numbers (skips
    when Keras is not installed; tests/keras_reference/check_portanet_files.py and its
    stored log are the same check run by hand)."""
    python = _keras_python()
    if python is None:
        pytest.skip("keras is not installed")
    model = _arch(case)()
    model.load_weights(FILES / f"{case}.weights.h5")
    model.save(tmp_path / "m.keras")
    script = tmp_path / "live.py"
    script.write_text(_LIVE)
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    subprocess.run([python, str(script), str(tmp_path / "m.keras"), str(FILES / f"{case}.npz"),
                    str(tmp_path / "y.npy")], check=True, env=env, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), _ref(case)["y0"], rtol=TOL, atol=TOL)
