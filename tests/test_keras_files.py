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
from portanet.backend import host_h5
from portanet.saving import keras_format

FILES = pathlib.Path(__file__).parent / "keras_reference" / "files"
TOL = 1e-5


sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import keras_file_cases as cases  # noqa: E402 - the architectures, shared with make_keras_files.py

BUILDERS = {name: (lambda f: (lambda: f(pn)))(f) for name, f in cases.BUILDERS.items()}
TRAINED = {name: (arch, (lambda n: (lambda: cases.make_optimizer(pn, n)))(name), loss)
           for name, (arch, _, loss) in cases.TRAINED.items()}
ALL = sorted(BUILDERS) + sorted(TRAINED)
LEGACY = list(cases.LEGACY)


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
WEIGHTS_ONLY = set(cases.INPUT_SHAPES)     # subclassed: Keras wrote its weights only


@pytest.mark.parametrize("case,ext", [(c, e) for c in ALL for e in (".weights.h5", ".keras")
                                      if (e == ".keras" and c not in WEIGHTS_ONLY) or
                                      (e == ".weights.h5" and c not in TRAINED)])
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


@pytest.mark.parametrize("case", ["dense_adam", "conv2d_sgd"])
def test_load_weights_into_compiled_model_restores_optimizer_as_keras(backend, case, tmp_path):
    """Keras's load_weights walks model.optimizer too: a compiled model gets the file's
    optimizer state; portanet's .weights.h5 of a compiled model carries it as Keras's does."""
    arch, make_opt, loss = TRAINED[case]
    model = BUILDERS[arch]()
    model.compile(optimizer=make_opt(), loss=loss)
    model.load_weights(FILES / f"{case}.keras")
    assert model.optimizer.iterations == 3
    model.save_weights(tmp_path / "w.weights.h5")
    again = BUILDERS[arch]()
    again.compile(optimizer=make_opt(), loss=loss)
    again.load_weights(tmp_path / "w.weights.h5")
    _one_more_step_matches_keras(again, _ref(case))
    plain = BUILDERS[arch]()                       # uncompiled: the weights only
    plain.load_weights(tmp_path / "w.weights.h5")
    _check_predictions(plain, _ref(case))
    other = BUILDERS[arch]()                       # another optimizer: warned and skipped
    other.compile(optimizer=pn.optimizers.Adam(0.1) if case != "dense_adam" else pn.optimizers.SGD(0.1),
                  loss=loss)
    with pytest.warns(UserWarning, match="skipping the optimizer state"):
        other.load_weights(tmp_path / "w.weights.h5")
    assert other.optimizer.iterations == 0


@pytest.mark.parametrize("case", [c for c in ALL if c not in WEIGHTS_ONLY])
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
    model = BUILDERS["dense"]()
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
    paths = [p for p, _, own in keras_format.walk(BUILDERS["bidirectional"]()) if own]
    assert paths == ["layers/bidirectional/backward_layer/cell", "layers/bidirectional/forward_layer/cell",
                     "layers/bidirectional_1/backward_layer/cell", "layers/bidirectional_1/forward_layer/cell",
                     "layers/dense"]
    paths = [p for p, _, own in keras_format.walk(BUILDERS["subclassed"]()) if own]
    assert paths == ["blocks/dense", "blocks/dense_1", "encoder", "layers/dense_3"]
    paths = [p for p, _, own in keras_format.walk(BUILDERS["nested"]()) if own]
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
