"""The training package's extension points: train_step/test_step/predict_step overrides,
training-step hooks, the data-parallel distribution protocol, resuming at
``model._initial_epoch``, and the one-way imports of saving."""

import ast
import pathlib

import numpy as np
import pytest

import portanet as pn
from portanet.training import data_adapter


def _problem(rows=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3)[:, None]
    return x, y


def _model(seed=0, cls=None):
    pn.utils.set_random_seed(seed)
    cls = cls or pn.Sequential
    model = cls([pn.Input((4,)), pn.layers.Dense(3, activation="tanh"), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def _to_np(backend, a):
    return np.asarray(backend.to_numpy(a))


class CountingSequential(pn.Sequential):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def train_step(self, data):
        # Keras's data: (x, y) without sample weights, (x, y, sample_weight) with them.
        x, y, sample_weight = pn.utils.unpack_x_y_sample_weight(data)
        self.seen.append((int(x.shape[0]), int(y.shape[0]), sample_weight))
        return super().train_step(data)


def test_fit_calls_an_overridden_train_step_and_trains_the_same(backend, float64):
    x, y = _problem()
    plain = _model()
    counted = _model(cls=CountingSequential)
    h_plain = plain.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    h = counted.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    # 24 rows in batches of 10: 10, 10, 4 per epoch; Keras's (x, y) tuples (no sample weights).
    assert counted.seen == [(10, 10, None), (10, 10, None), (4, 4, None)] * 2
    for a, b in zip(plain.get_weights(), counted.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h.history["loss"], h_plain.history["loss"], rtol=1e-12)
    counted.train_on_batch(x[:5], y[:5])
    assert counted.seen[-1] == (5, 5, None)


def test_a_custom_train_step_replaces_the_built_in_one(backend):
    class Frozen(pn.Sequential):
        def train_step(self, data):
            self.calls = getattr(self, "calls", 0) + 1

    x, y = _problem()
    model = _model(cls=Frozen)
    before = model.get_weights()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.calls == 3
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the built-in step (and its update) never ran


def test_evaluate_and_predict_call_test_step_and_predict_step(backend, float64):
    class Doubled(pn.Sequential):
        def predict_step(self, data):
            return 2.0 * super().predict_step(data)

        def test_step(self, data):
            self.tested = getattr(self, "tested", 0) + 1
            return super().test_step(data)

    x, y = _problem()
    model, plain = _model(cls=Doubled), _model()
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0),
                               2.0 * plain.predict(x, batch_size=7, verbose=0), rtol=1e-12)
    assert model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)["loss"] == \
        pytest.approx(plain.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)["loss"], rel=1e-12)
    assert model.tested == 4  # ceil(24 / 7) batches


def test_train_step_hooks_run_around_every_step(backend, float64):
    x, y = _problem()
    model = _model()
    events = []

    def first(xs, ys, sws, n):
        events.append(("before", n, len(xs), len(ys), sws))
        loss = yield
        events.append(("after", float(_to_np(backend, loss))))

    def second(xs, ys, sws, n):
        events.append(("second", n))
        yield

    model.add_train_step_hook(first)
    model.add_train_step_hook(second)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert [e[0] for e in events] == ["before", "second", "after"] * 2
    assert events[0][1:] == (16, 1, 1, [None]) and events[3][1] == 8
    # The loss sent to a hook is the step's loss on its batch (before the update).
    probe = _model()
    expected = probe.train_on_batch(x[:16], y[:16], return_dict=True)["loss"]
    assert events[2][1] == pytest.approx(expected, rel=1e-12)
    model.remove_train_step_hook(first)
    model.remove_train_step_hook(first)  # absent: ignored
    events.clear()
    model.train_on_batch(x[:5], y[:5])
    assert events == [("second", 5)]
    with pytest.raises(TypeError, match="hook=3"):
        model.add_train_step_hook(3)


class FakeDistribution(pn.training.Distribution):
    """Two replicas simulated on one: every gradient and log is recorded, and the logs are
    'reduced' as if another replica had seen the same sums."""

    def __init__(self):
        self.sharded, self.grads, self.sums = [], [], []

    def shard(self, data):
        self.sharded.append((data.size, data.batch_size, data.num_batches))

    def reduce_gradients(self, variables, num_samples):
        self.grads.append((num_samples, [v.grad is not None for v in variables]))

    def reduce_logs(self, logs, sums):
        self.sums.append(list(sums))
        return {key: (2 * total) / (2 * weight) + 100.0 for key, total, weight in sums}


def test_fit_uses_a_distribution_through_the_public_protocol(backend, float64):
    x, y = _problem()
    model, plain = _model(), _model()
    fake = FakeDistribution()
    model.set_distribution(fake)
    assert model.distribution is fake
    h = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    h_plain = plain.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert fake.sharded == [(24, 10, 3)]
    assert [n for n, _ in fake.grads] == [10, 10, 4]
    assert all(all(has) for _, has in fake.grads)  # every trainable weight has a gradient
    # The sums are this replica's: (loss sum over samples, samples), mean metric state.
    keys = [k for k, _, _ in fake.sums[0]]
    assert keys == ["loss", "mae"]
    loss_sum, count = fake.sums[0][0][1:]
    assert count == 24.0
    assert loss_sum / count == pytest.approx(h_plain.history["loss"][0], rel=1e-12)
    assert h.history["loss"][0] == pytest.approx(h_plain.history["loss"][0] + 100.0, rel=1e-12)
    for a, b in zip(plain.get_weights(), model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)  # the fake reduction is identity
    model.set_distribution(None)
    assert model.distribution is None
    with pytest.raises(TypeError, match="reduce_logs"):
        model.set_distribution(object())


def test_fit_resumes_at_the_initial_epoch_a_callback_sets(backend):
    class Resume(pn.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model._initial_epoch = 3

    x, y = _problem()
    model = _model()
    epochs = []
    seen = pn.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    model.fit(x, y, epochs=5, verbose=0, callbacks=[Resume(), seen])
    assert epochs == [3, 4]
    assert model._initial_epoch is None  # cleared: the next fit starts from its own argument
    epochs.clear()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[seen])
    assert epochs == [0, 1]


def test_data_adapter_batches_are_keras_tuples(backend):
    xs = [backend.asarray(np.arange(10.0)[:, None]), backend.asarray(np.ones((10, 2)))]
    ys = [backend.asarray(np.arange(10.0))]
    sws = [backend.asarray(np.full(10, 0.5))]
    batches = list(data_adapter.ArrayDataAdapter(backend, xs, ys, sws, batch_size=4))
    assert len(batches) == 3
    x, y, sw = batches[-1]
    assert isinstance(x, list) and len(x) == 2
    np.testing.assert_array_equal(_to_np(backend, x[0])[:, 0], [8.0, 9.0])
    np.testing.assert_array_equal(_to_np(backend, y), [8.0, 9.0])
    np.testing.assert_array_equal(_to_np(backend, sw), [0.5, 0.5])
    single = list(data_adapter.ArrayDataAdapter(backend, xs[:1], batch_size=6))
    assert [b[1:] for b in single] == [(None, None), (None, None)]
    unpacked = data_adapter.unpack_batch((x, y, None))
    assert len(unpacked[0]) == 2 and len(unpacked[1]) == 1 and unpacked[2] == [None]


def test_the_input_gradient_skip_only_touches_layers_that_opt_in(backend):
    class Plain(pn.layers.Layer):
        def forward(self, x, training=False):
            return x, (lambda dy: dy)

    x, y = _problem()
    model = pn.Sequential([pn.Input((4,)), Plain(), pn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not hasattr(model.layers[0], "_skip_input_grad")
    assert model.layers[1]._skip_input_grad is False


def test_saving_never_imports_models():
    imported = []
    for path in pathlib.Path(pn.saving.__file__).parent.glob("*.py"):
        imported += _imports_of(path)
    assert imported and not [m for m in imported if "models" in m]


def _imports_of(path):
    imported = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.append(("." * node.level) + (node.module or "")
                            + "".join("." + a.name for a in node.names if node.module is None))
        elif isinstance(node, ast.Import):
            imported.extend(a.name for a in node.names)
    return imported
