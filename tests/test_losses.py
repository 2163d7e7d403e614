import math
import zlib

import numpy as np
import pytest

import portanet as pn
from harness import to_np

EPS = 1e-7


# ----------------------------------------------------------------- NumPy references (Keras formulas)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_mape(y, p):
    return 100.0 * np.mean(np.abs(y - p) / np.maximum(np.abs(y), EPS), axis=-1)


def ref_msle(y, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(y, EPS) + 1)) ** 2, axis=-1)


def ref_huber(y, p, delta=1.0):
    e = p - y
    return np.mean(np.where(np.abs(e) <= delta, 0.5 * e ** 2, delta * np.abs(e) - 0.5 * delta ** 2), axis=-1)


def ref_log_cosh(y, p):
    return np.mean(np.log(np.cosh(p - y)), axis=-1)


def ref_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(y * np.log(y / p), axis=-1)


def ref_poisson(y, p):
    return np.mean(p - y * np.log(p + EPS), axis=-1)


def _hinge_y(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


def ref_hinge(y, p):
    return np.mean(np.maximum(1 - _hinge_y(y) * p, 0), axis=-1)


def ref_squared_hinge(y, p):
    return np.mean(np.maximum(1 - _hinge_y(y) * p, 0) ** 2, axis=-1)


def ref_categorical_hinge(y, p):
    return np.maximum(np.max((1 - y) * p, axis=-1) - np.sum(y * p, axis=-1) + 1, 0)


def ref_cosine(y, p, axis=-1):
    yn = y / np.sqrt(np.sum(y * y, axis=axis, keepdims=True))
    pn_ = p / np.sqrt(np.sum(p * p, axis=axis, keepdims=True))
    return -np.sum(yn * pn_, axis=axis)


def ref_focal(y, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
              label_smoothing=0.0):
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = _sigmoid(p)
    pc = np.clip(p, EPS, 1 - EPS)
    bce = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    p_t = y * p + (1 - y) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        out = (y * alpha + (1 - y) * (1 - alpha)) * out
    return np.mean(out, axis=-1)


def ref_bce(y, p, from_logits=False, label_smoothing=0.0):
    return ref_focal(y, p, gamma=0.0, from_logits=from_logits, label_smoothing=label_smoothing)


def ref_cce(y, p, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        z = p - p.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    else:
        logp = np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))
    return -np.sum(y * logp, axis=-1)


def _data(kind, rng, shape=(5, 4)):
    """(y_true, y_pred) in the domain where each loss is smooth and meaningful."""
    if kind == "regression":
        return rng.standard_normal(shape), rng.standard_normal(shape)
    if kind == "positive":
        return rng.uniform(0.1, 3.0, shape), rng.uniform(0.1, 3.0, shape)
    if kind == "probs":
        y = rng.uniform(0.05, 1.0, shape)
        p = rng.uniform(0.05, 1.0, shape)
        return y / y.sum(-1, keepdims=True), p / p.sum(-1, keepdims=True)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(float), rng.uniform(0.05, 0.95, shape)
    if kind == "binary_logits":
        return rng.integers(0, 2, shape).astype(float), rng.standard_normal(shape) * 2
    if kind == "signs":
        return rng.choice([-1.0, 1.0], shape), rng.standard_normal(shape)
    if kind == "one_hot":
        y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[0])]
        return y, rng.standard_normal(shape)
    if kind == "one_hot_probs":
        y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[0])]
        p = rng.uniform(0.05, 1.0, shape)
        return y, p / p.sum(-1, keepdims=True)
    raise AssertionError(kind)


# (name, factory, reference, data kind)
CASES = [
    ("mape", lambda: pn.losses.MeanAbsolutePercentageError(), ref_mape, "regression"),
    ("msle", lambda: pn.losses.MeanSquaredLogarithmicError(), ref_msle, "positive"),
    ("huber", lambda: pn.losses.Huber(), ref_huber, "regression"),
    ("huber_delta", lambda: pn.losses.Huber(delta=0.3), lambda y, p: ref_huber(y, p, 0.3), "regression"),
    ("log_cosh", lambda: pn.losses.LogCosh(), ref_log_cosh, "regression"),
    ("kld", lambda: pn.losses.KLDivergence(), ref_kld, "probs"),
    ("poisson", lambda: pn.losses.Poisson(), ref_poisson, "positive"),
    ("hinge_signs", lambda: pn.losses.Hinge(), ref_hinge, "signs"),
    ("hinge_binary", lambda: pn.losses.Hinge(), ref_hinge, "binary_logits"),
    ("squared_hinge", lambda: pn.losses.SquaredHinge(), ref_squared_hinge, "binary_logits"),
    ("categorical_hinge", lambda: pn.losses.CategoricalHinge(), ref_categorical_hinge, "one_hot"),
    ("cosine", lambda: pn.losses.CosineSimilarity(), ref_cosine, "regression"),
    ("cosine_axis0", lambda: pn.losses.CosineSimilarity(axis=0), lambda y, p: ref_cosine(y, p, 0), "regression"),
    ("focal", lambda: pn.losses.BinaryFocalCrossentropy(), ref_focal, "binary"),
    ("focal_balanced", lambda: pn.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5),
     lambda y, p: ref_focal(y, p, True, 0.3, 1.5), "binary"),
    ("focal_logits_smooth", lambda: pn.losses.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.2),
     lambda y, p: ref_focal(y, p, from_logits=True, label_smoothing=0.2), "binary_logits"),
    ("focal_gamma0", lambda: pn.losses.BinaryFocalCrossentropy(gamma=0.0), ref_bce, "binary"),
    ("bce", lambda: pn.losses.BinaryCrossentropy(), ref_bce, "binary"),
    ("bce_logits", lambda: pn.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     lambda y, p: ref_bce(y, p, True, 0.1), "binary_logits"),
    ("cce", lambda: pn.losses.CategoricalCrossentropy(), ref_cce, "one_hot_probs"),
    ("cce_logits", lambda: pn.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
     lambda y, p: ref_cce(y, p, True, 0.1), "one_hot"),
    ("mse", lambda: pn.losses.MeanSquaredError(), lambda y, p: np.mean((y - p) ** 2, -1), "regression"),
    ("mae", lambda: pn.losses.MeanAbsoluteError(), lambda y, p: np.mean(np.abs(y - p), -1), "regression"),
]


def _fd_grad(loss, backend, y, p, sw=None, eps=1e-6):
    def f(pp):
        args = (backend.asarray(y), backend.asarray(pp))
        w = None if sw is None else backend.asarray(sw)
        return float(to_np(backend, loss(*args, sample_weight=w)))
    g = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        a, b = p.copy(), p.copy()
        a[idx] += eps
        b[idx] -= eps
        g[idx] = (f(a) - f(b)) / (2 * eps)
    return g


@pytest.mark.parametrize("name,make,ref,kind", CASES, ids=[c[0] for c in CASES])
def test_loss_values_and_gradients(backend, name, make, ref, kind):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    y, p = _data(kind, rng)
    loss = make()
    per = to_np(backend, loss.call(backend.asarray(y), backend.asarray(p)))
    np.testing.assert_allclose(per, ref(y, p), rtol=1e-10, atol=1e-12)
    # Default reduction: sum_over_batch_size = mean of the per-sample values.
    value = float(to_np(backend, loss(backend.asarray(y), backend.asarray(p))))
    np.testing.assert_allclose(value, np.mean(ref(y, p)), rtol=1e-10)
    # Exact gradient of the reduced loss (with sample weights) vs float64 central differences.
    sw = rng.uniform(0.2, 2.0, per.shape[0]) if name != "cosine_axis0" else None
    _, back = loss.forward(backend.asarray(y), backend.asarray(p),
                           None if sw is None else backend.asarray(sw))
    analytic = to_np(backend, back(1.0))
    numeric = _fd_grad(loss, backend, y, p, sw)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_hand_computed_values(backend):
    a = backend.asarray
    y = np.array([[0.0, 1.0]])
    np.testing.assert_allclose(to_np(backend, pn.losses.Huber()(a(y), a(np.array([[2.0, 1.5]])))), 0.8125)
    np.testing.assert_allclose(
        to_np(backend, pn.losses.MeanAbsolutePercentageError()(a(np.array([[2.0, -4.0]])),
                                                               a(np.array([[1.0, -5.0]])))), 37.5)
    # Hinge with 0/1 labels: y -> -1, 1; max(1 - (-1)(0.5), 0)=1.5, max(1 - 0.3, 0)=0.7.
    np.testing.assert_allclose(to_np(backend, pn.losses.Hinge()(a(y), a(np.array([[0.5, 0.3]])))), 1.1)
    # Labels not all 0/1 are used as they are: max(1 - 2·0.5, 0)=0, max(1 - 1·0.3, 0)=0.7.
    np.testing.assert_allclose(to_np(backend, pn.losses.Hinge()(a(np.array([[2.0, 1.0]])),
                                                                a(np.array([[0.5, 0.3]])))), 0.35)
    # Categorical hinge: pos = 0.2, neg = max(0.7, 0.1) = 0.7 -> 1.5.
    np.testing.assert_allclose(to_np(backend, pn.losses.CategoricalHinge()(
        a(np.array([[0.0, 1.0, 0.0]])), a(np.array([[0.7, 0.2, 0.1]])))), 1.5)
    # Cosine similarity of parallel vectors is -1, of orthogonal ones 0.
    np.testing.assert_allclose(to_np(backend, pn.losses.cosine_similarity(
        a(np.array([[1.0, 2.0], [1.0, 0.0]])), a(np.array([[2.0, 4.0], [0.0, 3.0]])))), [-1.0, 0.0])
    # KLD of equal distributions is 0; Poisson of p = y = 1: 1 - log(1 + EPS).
    np.testing.assert_allclose(to_np(backend, pn.losses.kld(a(np.array([[0.3, 0.7]])),
                                                            a(np.array([[0.3, 0.7]])))), [0.0], atol=1e-12)
    np.testing.assert_allclose(to_np(backend, pn.losses.poisson(a(np.array([[1.0]])), a(np.array([[1.0]])))),
                               [1.0 - math.log(1 + EPS)])
    # Focal: y=1, p=0.9 -> (0.1)^2·(-log 0.9).
    np.testing.assert_allclose(to_np(backend, pn.losses.binary_focal_crossentropy(
        a(np.array([[1.0]])), a(np.array([[0.9]])))), [0.01 * -math.log(0.9)], rtol=1e-12)


def test_reductions_with_sample_weight(backend):
    rng = np.random.default_rng(3)
    y, p = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    sw = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0])
    per = np.mean((y - p) ** 2, -1)
    a = backend.asarray
    expected = {"sum_over_batch_size": np.sum(per * sw) / 6, "sum": np.sum(per * sw),
                "mean": np.sum(per * sw) / 6, "mean_with_sample_weight": np.sum(per * sw) / sw.sum(),
                "none": per * sw}
    for reduction, exp in expected.items():
        loss = pn.losses.MeanSquaredError(reduction=reduction)
        np.testing.assert_allclose(to_np(backend, loss(a(y), a(p), sample_weight=a(sw))), exp, rtol=1e-12)
        _, back = loss.forward(a(y), a(p), a(sw))
        scale = {"sum_over_batch_size": 1 / 6, "mean": 1 / 6, "sum": 1.0,
                 "mean_with_sample_weight": 1 / sw.sum(), "none": 1.0}[reduction]
        np.testing.assert_allclose(to_np(backend, back(1.0)), (2 / 3) * (p - y) * sw[:, None] * scale,
                                   rtol=1e-12)
    # (N, 1) weights are squeezed to the (N,) losses; all-zero weights give 0, not NaN.
    loss = pn.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    np.testing.assert_allclose(to_np(backend, loss(a(y), a(p), sample_weight=a(sw[:, None]))),
                               np.sum(per * sw) / sw.sum(), rtol=1e-12)
    assert float(to_np(backend, loss(a(y), a(p), sample_weight=a(np.zeros(6))))) == 0.0
    # Without weights, mean_with_sample_weight is the plain mean.
    np.testing.assert_allclose(to_np(backend, loss(a(y), a(p))), per.mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="reduction='avg'"):
        pn.losses.MeanSquaredError(reduction="avg")


def test_rank_alignment(backend):
    a = backend.asarray
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([[0.8], [0.3], [0.6]])
    v = to_np(backend, pn.losses.Huber()(a(y), a(p)))
    np.testing.assert_allclose(v, np.mean(0.5 * (p[:, 0] - y) ** 2))


def test_string_aliases_and_functions():
    L = pn.losses
    table = {"mape": L.MeanAbsolutePercentageError, "MAPE": L.MeanAbsolutePercentageError,
             "mean_absolute_percentage_error": L.MeanAbsolutePercentageError,
             "msle": L.MeanSquaredLogarithmicError, "MSLE": L.MeanSquaredLogarithmicError,
             "mean_squared_logarithmic_error": L.MeanSquaredLogarithmicError,
             "huber": L.Huber, "Huber": L.Huber, "log_cosh": L.LogCosh, "logcosh": L.LogCosh,
             "kld": L.KLDivergence, "KLD": L.KLDivergence, "kl_divergence": L.KLDivergence,
             "kullback_leibler_divergence": L.KLDivergence, "poisson": L.Poisson, "hinge": L.Hinge,
             "squared_hinge": L.SquaredHinge, "categorical_hinge": L.CategoricalHinge,
             "cosine_similarity": L.CosineSimilarity, "binary_focal_crossentropy": L.BinaryFocalCrossentropy,
             "bce": L.BinaryCrossentropy, "mse": L.MeanSquaredError, "mae": L.MeanAbsoluteError,
             "categorical_crossentropy": L.CategoricalCrossentropy,
             "sparse_categorical_crossentropy": L.SparseCategoricalCrossentropy}
    for name, cls in table.items():
        assert type(L.get(name)) is cls, name
    # The functional forms train through their classes.
    for fn, cls in [(L.huber, L.Huber), (L.log_cosh, L.LogCosh), (L.kl_divergence, L.KLDivergence),
                    (L.mape, L.MeanAbsolutePercentageError), (L.msle, L.MeanSquaredLogarithmicError),
                    (L.poisson, L.Poisson), (L.hinge, L.Hinge), (L.squared_hinge, L.SquaredHinge),
                    (L.categorical_hinge, L.CategoricalHinge), (L.cosine_similarity, L.CosineSimilarity),
                    (L.binary_focal_crossentropy, L.BinaryFocalCrossentropy)]:
        assert type(L.get(fn)) is cls
    assert L.huber.__name__ == "huber"
    with pytest.raises(ValueError, match="unknown loss name 'hubber'.*huber"):
        L.get("hubber")


@pytest.mark.parametrize("loss", [
    pn.losses.Huber(delta=2.5, reduction="sum"), pn.losses.CosineSimilarity(axis=0),
    pn.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=3.0, from_logits=True,
                                      label_smoothing=0.1),
    pn.losses.KLDivergence(reduction="none", name="kl"), pn.losses.LogCosh(), pn.losses.Poisson(),
    pn.losses.MeanAbsolutePercentageError(), pn.losses.MeanSquaredLogarithmicError(),
    pn.losses.Hinge(), pn.losses.SquaredHinge(), pn.losses.CategoricalHinge()])
def test_config_round_trip(loss):
    again = pn.losses.deserialize(pn.losses.serialize(loss))
    assert type(again) is type(loss)
    assert again.get_config() == loss.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="delta=0"):
        pn.losses.Huber(delta=0)
    with pytest.raises(ValueError, match="gamma=-1"):
        pn.losses.BinaryFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match="alpha=1.5"):
        pn.losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ValueError, match="label_smoothing=2"):
        pn.losses.BinaryFocalCrossentropy(label_smoothing=2)
    with pytest.raises(TypeError, match="axis"):
        pn.losses.CosineSimilarity(axis="last")


# ----------------------------------------------------------------- in fit / evaluate
def _linear_model(backend, loss, lr=0.0, out=1):
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(out, kernel_initializer="ones")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=lr), loss=loss)
    return model


def test_custom_loss_function_in_fit(backend):
    def quartic(y_true, y_pred):
        xp = pn.backend.current().xp
        d = y_pred - y_true
        return xp.mean(d ** 4, axis=-1)
    quartic.grad = lambda y_true, y_pred, dl: dl[..., None] * 4 * (y_pred - y_true) ** 3 / y_pred.shape[-1]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype("float32")
    y = (x @ np.array([[0.5], [-1.0], [0.25]])).astype("float32")
    model = _linear_model(backend, quartic)
    w = model.get_weights()
    expected = np.mean((x @ w[0] + w[1] - y) ** 4)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.01), loss=quartic)
    hist = model.fit(x, y, epochs=8, batch_size=8, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    # A custom function without a gradient is differentiated by the tape (tests/test_custom.py
    # trains with one); it resolves to a wrapper without a hand-written gradient.
    wrapper = pn.losses.get(lambda y_true, y_pred: y_pred)
    assert isinstance(wrapper, pn.losses.LossFunctionWrapper) and wrapper.grad is None


def test_fit_sample_weight_and_class_weight_follow_keras_formula(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 3)).astype("float32")
    y = rng.integers(0, 2, (10, 1)).astype("float32")
    model = _linear_model(backend, "mse")   # lr=0: the weights never move
    w = model.get_weights()
    per = ((x @ w[0] + w[1] - y) ** 2)[:, 0]
    sw = rng.uniform(0.0, 3.0, 10).astype("float32")
    # One batch: loss = Σ w·ℓ / N (N = batch size, not Σw).
    h = model.fit(x, y, sample_weight=sw, batch_size=10, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(h.history["loss"][0], np.sum(sw * per) / 10, rtol=1e-5)
    # Two batches of 5: the epoch loss is the batch-size-weighted mean of the batch losses.
    h = model.fit(x, y, sample_weight=sw, batch_size=5, epochs=1, verbose=0, shuffle=False)
    b1, b2 = np.sum(sw[:5] * per[:5]) / 5, np.sum(sw[5:] * per[5:]) / 5
    np.testing.assert_allclose(h.history["loss"][0], (5 * b1 + 5 * b2) / 10, rtol=1e-5)
    # class_weight: each sample weighs its class's weight.
    cw = {0: 0.25, 1: 4.0}
    h = model.fit(x, y, class_weight=cw, batch_size=10, epochs=1, verbose=0, shuffle=False)
    wc = np.where(y[:, 0] == 1, 4.0, 0.25)
    np.testing.assert_allclose(h.history["loss"][0], np.sum(wc * per) / 10, rtol=1e-5)
    # evaluate with sample_weight, and weights change the result.
    ev = model.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0)
    np.testing.assert_allclose(ev, np.sum(sw * per) / 10, rtol=1e-5)
    assert abs(model.evaluate(x, y, batch_size=10, verbose=0) - ev) > 1e-3
    # Samples of weight 0 contribute no gradient: training on them leaves the weights as they are.
    model2 = _linear_model(backend, "mse", lr=0.05)
    before = model2.get_weights()
    model2.fit(x[:5], y[:5], sample_weight=np.zeros(5, "float32"), batch_size=5, epochs=3, verbose=0)
    for a, b in zip(before, model2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sparse_and_categorical_class_weight(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy")
    probs = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(np.clip(probs[np.arange(8), labels] / probs.sum(-1), EPS, 1 - EPS))
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    h = model.fit(x, np.eye(3, dtype="float32")[labels], class_weight=cw, batch_size=8, verbose=0)
    wts = np.array([cw[c] for c in labels])
    np.testing.assert_allclose(h.history["loss"][0], np.sum(wts * per) / 8, rtol=1e-5)


@pytest.mark.parametrize("loss,activation,target", [
    ("mape", None, "positive"), ("msle", "softplus", "positive"), ("huber", None, "regression"),
    ("log_cosh", None, "regression"), ("kld", "softmax", "probs"), ("poisson", "softplus", "positive"),
    ("hinge", None, "binary"), ("squared_hinge", None, "binary"), ("categorical_hinge", None, "one_hot"),
    ("cosine_similarity", None, "regression"), ("binary_focal_crossentropy", "sigmoid", "binary")])
def test_every_loss_trains_by_its_string_name(backend, loss, activation, target):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 4)).astype("float32")
    w = rng.standard_normal((4, 3))
    z = x @ w
    y = {"positive": np.exp(0.3 * z), "regression": z, "probs": np.exp(z) / np.exp(z).sum(1, keepdims=True),
         "binary": (z > 0).astype(float), "one_hot": np.eye(3)[z.argmax(1)]}[target].astype("float32")
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation=activation)])
    # MAPE's gradient is 100/|y| times the others': the same rate would overshoot it.
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.005 if loss == "mape" else 0.05), loss=loss)
    h = model.fit(x, y, epochs=6, batch_size=8, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))
    assert h.history["loss"][-1] < h.history["loss"][0]


# ------------------------------------------------------------- ignore_class, against Keras
# Keras 3.15.1 (JAX) printed these for SparseCategoricalCrossentropy(ignore_class=255) on
# IGN_Y / IGN_P (float32 results; the weights are IGN_W). The ignored entries are masked:
# their loss is 0 and "sum_over_batch_size" divides by the 3 valid entries, not by 5.
IGN_Y = np.array([1, 2, 255, 0, 255])
IGN_P = np.array([[0.05, 0.9, 0.05], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1],
                  [0.3, 0.3, 0.4]])
IGN_W = np.array([1.0, 2.0, 3.0, 0.5, 1.0])
KERAS_IGNORE = {
    "sum_over_batch_size": (0.3242870271205902, 0.43511638045310974),
    "sum": (0.972861111164093, 1.3053491115570068),
    "none": ([0.10536054521799088, 0.5108255743980408, 0.0, 0.3566749691963196, 0.0],
             [0.10536054521799088, 1.0216511487960815, 0.0, 0.1783374845981598, 0.0]),
}


@pytest.mark.parametrize("reduction", sorted(KERAS_IGNORE))
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_ignore_class_matches_keras(backend, reduction, from_logits):
    p = np.log(IGN_P) + 0.3 if from_logits else IGN_P
    loss = pn.losses.SparseCategoricalCrossentropy(ignore_class=255, reduction=reduction,
                                                   from_logits=from_logits)
    plain, weighted = KERAS_IGNORE[reduction]
    y, pb = backend.asarray(IGN_Y), backend.asarray(p)
    np.testing.assert_allclose(to_np(backend, loss(y, pb)), plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_np(backend, loss(y, pb, sample_weight=backend.asarray(IGN_W))),
                               weighted, rtol=1e-6, atol=1e-7)
    # By hand: the valid entries' -log p[label] are -log 0.9, -log 0.6, -log 0.7.
    if reduction == "sum_over_batch_size":
        assert float(to_np(backend, loss(y, pb))) == pytest.approx(
            -(np.log(0.9) + np.log(0.6) + np.log(0.7)) / 3, rel=1e-12)


def test_sparse_categorical_ignore_class_gradient_and_segmentation(backend):
    # Keras's gradient of the default reduction w.r.t. the logits (jax.grad): (softmax -
    # onehot) / 3 on the valid rows, 0 on the ignored ones.
    keras_grad = [[0.01666666381061077, -0.03333336114883423, 0.01666666381061077],
                  [0.03333333507180214, 0.10000000894069672, -0.13333332538604736],
                  [0.0, 0.0, 0.0],
                  [-0.10000000894069672, 0.06666667014360428, 0.03333333134651184],
                  [0.0, 0.0, 0.0]]
    loss = pn.losses.SparseCategoricalCrossentropy(ignore_class=255, from_logits=True)
    _, backward = loss.forward(backend.asarray(IGN_Y), backend.asarray(np.log(IGN_P) + 0.3))
    np.testing.assert_allclose(to_np(backend, backward()), keras_grad, rtol=1e-6, atol=1e-7)
    # Segmentation maps (Keras 3.15.1: 2.537555694580078 for these Dirichlet probabilities).
    ps = np.random.default_rng(0).dirichlet([1, 1, 1], size=(2, 2, 2))
    ys = np.array([[[0, 1], [255, 2]], [[2, 255], [1, 0]]])
    seg = pn.losses.SparseCategoricalCrossentropy(ignore_class=255)
    np.testing.assert_allclose(to_np(backend, seg(backend.asarray(ys), backend.asarray(ps))),
                               2.537555694580078, rtol=1e-6)
    # ignore_class=-1 (a negative id) and every entry ignored: the mean is 0, as Keras's
    # divide_no_nan.
    neg = pn.losses.SparseCategoricalCrossentropy(ignore_class=-1)
    y_neg = backend.asarray(np.where(IGN_Y == 255, -1, IGN_Y))
    np.testing.assert_allclose(to_np(backend, neg(y_neg, backend.asarray(IGN_P))),
                               KERAS_IGNORE["sum_over_batch_size"][0], rtol=1e-6)
    everything = backend.asarray(np.full(5, -1))
    assert float(to_np(backend, neg(everything, backend.asarray(IGN_P)))) == 0.0


def test_sparse_categorical_ignore_class_in_fit(backend):
    """fit's loss is the masked mean: one SGD step on a bias-only softmax model moves the
    logits by -lr · Σ_valid (softmax - onehot) / valid."""
    model = pn.Sequential([pn.Input((2,)), pn.layers.Dense(3, kernel_initializer="zeros",
                                                           bias_initializer="zeros")])
    model.compile(optimizer=pn.optimizers.SGD(1.0),
                  loss=pn.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=9))
    x = np.zeros((4, 2), "float32")
    y = np.array([0, 9, 0, 1])
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(np.log(3.0), rel=1e-6)
    # Valid labels 0, 0, 1 with softmax 1/3 each: gradient (1/3 - [2, 1, 0]/3) = [-1/3, 0, 1/3].
    np.testing.assert_allclose(model.layers[0].bias.numpy(), [1 / 3, 0.0, -1 / 3], atol=1e-6)
