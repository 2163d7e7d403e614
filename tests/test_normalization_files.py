"""Normalization's weights as Keras 3.15.1 has them, against files Keras wrote
(tests/keras_reference/files/normalization_*, by make_normalization_files.py): an adapted
layer has mean, variance and count (int32, 0); a layer given mean= and variance= has none.
Keras's .keras and .weights.h5 load into portanet and predict Keras's numbers, portanet's
.weights.h5 has Keras's datasets, and portanet's own .portanet round-trips."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from portanet.backend import host_h5

FILES = pathlib.Path(__file__).parent / "keras_reference" / "files"
sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import keras_file_cases as cases  # noqa: E402

CASES = sorted(cases.NORMALIZATION_BUILDERS)
TOL = dict(rtol=1e-5, atol=1e-5)


def _ref(case):
    return np.load(FILES / f"{case}.npz")


def _keras_weights(ref):
    return [ref[f"w{i}"] for i in range(len([k for k in ref.files if k.startswith("w")]))]


def _check(model, ref):
    np.testing.assert_allclose(model.predict(ref["x"], verbose=0), ref["y"], **TOL)
    got = model.get_weights()
    want = _keras_weights(ref)
    assert [(w.dtype, w.shape) for w in got] == [(w.dtype, w.shape) for w in want]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **TOL)


def test_weight_layout_is_keras(backend):
    adapted = cases.normalization_adapted(pn).get_layer("norm")
    assert [(v.name, v.shape, str(v.numpy().dtype)) for v in adapted.weights] == [
        ("mean", (3,), "float32"), ("variance", (3,), "float32"), ("count", (), "int32")]
    assert adapted.trainable_weights == []
    given = cases.normalization_given(pn).get_layer("norm")
    assert given.weights == [] and given.get_weights() == []
    given.set_weights([])
    # Keras's layer.mean: the statistics in the input's broadcast shape.
    np.testing.assert_array_equal(pn.backend.current().to_numpy(given.mean),
                                  [[[1.0, -2.0, 0.5], [1.0, -2.0, 0.5]]])


def test_adapt_gives_keras_weights(backend):
    ref = _ref("normalization_adapted")
    model = cases.normalization_adapted(pn)
    model.get_layer("norm").adapt(np.asarray(cases.NORMALIZATION_ADAPT["normalization_adapted"],
                                             "float32"))
    mean, var, count = model.get_layer("norm").get_weights()
    # Columns [1, 2, 3, 6], [10, 10, 10, 30], [-3, -1, 0, 4]: means 3, 15, 0; biased variances
    # 14/4, 300/4, 26/4; Keras's count stays 0.
    np.testing.assert_allclose(mean, [3.0, 15.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(var, [3.5, 75.0, 6.5], rtol=1e-6)
    assert count == 0
    for a, b in zip(model.get_layer("norm").get_weights(), _keras_weights(ref)[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_keras_model_file_loads(backend, case):
    _check(pn.saving.load_model(FILES / f"{case}.keras"), _ref(case))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ext", [".weights.h5", ".keras"])
def test_keras_weights_load_into_portanet_model(backend, case, ext):
    model = cases.NORMALIZATION_BUILDERS[case](pn)
    model.load_weights(FILES / f"{case}{ext}")
    _check(model, _ref(case))


def _h5_datasets(path):
    with host_h5.H5Reader(path.read_bytes(), "test") as r:
        return {p: r.info(p) for p in r.paths if r.is_dataset(p)}


@pytest.mark.parametrize("case", CASES)
def test_portanet_weights_file_has_keras_layout(backend, case, tmp_path):
    model = cases.NORMALIZATION_BUILDERS[case](pn)
    model.load_weights(FILES / f"{case}.weights.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    mine, keras = _h5_datasets(tmp_path / "m.weights.h5"), _h5_datasets(FILES / f"{case}.weights.h5")
    assert mine == keras
    with host_h5.H5Reader(str(FILES / f"{case}.weights.h5"), "k") as a, \
            host_h5.H5Reader(str(tmp_path / "m.weights.h5"), "p") as b:
        for path in keras:
            np.testing.assert_array_equal(a.read(path), b.read(path))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ext", [".portanet", ".keras"])
def test_portanet_files_round_trip(backend, case, ext, tmp_path):
    model = pn.saving.load_model(FILES / f"{case}.keras")
    model.save(tmp_path / f"m{ext}")
    back = pn.saving.load_model(tmp_path / f"m{ext}")
    _check(back, _ref(case))
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = cases.NORMALIZATION_BUILDERS[case](pn)
    fresh.load_weights(tmp_path / "w.weights.h5")
    _check(fresh, _ref(case))
