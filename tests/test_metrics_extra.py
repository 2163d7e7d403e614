"""The metrics of issue 16 against Keras 3.15.1's stored results
(tests/keras_reference/make_objects_reference.py): each metric after two update_state calls
with sample weights, to 1e-6 in float64, on every backend; configs, reset, hand-computed
values, use in compile, bad input."""

import json
import re
import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
import make_objects_reference as ref  # noqa: E402

STORED = np.load(HERE / "objects.npz")
CONFIGS = json.loads((HERE / "objects.json").read_text())


def _arr(backend, a):
    return backend.asarray(a) if a.dtype.kind in "iu" else backend.asarray(a, dtype="float64")


def _metric(backend, name):
    cls, kwargs, _ = ref.METRIC_CASES[name]
    m = getattr(pn.metrics, cls)(**kwargs)
    for args, sw in ref.metric_inputs(name):
        m.update_state(*[_arr(backend, a) for a in args], sample_weight=_arr(backend, sw))
    return m


@pytest.mark.parametrize("name", sorted(ref.METRIC_CASES))
def test_result_matches_keras(backend, float64, name):
    m = _metric(backend, name)
    np.testing.assert_allclose(float(to_np(backend, m.result())), STORED[f"metric/{name}"],
                               rtol=1e-6, atol=1e-6)
    m.reset_state()
    assert float(to_np(backend, m.result())) == 0.0


def _plain(obj):
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


@pytest.mark.parametrize("name", sorted(ref.METRIC_CASES))
def test_config_matches_keras(name):
    cls, kwargs, _ = ref.METRIC_CASES[name]
    m = getattr(pn.metrics, cls)(**kwargs)
    mine, keras_config = _plain(m.get_config()), dict(CONFIGS["metric"][name])
    # Keras writes its resolved dtype ("float64" under floatx float64, "int" for IoU); the
    # keys and every other value are the same.
    assert set(mine) == set(keras_config)
    mine.pop("dtype"), keras_config.pop("dtype")
    # Keras makes default names unique within its session ("io_u_1" for a second IoU).
    keras_config["name"] = re.sub(r"_\d+$", "", keras_config["name"])
    assert mine == keras_config
    again = pn.metrics.deserialize(pn.metrics.serialize(m))
    assert type(again) is type(m) and _plain(again.get_config()) == _plain(m.get_config())


def test_iou_by_hand(backend):
    # Keras's docstring example: cm = [[1, 1], [1, 1]] -> IoU of class 0 = 1/3.
    m = pn.metrics.IoU(num_classes=2, target_class_ids=[0])
    m.update_state(backend.asarray(np.array([0, 1, 0, 1])), backend.asarray(np.array([0, 0, 1, 1])))
    np.testing.assert_allclose(float(to_np(backend, m.result())), 1 / 3, rtol=1e-6)
    # Weighted (dtype float): cm = [[0.2, 0.3], [0.4, 0.1]] -> mean IoU (0.2/0.9 + 0.1/0.8)/2.
    m = pn.metrics.MeanIoU(num_classes=2, dtype="float32")
    m.update_state(backend.asarray(np.array([0, 0, 1, 1])), backend.asarray(np.array([0, 1, 0, 1])),
                   sample_weight=backend.asarray(np.array([0.2, 0.3, 0.4, 0.1])))
    np.testing.assert_allclose(float(to_np(backend, m.result())), (0.2 / 0.9 + 0.1 / 0.8) / 2, rtol=1e-5)
    # The default int dtype truncates fractional weights, as Keras: every count is 0.
    m = pn.metrics.MeanIoU(num_classes=2)
    m.update_state(backend.asarray(np.array([0, 0, 1, 1])), backend.asarray(np.array([0, 1, 0, 1])),
                   sample_weight=backend.asarray(np.array([0.2, 0.3, 0.4, 0.1])))
    assert float(to_np(backend, m.result())) == 0.0
    # Out-of-range class ids are left out.
    m = pn.metrics.MeanIoU(num_classes=2)
    m.update_state(backend.asarray(np.array([0, 1, 5])), backend.asarray(np.array([0, 1, 1])))
    np.testing.assert_allclose(float(to_np(backend, m.result())), 1.0, rtol=1e-6)


def test_correlation_functions_by_hand(backend, float64):
    y = np.array([[1.0, 2.0, 3.0, 4.0]])
    p = np.array([[2.0, 4.0, 6.0, 8.5]])
    r = np.corrcoef(y[0], p[0])[0, 1]
    np.testing.assert_allclose(to_np(backend, pn.metrics.pearson_correlation(backend.asarray(y),
                                                                             backend.asarray(p))), [r])
    cc = to_np(backend, pn.metrics.concordance_correlation(backend.asarray(y), backend.asarray(p)))
    tm, pm = y.mean(), p.mean()
    expected = np.mean(2 * (y - pm) * (p - pm) / (y.var() + p.var() + (tm - pm) ** 2 + 1e-7))
    np.testing.assert_allclose(cc, [expected])


def test_sum_and_function_aliases(backend, float64):
    m = pn.metrics.Sum()
    m.update_state(backend.asarray(np.array([1.0, 3.0, 5.0, 7.0])))
    assert float(to_np(backend, m.result())) == 16.0
    m.update_state(backend.asarray(np.array([1.0, 2.0])), sample_weight=backend.asarray(np.array([0.5, 2.0])))
    assert float(to_np(backend, m.result())) == 20.5
    y, p = backend.asarray(np.array([[0.0, 1.0]])), backend.asarray(np.array([[0.5, 0.5]]))
    np.testing.assert_allclose(to_np(backend, pn.metrics.huber(y, p)),
                               to_np(backend, pn.losses.huber(y, p)))
    np.testing.assert_allclose(to_np(backend, pn.metrics.categorical_focal_crossentropy(y, p)),
                               to_np(backend, pn.losses.categorical_focal_crossentropy(y, p)))


def test_in_compile(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[pn.metrics.BinaryIoU(), pn.metrics.PrecisionAtRecall(0.5),
                           pn.metrics.ConcordanceCorrelation()])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "binary_io_u", "precision_at_recall", "concordance_correlation"}
    for v in logs.values():
        assert np.isfinite(v)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="target class id 3"):
        pn.metrics.IoU(num_classes=3, target_class_ids=[3])
    with pytest.raises(ValueError, match="num_classes=0"):
        pn.metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="recall=1.5"):
        pn.metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="num_thresholds=0"):
        pn.metrics.SensitivityAtSpecificity(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="threshold='a'"):
        pn.metrics.BinaryIoU(threshold="a")
