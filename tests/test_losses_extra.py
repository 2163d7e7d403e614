"""The losses of issue 16 (CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy,
Dice, Tversky, Circle, CTC) against Keras 3.15.1's stored numbers
(tests/keras_reference/make_objects_reference.py -> objects.npz/.json): the reduced value and
its gradient w.r.t. y_pred to 1e-6 in float64, on every backend; the gradients also against
float64 central differences; configs, function forms, fit and bad input."""

import json
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
    if a is None:
        return None
    return backend.asarray(a) if a.dtype.kind in "iu" else backend.asarray(a, dtype="float64")


def _run(backend, name):
    cls, kwargs, _, _ = ref.LOSS_CASES[name]
    y, p, sw = ref.loss_inputs(name)
    loss = getattr(pn.losses, cls)(**kwargs)
    value, backward = loss.forward(_arr(backend, y), _arr(backend, p), _arr(backend, sw))
    return loss, float(to_np(backend, value)), to_np(backend, backward())


@pytest.mark.parametrize("name", sorted(ref.LOSS_CASES))
def test_value_and_gradient_match_keras(backend, float64, name):
    _, value, grad = _run(backend, name)
    np.testing.assert_allclose(value, STORED[f"loss/{name}/value"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, STORED[f"loss/{name}/grad"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ref.LOSS_CASES))
def test_gradient_matches_finite_differences(backend, float64, name):
    cls, kwargs, _, _ = ref.LOSS_CASES[name]
    y, p, sw = ref.loss_inputs(name)
    loss = getattr(pn.losses, cls)(**kwargs)
    yb, swb = _arr(backend, y), _arr(backend, sw)
    _, backward = loss.forward(yb, _arr(backend, p), swb)
    grad = to_np(backend, backward()).reshape(-1)
    flat = p.reshape(-1).copy()
    rng = np.random.default_rng(1)
    eps = 1e-6
    for i in rng.choice(flat.size, size=min(flat.size, 10), replace=False):
        vals = []
        for d in (eps, -eps):
            q = flat.copy()
            q[i] += d
            v, _ = loss.forward(yb, _arr(backend, q.reshape(p.shape)), swb)
            vals.append(float(to_np(backend, v)))
        np.testing.assert_allclose(grad[i], (vals[0] - vals[1]) / (2 * eps), rtol=1e-5, atol=1e-7)


def _plain(obj):
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


@pytest.mark.parametrize("name", sorted(ref.LOSS_CASES))
def test_config_matches_keras(name):
    cls, kwargs, _, _ = ref.LOSS_CASES[name]
    loss = getattr(pn.losses, cls)(**kwargs)
    keras_config = CONFIGS["loss"][name]
    mine = _plain(loss.get_config())
    assert mine == keras_config
    again = pn.losses.deserialize(pn.losses.serialize(loss))
    assert type(again) is type(loss) and _plain(again.get_config()) == keras_config


def test_keras_docstring_values(backend):
    y = backend.asarray(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype="float32"))
    p = backend.asarray(np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], dtype="float32"))
    cfce = pn.losses.CategoricalFocalCrossentropy()
    np.testing.assert_allclose(float(to_np(backend, cfce(y, p))), 0.23315276, rtol=1e-5)
    sw = backend.asarray(np.array([0.3, 0.7], dtype="float32"))
    np.testing.assert_allclose(float(to_np(backend, cfce(y, p, sample_weight=sw))), 0.1632, rtol=1e-3)
    yt = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    yp = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    d = pn.losses.dice(backend.asarray(yt), backend.asarray(yp), axis=(1, 2, 3))
    np.testing.assert_allclose(to_np(backend, d), [0.5, 0.75757575], rtol=1e-6)
    np.testing.assert_allclose(float(to_np(backend, pn.losses.Dice()(backend.asarray(yt), backend.asarray(yp)))),
                               0.6164384, rtol=1e-6)


def test_function_forms_are_the_unreduced_losses(backend, float64):
    for fn, cls, kwargs, case in [
            (pn.losses.categorical_focal_crossentropy, "CategoricalFocalCrossentropy", {"gamma": 1.5}, "cfce"),
            (pn.losses.dice, "Dice", {"axis": (1, 2, 3)}, "dice_axis"),
            (pn.losses.tversky, "Tversky", {"alpha": 0.2, "axis": (1, 2)}, "tversky"),
            (pn.losses.circle, "Circle", {"margin": 0.3}, "circle"),
            (pn.losses.ctc, "CTC", {}, "ctc"),
            (pn.losses.categorical_generalized_cross_entropy, "CategoricalGeneralizedCrossEntropy",
             {"q": 0.3}, "cgce")]:
        y, p, _ = ref.loss_inputs(case)
        yb, pb = _arr(backend, y), _arr(backend, p)
        expected = getattr(pn.losses, cls)(reduction="none", **kwargs)(yb, pb)
        np.testing.assert_allclose(to_np(backend, fn(yb, pb, **kwargs)), to_np(backend, expected), rtol=1e-12)
        assert pn.losses.get(fn.__name__).__class__.__name__ == cls


def test_circle_with_reference_embeddings(backend, float64):
    y, p, _ = ref.loss_inputs("circle")
    yb, pb = _arr(backend, y), _arr(backend, p)
    # The batch as its own reference gives the default loss.
    np.testing.assert_allclose(to_np(backend, pn.losses.circle(yb, pb, ref_labels=yb, ref_embeddings=pb)),
                               to_np(backend, pn.losses.circle(yb, pb)), rtol=1e-12)
    # Hand-computed for one pair: labels [0] vs refs [0, 1] (remove_diagonal=True would drop
    # the (0, 0) pair, as Keras does even with reference embeddings, leaving no positive).
    e = np.array([[1.0, 0.0]])
    r = np.array([[0.6, 0.8], [0.0, 1.0]])
    got = to_np(backend, pn.losses.circle(backend.asarray(np.array([0])), backend.asarray(e),
                                          ref_labels=backend.asarray(np.array([0, 1])),
                                          ref_embeddings=backend.asarray(r), gamma=2.0, margin=0.4,
                                          remove_diagonal=False))
    dpos, dneg = 1 - 0.6, 1 - 0.0
    a = -2.0 * max(0.4 + dpos, 0) * (0.4 - dpos)
    b = 2.0 * max(1.4 - dneg, 0) * (0.6 - dneg)
    np.testing.assert_allclose(got, [np.log1p(np.exp(a + b))], rtol=1e-12)


def test_ctc_ops_match_loss_and_decode(backend, float64):
    y, p, _ = ref.loss_inputs("ctc")
    lengths = (y != 0).sum(-1)
    per_seq = pn.ops.ctc_loss(backend.asarray(y), backend.asarray(p), backend.asarray(lengths),
                              backend.asarray(np.full(3, 8)))
    np.testing.assert_allclose(to_np(backend, per_seq), to_np(backend, pn.losses.ctc(
        backend.asarray(y), backend.asarray(p))), rtol=1e-12)
    # A shorter output_length ignores the steps past it (values and gradients).
    short = pn.ops.ctc_loss(backend.asarray(y), backend.asarray(p), backend.asarray(lengths),
                            backend.asarray(np.array([8, 5, 3])))
    cut = pn.ops.ctc_loss(backend.asarray(y[1:2]), backend.asarray(p[1:2, :5]), backend.asarray(lengths[1:2]),
                          backend.asarray(np.array([5])))
    np.testing.assert_allclose(to_np(backend, short)[1], to_np(backend, cut)[0], rtol=1e-12)
    # Greedy decoding: argmax path, repeats merged, blanks (0) removed, padded with -1.
    logits = np.full((1, 6, 4), -5.0)
    for t, c in enumerate([1, 1, 0, 1, 3, 3]):
        logits[0, t, c] = 5.0
    paths, scores = pn.ops.ctc_decode(backend.asarray(logits), backend.asarray(np.array([6])))
    np.testing.assert_array_equal(to_np(backend, paths), [[[1, 1, 3, -1, -1, -1]]])
    np.testing.assert_allclose(to_np(backend, scores), [[-30.0]])
    paths, scores = pn.ops.ctc_decode(backend.asarray(logits), backend.asarray(np.array([6])),
                                      strategy="beam_search", beam_width=5, top_paths=2)
    assert to_np(backend, paths).shape == (2, 1, 6)
    np.testing.assert_array_equal(to_np(backend, paths)[0], [[1, 1, 3, -1, -1, -1]])
    assert to_np(backend, scores)[0, 0] > to_np(backend, scores)[0, 1]


def test_trains_in_fit(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    labels = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0).astype("int64")
    y = np.eye(3, dtype="float32")[labels]
    for loss in (pn.losses.CategoricalFocalCrossentropy(), "categorical_generalized_cross_entropy"):
        pn.utils.set_random_seed(0)
        model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.05), loss=loss)
        target = labels if isinstance(loss, str) else y
        hist = model.fit(x, target, epochs=10, batch_size=16, verbose=0)
        assert hist.history["loss"][-1] < 0.7 * hist.history["loss"][0]


def test_ctc_dice_circle_train_in_fit(backend):
    rng = np.random.default_rng(0)
    # CTC: integer label sequences (N, L), 0 pads; logits (N, T, C) from a per-step Dense.
    x = rng.standard_normal((16, 6, 3)).astype("float32")
    y = rng.integers(1, 4, (16, 2))
    model = pn.Sequential([pn.Input((6, 3)), pn.layers.Dense(5)])
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.05), loss=pn.losses.CTC())
    hist = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    # Dice by name on multi-label targets.
    x2 = rng.standard_normal((32, 4)).astype("float32")
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.05), loss="dice")
    hist = model.fit(x2, (x2[:, :3] > 0).astype("float32"), epochs=5, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    # Circle: labels are ids of identities, not of output units (10 labels, 3-d embeddings).
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3)])
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.05), loss=pn.losses.Circle(gamma=10.0))
    hist = model.fit(x2, rng.integers(0, 10, 32), epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="gamma=-1"):
        pn.losses.CategoricalFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match="label_smoothing=2"):
        pn.losses.CategoricalFocalCrossentropy(label_smoothing=2)
    with pytest.raises(ValueError, match="q=1"):
        pn.losses.CategoricalGeneralizedCrossEntropy(q=1)
    with pytest.raises(ValueError, match="alpha='a'"):
        pn.losses.Tversky(alpha="a")
    with pytest.raises(ValueError, match="axis='x'"):
        pn.losses.Dice(axis="x")
    with pytest.raises(ValueError, match="margin=None"):
        pn.losses.Circle(margin=None)
    with pytest.raises(ValueError, match="y_pred.shape"):
        pn.losses.CTC()(np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3)))


# Left to other work of issue 16: LossScaleOptimizer (the mixed-precision helper), the
# optimizers.legacy module (TensorFlow's), OrbaxCheckpoint (a framework bridge).
NOT_HERE = {"optimizers": {"LossScaleOptimizer", "legacy"}, "callbacks": {"OrbaxCheckpoint"}}


@pytest.mark.parametrize("family", ["losses", "metrics", "optimizers", "activations", "callbacks"])
def test_every_keras_name_exists(family):
    module = getattr(pn, family)
    missing = [n for n in CONFIGS["names"][family]
               if n not in NOT_HERE.get(family, ()) and not hasattr(module, n)]
    assert not missing, f"pn.{family} lacks Keras's {missing}"


def test_ctc_ops_match_keras(backend, float64):
    # Keras's JAX ctc_loss runs in float32: 1e-5 here.
    target, logits, tl, ol = ref.ctc_ops_inputs()
    with pn.GradientTape() as tape:
        x = tape.watch(backend.asarray(logits, dtype="float64"))
        value = pn.ops.ctc_loss(backend.asarray(target), x, backend.asarray(tl), backend.asarray(ol))
        total = pn.ops.sum(value)
    np.testing.assert_allclose(to_np(backend, pn.ops.tape.value_of(value)), STORED["ops/ctc_loss/value"],
                               rtol=1e-5)
    np.testing.assert_allclose(to_np(backend, tape.gradient(total, x)), STORED["ops/ctc_loss/grad"],
                               rtol=1e-5, atol=1e-6)
    for name, kwargs in ref.DECODE_CASES.items():
        paths, scores = pn.ops.ctc_decode(backend.asarray(logits, dtype="float64"), backend.asarray(ol),
                                          **kwargs)
        np.testing.assert_array_equal(to_np(backend, paths), STORED[f"ops/ctc_decode/{name}/paths"],
                                      err_msg=name)
        np.testing.assert_allclose(to_np(backend, scores), STORED[f"ops/ctc_decode/{name}/scores"],
                                   rtol=1e-5, err_msg=name)
