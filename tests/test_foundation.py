"""Issue 2: the Sequential training loop end to end, on every backend."""

import re

import numpy as np
import pytest

import portanet as pn
from harness import to_np


def _blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, size=n)
    x = (centers[y] + rng.normal(0, 0.6, size=(n, 2))).astype("float32")
    return x, y


def _model(units=16, out=3, act="softmax"):
    return pn.Sequential([pn.Input((2,)), pn.layers.Dense(units, activation="relu"),
                          pn.layers.Dense(out, activation=act)])


def test_fit_learns_and_history_has_keras_keys(backend):
    x, y = _blobs()
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, batch_size=16, epochs=15, verbose=0, validation_split=0.25)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.epoch == list(range(15))
    assert all(len(v) == 15 for v in h.history.values())
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["val_accuracy"][-1] >= 0.9
    # the per-iteration loss: ceil(180 / 16) = 12 batches per epoch
    assert len(h.batch_history["loss"]) == 15 * 12
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc >= 0.9
    p = model.predict(x[:5], verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (5, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_history_loss_is_batch_size_weighted_mean(backend):
    """Keras: History 'loss' = Σ n_b·L_b / Σ n_b over the epoch, L_b before that batch's update."""
    x, y = _blobs(n=10)
    model = _model()
    model.compile(optimizer=pn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    per_batch = [model.test_on_batch(x[i:i + 4], y[i:i + 4]) for i in (0, 4, 8)]
    expected = (4 * per_batch[0] + 4 * per_batch[1] + 2 * per_batch[2]) / 10
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert h.batch_history["loss"] == pytest.approx(per_batch, rel=1e-5)


def test_sgd_batch_size_one_and_full_batch(backend):
    x, y = _blobs(n=60)
    for bs in (1, len(x)):
        pn.utils.set_random_seed(1)
        model = _model()
        model.compile(optimizer=pn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        h = model.fit(x, y, batch_size=bs, epochs=3 if bs == 1 else 60, verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0]


def test_full_batch_gradient_is_the_average(backend, float64):
    """batch_size=len(x) with sum_over_batch_size takes the mean gradient; 'sum' the sum."""
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[2.0], [4.0], [6.0]])
    for reduction, factor in (("sum_over_batch_size", 1 / 3), ("sum", 1.0)):
        model = pn.Sequential([pn.Input((1,)), pn.layers.Dense(1, kernel_initializer="zeros")])
        model.compile(optimizer=pn.optimizers.SGD(0.1), loss=pn.losses.MeanSquaredError(reduction=reduction))
        model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
        # dL/dw = factor · Σ 2(w·x - y)·x = factor · (-2)(2+8+18) = -56·factor
        w, b = model.get_weights()
        assert w[0, 0] == pytest.approx(0.1 * 56 * factor)
        assert b[0] == pytest.approx(0.1 * 2 * 12 * factor)


def test_get_set_weights_keras_order_and_copy(backend):
    model = _model(units=4)
    ws = model.get_weights()
    assert [w.shape for w in ws] == [(2, 4), (4,), (4, 3), (3,)]
    ws[0][...] = 7.0   # host copies: changing them does not change the model
    assert not np.all(model.get_weights()[0] == 7.0)
    new = [np.full(w.shape, i, dtype="float32") for i, w in enumerate(ws)]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)


def test_on_batch_api(backend):
    x, y = _blobs(n=32)
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    loss = model.train_on_batch(x, y, return_dict=True)
    assert set(loss) == {"loss", "accuracy"}
    assert loss["loss"] == pytest.approx(before[0], rel=1e-5)   # logged before the update
    assert model.test_on_batch(x, y)[0] < before[0]
    np.testing.assert_allclose(model.predict_on_batch(x[:3]), model.predict(x[:3], verbose=0), rtol=1e-6)


def test_build_on_first_data_and_add_pop(backend):
    model = pn.Sequential()
    model.add(pn.layers.Dense(4, activation="relu"))
    model.add(pn.layers.Dense(1))
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    h = model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    assert model.input_shapes == [(None, 3)]
    popped = model.pop()
    assert popped.units == 1 and len(model.layers) == 1


def test_validation_split_takes_last_rows_unshuffled(backend):
    x = np.arange(10, dtype="float32").reshape(10, 1)
    y = np.zeros((10, 1), "float32")
    model = pn.Sequential([pn.Input((1,)), pn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=pn.optimizers.SGD(0.0), loss="mse")
    h = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx((8.0 ** 2 + 9.0 ** 2) / 2)
    h = model.fit(x, y, validation_data=(x[:2], y[:2]), epochs=1, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(0.5)


def test_verbose_modes(backend, capsys):
    x, y = _blobs(n=40)
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert out.count("loss:") == 2 and "accuracy:" in out and "2/2 -" in out
    model.fit(x, y, epochs=1, verbose=1)
    captured = capsys.readouterr()
    # Keras 3 prints "Epoch i/N" only when N > 1; the bar ends on "2/2 ━━━...".
    assert "Epoch" not in captured.out and "loss:" in captured.out + captured.err
    # As Keras on POSIX, the bar is redrawn after "\\r" with ANSI codes: its final state.
    final = re.sub(r"\x1b\[[0-9;]*m", "", captured.out.splitlines()[-1].split("\r")[-1])
    assert final.startswith("2/2 " + "\u2501" * 20)


def test_accuracy_resolution_follows_keras():
    assert pn.metrics.resolve_accuracy((8,), (8, 1)) is pn.metrics.BinaryAccuracy
    assert pn.metrics.resolve_accuracy((8,), (8, 3)) is pn.metrics.SparseCategoricalAccuracy
    assert pn.metrics.resolve_accuracy((8, 1), (8, 3)) is pn.metrics.SparseCategoricalAccuracy
    assert pn.metrics.resolve_accuracy((8, 3), (8, 3)) is pn.metrics.CategoricalAccuracy


def test_binary_and_categorical_training(backend):
    x, y = _blobs()
    yb = (y == 0).astype("float32")
    model = _model(out=1, act="sigmoid")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, yb, epochs=10, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    model = _model()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, pn.utils.to_categorical(y, 3), epochs=10, verbose=0)
    assert h.history["accuracy"][-1] > 0.9


def _train_history(name):
    with pn.use_backend(name):
        pn.utils.set_random_seed(42)
        x, y = _blobs(n=120)
        model = pn.Sequential([pn.Input((2,)), pn.layers.Dense(8, activation="tanh"),
                               pn.layers.Dropout(0.2), pn.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=16, epochs=4, verbose=0, validation_split=0.2)
        return h.history, model.get_weights()


def test_same_seed_same_history_on_numpy_and_strict():
    h1, w1 = _train_history("numpy")
    h2, w2 = _train_history("array_api_strict")
    assert h1.keys() == h2.keys()
    for k in h1:
        np.testing.assert_allclose(h1[k], h2[k], rtol=1e-6, atol=1e-7, err_msg=k)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_same_seed_bit_identical_initial_weights():
    weights = []
    for name in ("numpy", "array_api_strict"):
        with pn.use_backend(name):
            pn.utils.set_random_seed(7)
            weights.append(_model().get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    pn.utils.set_random_seed(8)
    assert not np.array_equal(_model().get_weights()[0], weights[0][0])


def test_backend_selection_and_context(monkeypatch):
    before = pn.backend.current()
    with pn.use_backend("array_api_strict") as b:
        assert pn.backend.current() is b and b.name == "array_api_strict"
        model = _model()
    assert pn.backend.current() is before
    assert model.backend.name == "array_api_strict"
    assert model.layers[0].kernel.value.__class__.__module__.startswith("array_api_strict")


def test_backend_services(backend):
    xp = backend.xp
    target = backend.from_numpy(np.zeros((4, 2), "float32"))
    idx = backend.from_numpy(np.array([0, 2, 0, 3]))
    vals = backend.from_numpy(np.ones((4, 2), "float32"))
    np.testing.assert_array_equal(to_np(backend, backend.scatter_add(target, idx, vals)),
                                  [[2, 2], [0, 0], [1, 1], [1, 1]])
    perm = to_np(backend, backend.permutation(10))
    assert sorted(perm.tolist()) == list(range(10))
    n = to_np(backend, backend.random_normal((2000,), 1.0, 2.0))
    assert abs(n.mean() - 1.0) < 0.2 and abs(n.std() - 2.0) < 0.2
    u = to_np(backend, backend.random_uniform((2000,), -1.0, 3.0))
    assert u.min() >= -1.0 and u.max() <= 3.0
    calls = backend.to_host_calls
    backend.to_numpy(xp.zeros(3))
    assert backend.to_host_calls == calls + 1
    backend.synchronize()


def test_env_variable_selects_backend(monkeypatch):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import portanet as pn; print(pn.backend.current().name)"],
                         env={**__import__("os").environ, "PORTANET_BACKEND": "array_api_strict"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "array_api_strict"


def test_keras_config_extras(backend, recwarn):
    """keras.config's backend(), debugging caps and safe-mode switch."""
    assert pn.config.backend() == backend.name
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = np.random.default_rng(1).normal(size=(40, 1))
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    pn.config.set_max_epochs(2)
    pn.config.set_max_steps_per_epoch(3)
    try:
        with pytest.warns(UserWarning, match="Limiting epochs to 2"):
            history = model.fit(x, y, batch_size=4, epochs=5, verbose=0)
        assert len(history.history["loss"]) == 2
        assert int(model.optimizer.iterations) == 6   # 2 epochs x 3 steps (10 batches each)
    finally:
        pn.config.set_max_epochs(None)
        pn.config.set_max_steps_per_epoch(None)
    with pytest.raises(ValueError, match="set_max_epochs: max_epochs=0"):
        pn.config.set_max_epochs(0)
    with pytest.warns(UserWarning, match="never deserializes Python bytecode"):
        pn.config.enable_unsafe_deserialization()
    assert pn.config.is_interactive_logging_enabled() in (True, False)
