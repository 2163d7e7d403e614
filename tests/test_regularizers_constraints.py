import numpy as np
import pytest

import portanet as pn
from harness import to_np

R, C = pn.regularizers, pn.constraints


def _fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        a, b = x.copy(), x.copy()
        a[idx] += eps
        b[idx] -= eps
        g[idx] = (f(a) - f(b)) / (2 * eps)
    return g


W = np.array([[0.5, -1.0, 2.0], [-0.25, 0.0, 1.5]])


@pytest.mark.parametrize("reg,expected", [
    (R.L1(), 0.01 * 5.25), (R.L1(0.3), 0.3 * 5.25), (R.L2(), 0.01 * 7.5625), (R.L2(0.2), 0.2 * 7.5625),
    (R.L1L2(), 0.0), (R.L1L2(l1=0.1, l2=0.2), 0.1 * 5.25 + 0.2 * 7.5625)])
def test_weight_regularizer_values_and_gradients(backend, reg, expected):
    w = backend.asarray(W)
    np.testing.assert_allclose(to_np(backend, reg(w)), expected, rtol=1e-12)
    x = np.random.default_rng(0).standard_normal((3, 4))
    analytic = to_np(backend, reg.grad(backend.asarray(x)))
    numeric = _fd(lambda v: float(to_np(backend, reg(backend.asarray(v)))), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_orthogonal_regularizer(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    for mode in ("rows", "columns"):
        reg = R.OrthogonalRegularizer(factor=0.5, mode=mode)
        m = x if mode == "rows" else x.T
        n = m / np.linalg.norm(m, axis=1, keepdims=True)
        gram = n @ n.T
        k = gram.shape[0]
        expected = 0.5 * np.sum(np.abs(gram - np.diag(np.diag(gram)))) / (k * (k - 1))
        np.testing.assert_allclose(to_np(backend, reg(backend.asarray(x))), expected, rtol=1e-12)
        analytic = to_np(backend, reg.grad(backend.asarray(x)))
        numeric = _fd(lambda v: float(to_np(backend, reg(backend.asarray(v)))), x)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    eye = R.OrthogonalRegularizer()(backend.asarray(np.eye(3)))
    assert float(to_np(backend, eye)) == 0.0


def test_regularizer_get_and_serialize():
    assert isinstance(R.get("l1"), R.L1) and R.get("l1").l1 == 0.01
    assert isinstance(R.get("l2"), R.L2) and R.get("L2").l2 == 0.01
    assert isinstance(R.get("l1_l2"), R.L1L2)
    for reg in (R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4), R.OrthogonalRegularizer(0.2, "columns")):
        again = R.deserialize(R.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    assert R.get(None) is None
    with pytest.raises(ValueError, match="l2=-0.1"):
        R.L2(-0.1)
    with pytest.raises(ValueError, match="l1=nan"):
        R.L1(float("nan"))
    with pytest.raises(ValueError, match="mode='diag'"):
        R.OrthogonalRegularizer(mode="diag")
    with pytest.raises(ValueError, match="unknown regularizer name 'l3'"):
        R.get("l3")


def _regression_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 3)).astype("float32")
    y = rng.standard_normal((16, 2)).astype("float32")
    return x, y


def test_dense_kernel_regularizer_adds_to_the_loss(backend):
    x, y = _regression_data()
    init = pn.initializers.RandomNormal(stddev=0.5, seed=7)
    plain = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, kernel_initializer=init, bias_initializer="ones")])
    init = pn.initializers.RandomNormal(stddev=0.5, seed=7)
    reg = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, kernel_initializer=init, bias_initializer="ones",
                                                         kernel_regularizer=R.L2(0.05),
                                                         bias_regularizer=R.L1(0.1))])
    for m in (plain, reg):
        m.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="mse")
    kernel, bias = reg.get_weights()
    np.testing.assert_array_equal(kernel, plain.get_weights()[0])
    penalty = 0.05 * np.sum(kernel.astype(np.float64) ** 2) + 0.1 * np.sum(np.abs(bias))
    # Not divided by the batch size: every batch carries the whole penalty.
    for bs in (16, 4):
        np.testing.assert_allclose(reg.evaluate(x, y, batch_size=bs, verbose=0),
                                   plain.evaluate(x, y, batch_size=bs, verbose=0) + penalty, rtol=1e-5)
    h = reg.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], plain.evaluate(x, y, verbose=0) + penalty, rtol=1e-5)


def test_regularizer_gradient_in_a_training_step(backend):
    x, y = _regression_data(1)
    lr = 0.1
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, kernel_regularizer=R.L2(0.5))])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=lr), loss="mse")
    k0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    out = x @ k0 + b0
    d = 2 * (out - y) / out.size
    k_expected = k0 - lr * (x.T @ d + 2 * 0.5 * k0)
    b_expected = b0 - lr * d.sum(0)
    k1, b1 = model.get_weights()
    np.testing.assert_allclose(k1, k_expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b_expected, rtol=1e-5, atol=1e-6)


def test_dense_activity_regularizer(backend):
    x, y = _regression_data(2)
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, kernel_initializer="ones",
                                                           activity_regularizer=R.L2(0.1))])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="mse")
    k, b = model.get_weights()
    out = x @ k + b
    expected = np.mean((out - y) ** 2) + 0.1 * np.sum(out ** 2) / 16
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=16, verbose=0), expected, rtol=1e-5)


# ----------------------------------------------------------------- constraints
def test_constraint_values(backend):
    w = backend.asarray(np.array([[3.0, 0.1], [4.0, -0.2]]))   # column norms 5 and ~0.2236
    n1 = np.sqrt(0.05)
    np.testing.assert_allclose(to_np(backend, C.MaxNorm(2.0)(w)),
                               [[3 * 2 / (5 + 1e-7), 0.1 * n1 / (n1 + 1e-7)],
                                [4 * 2 / (5 + 1e-7), -0.2 * n1 / (n1 + 1e-7)]], rtol=1e-10)
    np.testing.assert_allclose(to_np(backend, C.NonNeg()(w)), [[3.0, 0.1], [4.0, 0.0]])
    unit = to_np(backend, C.UnitNorm()(w))
    np.testing.assert_allclose(np.linalg.norm(unit, axis=0), [1.0, 1.0], rtol=1e-6)
    rows = to_np(backend, C.UnitNorm(axis=1)(w))
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), [1.0, 1.0], rtol=1e-6)
    mm = to_np(backend, C.MinMaxNorm(min_value=0.5, max_value=1.0)(w))
    np.testing.assert_allclose(np.linalg.norm(mm, axis=0), [1.0, 0.5], rtol=1e-5)
    half = to_np(backend, C.MinMaxNorm(min_value=0.0, max_value=1.0, rate=0.5)(w))
    np.testing.assert_allclose(np.linalg.norm(half, axis=0)[0], 0.5 * 1.0 + 0.5 * 5.0, rtol=1e-6)


@pytest.mark.parametrize("constraint,check", [
    (C.NonNeg(), lambda k: np.all(k >= 0)),
    (C.MaxNorm(0.5), lambda k: np.all(np.linalg.norm(k, axis=0) <= 0.5 + 1e-6)),
    (C.UnitNorm(), lambda k: np.allclose(np.linalg.norm(k, axis=0), 1.0, atol=1e-5)),
    (C.MinMaxNorm(0.8, 1.2), lambda k: np.all((np.linalg.norm(k, axis=0) >= 0.8 - 1e-5)
                                               & (np.linalg.norm(k, axis=0) <= 1.2 + 1e-5)))])
def test_kernel_constraint_holds_after_fit(backend, constraint, check):
    x, y = _regression_data(3)
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, kernel_constraint=constraint,
                                                           bias_constraint=C.NonNeg())])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.5), loss="mse")
    before = model.get_weights()[0]
    model.fit(x, y * 10, batch_size=4, epochs=2, verbose=0)
    kernel, bias = model.get_weights()
    assert not np.allclose(kernel, before)
    assert check(kernel.astype(np.float64))
    assert np.all(bias >= 0)


def test_constraint_get_serialize_and_bad_arguments():
    assert isinstance(C.get("non_neg"), C.NonNeg) and isinstance(C.get("NonNeg"), C.NonNeg)
    assert isinstance(C.get("max_norm"), C.MaxNorm) and C.get("max_norm").max_value == 2.0
    assert isinstance(C.get("unit_norm"), C.UnitNorm) and isinstance(C.get("min_max_norm"), C.MinMaxNorm)
    for c in (C.MaxNorm(3.0, axis=1), C.MinMaxNorm(0.2, 0.9, 0.5, 1), C.NonNeg(), C.UnitNorm(axis=[0, 1])):
        again = C.deserialize(C.serialize(c))
        assert type(again) is type(c) and again.get_config() == c.get_config()
    dense = pn.layers.Dense(2, kernel_constraint="max_norm", kernel_regularizer="l2")
    again = pn.layers.Dense.from_config(dense.get_config())
    assert isinstance(again.kernel_constraint, C.MaxNorm) and isinstance(again.kernel_regularizer, R.L2)
    with pytest.raises(ValueError, match="max_value=0"):
        C.MaxNorm(0)
    with pytest.raises(ValueError, match="min_value=2"):
        C.MinMaxNorm(min_value=2, max_value=1)
    with pytest.raises(ValueError, match="unknown constraint name 'positive'"):
        C.get("positive")
