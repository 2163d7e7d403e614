"""A model output that carries a mask (Embedding(mask_zero=True) -> LSTM -> Dense) masks
the compiled loss and the mean metrics, as Keras 3 (keras/src/losses/loss.py
``apply_mask``, metrics/reduction_metrics.py). Keras's numbers are stored in
tests/keras_reference/masked_loss.npz by tests/keras_reference/make_masked_loss_reference.py
(which also defines the data, weights and models used here)."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import make_masked_loss_reference as ref  # noqa: E402

KERAS = np.load(pathlib.Path(__file__).parent / "keras_reference" / "masked_loss.npz")
CASES = [(kind, functional) for kind in ("mse", "sce") for functional in (False, True)]
IDS = [f"{k}-{'functional' if f else 'sequential'}" for k, f in CASES]


def _tag(kind, functional):
    return f"{kind}_{'functional' if functional else 'sequential'}"


@pytest.mark.parametrize("kind,functional", CASES, ids=IDS)
def test_evaluate_and_train_on_batch_mask_the_loss_and_metrics_as_keras(backend, kind, functional):
    x, y, sw = ref.data(kind)
    tag = _tag(kind, functional)
    model = ref.build(pn, kind, functional)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0),
                               KERAS[f"{tag}_evaluate"], rtol=2e-6)
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0),
                               KERAS[f"{tag}_evaluate_weighted"], rtol=2e-6)
    np.testing.assert_allclose(model.train_on_batch(x, y), KERAS[f"{tag}_train_on_batch"], rtol=2e-6)
    # The gradient is the masked loss's: the weights after the step are Keras's.
    np.testing.assert_allclose(ref.flat(model), KERAS[f"{tag}_train_on_batch_weights"],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,functional", CASES, ids=IDS)
def test_fit_logs_the_masked_loss_and_metric_as_keras(backend, kind, functional):
    x, y, _ = ref.data(kind)
    tag = _tag(kind, functional)
    model = ref.build(pn, kind, functional)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0).history
    metric = "mae" if kind == "mse" else "accuracy"
    assert history["loss"][0] == pytest.approx(float(KERAS[f"{tag}_fit_loss"]), rel=2e-6)
    assert history[metric][0] == pytest.approx(float(KERAS[f"{tag}_fit_metric"]), rel=2e-6)
    np.testing.assert_allclose(ref.flat(model), KERAS[f"{tag}_fit_weights"], rtol=1e-5, atol=1e-6)


def test_a_loss_given_a_mask_averages_over_the_unmasked_entries(backend):
    # mse per step of y_pred (2, 3, 1) against zeros: the squares; mask keeps 4 of 6 entries.
    p = backend.asarray(np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]], "float32"))
    y = backend.asarray(np.zeros((2, 3, 1), "float32"))
    mask = backend.asarray(np.array([[True, True, False], [True, False, False]]))
    loss = pn.losses.MeanSquaredError()
    value, backward = loss.forward(y, p, mask=mask)
    assert float(to_np(backend, value)) == pytest.approx((1 + 4 + 16) / 3)   # valid: 1, 4, 16
    # d/dp of Σ_valid p² / 3: 2p/3 on the valid entries, 0 on the masked ones.
    np.testing.assert_allclose(to_np(backend, backward()).reshape(2, 3),
                               [[2 / 3, 4 / 3, 0.0], [8 / 3, 0.0, 0.0]], rtol=1e-6)
    # "sum": the masked entries weigh 0; "none": the values times the mask (Keras applies
    # the mask with every reduction); sample weights multiply the valid entries.
    value, _ = pn.losses.MeanSquaredError(reduction="sum").forward(y, p, mask=mask)
    assert float(to_np(backend, value)) == pytest.approx(21.0)
    value, _ = pn.losses.MeanSquaredError(reduction="none").forward(y, p, mask=mask)
    np.testing.assert_allclose(to_np(backend, value), [[1, 4, 0], [16, 0, 0]])
    sw = backend.asarray(np.array([2.0, 1.0], "float32"))
    value, _ = loss.forward(y, p, sample_weight=sw, mask=mask)
    assert float(to_np(backend, value)) == pytest.approx((2 + 8 + 16) / 3)
    # Every entry masked: 0, as Keras's divide_no_nan.
    value, _ = loss.forward(y, p, mask=backend.asarray(np.zeros((2, 3), bool)))
    assert float(to_np(backend, value)) == 0.0


def test_a_mean_metric_weighs_by_the_mask(backend):
    mask = backend.asarray(np.array([[True, True, False], [True, False, False]]))
    np.testing.assert_allclose(to_np(backend, pn.metrics.masked_sample_weight(None, mask)),
                               [[1, 1, 0], [1, 0, 0]])
    sw = backend.asarray(np.array([2.0, 0.5], "float32"))
    np.testing.assert_allclose(to_np(backend, pn.metrics.masked_sample_weight(sw, mask)),
                               [[2, 2, 0], [0.5, 0, 0]])
    metric = pn.metrics.MeanAbsoluteError()
    p = backend.asarray(np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]], "float32"))
    metric.update_state(backend.asarray(np.zeros((2, 3, 1), "float32")), p,
                        pn.metrics.masked_sample_weight(sw, mask))
    assert float(to_np(backend, metric.result())) == pytest.approx((2 + 4 + 2) / 4.5)
