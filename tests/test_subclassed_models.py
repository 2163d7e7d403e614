"""Subclassed models (call() + layers as attributes), custom train_step/test_step with
GradientTape and Keras 3's step API, and custom loops outside fit."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops


class MLP(pn.Model):
    def __init__(self, hidden=8, out=2, **kwargs):
        super().__init__(**kwargs)
        self.hidden = pn.layers.Dense(hidden, activation="tanh")
        self.head = pn.layers.Dense(out)

    def call(self, inputs, training=None):
        return self.head(self.hidden(inputs))


def _sequential(hidden=8, out=2, features=5, reg=None):
    return pn.Sequential([pn.Input((features,)),
                          pn.layers.Dense(hidden, activation="tanh", kernel_regularizer=reg),
                          pn.layers.Dense(out)])


def _problem(rows=32, features=5, out=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, features)), rng.normal(size=(rows, out))


def _sgd():
    return pn.optimizers.SGD(learning_rate=0.05, momentum=0.9)


def test_subclassed_mlp_trains_like_the_sequential(backend, float64):
    x, y = _problem()
    model = MLP()
    model.build((None, 5))
    assert [v.shape for v in model.weights] == [(5, 8), (8,), (8, 2), (2,)]
    seq = _sequential()
    seq.set_weights(model.get_weights())
    for m in (model, seq):
        m.compile(optimizer=_sgd(), loss="mse", metrics=["mae"])
    h1 = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    h2 = seq.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert h1["loss"][-1] < h1["loss"][0]
    for key in ("loss", "mae"):
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-10)
    for a, b in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.predict(x, verbose=0), seq.predict(x, verbose=0), atol=1e-12)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), seq.evaluate(x, y, verbose=0),
                               rtol=1e-10)
    assert [layer.name for layer in model.layers] == [model.hidden.name, model.head.name]
    out = model(x[:3])
    assert tuple(out.shape) == (3, 2)


class TapeStep:
    """Keras 3's torch-style custom step, with pn.GradientTape instead of loss.backward()."""

    def train_step(self, data):
        x, y = data
        with pn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        logs = {m.name: m.result() for m in self.metrics}
        self.returned = pn.training.step_api.pythonify_logs(self.backend, logs)
        return logs


class TapeSequential(TapeStep, pn.Sequential):
    pass


class TapeMLP(TapeStep, MLP):
    pass


class TapeModel(TapeStep, pn.Model):
    pass


def test_custom_train_step_equals_the_built_in_step(backend, float64):
    x, y = _problem(seed=1)
    reg = pn.regularizers.L2(0.01)
    builtin = _sequential(reg=reg)
    w0 = builtin.get_weights()
    inp = pn.Input((5,))
    functional_out = pn.layers.Dense(2)(pn.layers.Dense(8, activation="tanh", kernel_regularizer=reg)(inp))
    customs = [TapeSequential(_sequential(reg=reg).layers), TapeModel(inp, functional_out), TapeMLP()]
    customs[0].build((None, 5))
    customs[2].hidden.kernel_regularizer = None
    results = []
    for model in [builtin] + customs:
        if model is not builtin:
            if not model.built:
                model.build((None, 5))
            model.set_weights(w0)
        model.compile(optimizer=_sgd(), loss="mse", metrics=["mae"])
        h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        results.append((h.history, model.get_weights(), model))
    assert type(customs[1]).__name__ == "TapeModel" and isinstance(customs[1], pn.models.Functional)
    ref_h, ref_w, _ = results[0]
    for hist, weights, model in results[1:3]:   # with the kernel regularizer, as the built-in
        for a, b in zip(weights, ref_w):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
        # History records what the custom step returned (the epoch's last dict).
        assert hist["loss"][-1] == model.returned["loss"]
        assert hist["mae"][-1] == model.returned["mae"]
        np.testing.assert_allclose(hist["loss"], ref_h["loss"], rtol=1e-10)
        np.testing.assert_allclose(hist["mae"], ref_h["mae"], rtol=1e-10)
        assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    hist, weights, model = results[3]     # the subclassed MLP has no regularizer
    plain = _sequential()
    plain.set_weights(w0)
    plain.compile(optimizer=_sgd(), loss="mse", metrics=["mae"])
    ref = plain.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    for a, b in zip(weights, plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(hist["loss"], ref["loss"], rtol=1e-10)
    assert hist["loss"][-1] == model.returned["loss"]


def test_train_on_batch_returns_the_custom_step_dict(backend, float64):
    x, y = _problem(seed=2)
    model = TapeMLP()
    model.compile(optimizer="sgd", loss="mse")
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss"}
    assert logs["loss"] == model.returned["loss"]


class CountCalls(pn.metrics.Metric):
    """Counts update_state calls (to see the per-epoch reset)."""

    def __init__(self, name="calls", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n = self.add_variable(shape=(), initializer="zeros", name="n")

    def update_state(self, *args, **kwargs):
        self.n.assign_add(1.0)

    def result(self):
        return self.n


def test_user_metrics_in_a_metrics_property_are_reset_each_epoch(backend, float64):
    class Custom(pn.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = pn.metrics.Mean(name="loss")
            self.mae_metric = pn.metrics.MeanAbsoluteError(name="mae")
            self.calls = CountCalls()
            self.loss_fn = pn.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            with pn.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.loss_fn(y, y_pred)
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.loss_tracker.update_state(loss)      # a traced tensor: its value is read
            self.mae_metric.update_state(y, y_pred)
            self.calls.update_state()
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result(),
                    "calls": self.calls.result()}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.loss_tracker.update_state(self.loss_fn(y, y_pred))
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric, self.calls]

    x, y = _problem(seed=3, out=1)
    inp = pn.Input((5,))
    model = Custom(inp, pn.layers.Dense(1)(inp))
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0))   # no loss: step has its own
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert h["calls"] == [4.0, 4.0, 4.0]             # reset at each epoch's start
    pred = model.predict(x, verbose=0)
    mse, mae = np.mean((pred - y) ** 2), np.mean(np.abs(pred - y))
    np.testing.assert_allclose(h["loss"], [mse] * 3, rtol=1e-10)
    np.testing.assert_allclose(h["mae"], [mae] * 3, rtol=1e-10)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose([logs["loss"], logs["mae"]], [mse, mae], rtol=1e-10)


class Sampling(pn.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = pn.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        if not training:
            return z_mean
        eps = pn.random.normal(shape=(ops.shape(z_mean)[0], ops.shape(z_mean)[1]),
                               seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class Encoder(pn.layers.Layer):
    def __init__(self, latent_dim=2, intermediate_dim=16, **kwargs):
        super().__init__(**kwargs)
        self.dense_proj = pn.layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = pn.layers.Dense(latent_dim)
        self.dense_log_var = pn.layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs, training=None):
        h = self.dense_proj(inputs)
        z_mean, z_log_var = self.dense_mean(h), self.dense_log_var(h)
        return z_mean, z_log_var, self.sampling((z_mean, z_log_var), training=training)


class VAE(pn.Model):
    def __init__(self, original_dim, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Encoder()
        self.decoder = pn.Sequential([pn.layers.Dense(16, activation="relu"),
                                      pn.layers.Dense(original_dim)])

    def call(self, inputs, training=None):
        z_mean, z_log_var, z = self.encoder(inputs, training=training)
        reconstructed = self.decoder(z)
        kl = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        rec = ops.mean(ops.square(reconstructed - inputs))
        self.add_loss(rec + 0.1 * kl)
        return reconstructed


def test_vae_with_add_loss_and_no_compiled_loss_learns_and_round_trips(backend, tmp_path):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(128, 2))
    x = np.tanh(z @ rng.normal(size=(2, 6))).astype("float32")
    vae = VAE(6, name="vae")
    vae.compile(optimizer=pn.optimizers.Adam(learning_rate=0.01))
    h = vae.fit(x, x, batch_size=32, epochs=15, verbose=0).history
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert len(vae.layers) == 2 and len(vae.weights) == 10
    vae(x[:4])
    assert len(vae.losses) == 1
    path = str(tmp_path / "vae.weights.h5")
    vae.save_weights(path)
    clone = VAE(6)
    clone.build((None, 6))
    clone.load_weights(path)
    for a, b in zip(vae.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), vae.predict(x, verbose=0))


def test_summary_of_a_subclassed_model(backend):
    model = MLP(hidden=8, out=2, name="mlp")
    lines = []
    with pytest.raises(ValueError, match="not built"):
        model.input_shapes
    model.build((None, 5))
    model.summary(print_fn=lines.append)
    assert len(lines) == 1  # Keras hands print_fn the whole table at once
    text = lines[0]
    assert text.startswith('Model: "mlp"\n')
    assert f"{model.hidden.name} (Dense)" in text and "(None, 8)" in text and "(None, 2)" in text
    assert " Total params: 66 (264.00 B)" in text      # 5*8+8 + 8*2+2


def test_custom_loop_outside_fit_for_every_kind_of_model(backend, float64):
    x, y = _problem(seed=5)
    w0 = _sequential().get_weights()
    inp = pn.Input((5,))
    functional = pn.Model(inp, pn.layers.Dense(2)(pn.layers.Dense(8, activation="tanh")(inp)))
    subclassed = MLP()
    subclassed.build((None, 5))
    for model in (_sequential(), functional, subclassed):
        model.set_weights(w0)
        reference = _sequential()
        reference.set_weights(w0)
        reference.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="mse")
        optimizer = pn.optimizers.SGD(learning_rate=0.1)
        loss_fn = pn.losses.MeanSquaredError()
        for _ in range(3):
            with pn.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply(grads, model.trainable_weights)
            reference.train_on_batch(x, y)
        for a, b in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_errors_name_the_problem(backend):
    class NotATensor(pn.Model):
        def call(self, inputs):
            return "hello"

    x, y = _problem(seed=6)
    model = NotATensor()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"call\(\) returned str"):
        model.fit(x, y, verbose=0)

    mlp = MLP()
    mlp.compile(optimizer="sgd")                     # no loss, and MLP adds none
    mlp.build((None, 5))
    before = mlp.get_weights()
    with pytest.raises(ValueError, match="compile\\(\\) was called without a loss and the model "
                                         "added none with add_loss"):
        mlp.fit(x, y, verbose=0)
    for a, b in zip(before, mlp.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no loss"):
        mlp.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="no loss to compute"):
        mlp.compute_loss(y=backend.from_numpy(y), y_pred=mlp(x))


def test_metrics_and_compute_metrics_follow_keras(backend, float64):
    x, y = _problem(seed=7)
    model = _sequential()
    assert model.metrics == []
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    pred = model(x)
    logs = model.compute_metrics(x, backend.from_numpy(y), pred)
    np.testing.assert_allclose(float(logs["mae"]), np.mean(np.abs(backend.to_numpy(pred) - y)),
                               rtol=1e-12)
    loss = model.compute_loss(y=backend.from_numpy(y), y_pred=pred)
    np.testing.assert_allclose(float(loss), np.mean((backend.to_numpy(pred) - y) ** 2), rtol=1e-12)
    model.reset_metrics()
    assert model.get_metrics_result() == {"loss": 0.0, "mae": 0.0}


def test_fit_without_targets_for_a_model_with_only_a_train_step(backend, float64):
    """Keras's VAE/GAN example shape: no call(), sub-models as attributes, fit(x)."""
    class AutoEncoder(pn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.net = pn.Sequential([pn.Input((4,)), pn.layers.Dense(2), pn.layers.Dense(4)])
            self.tracker = pn.metrics.Mean(name="loss")

        @property
        def metrics(self):
            return [self.tracker]

        def train_step(self, data):
            self.seen = data                          # x alone, as Keras packs fit(x)
            with pn.GradientTape() as tape:
                loss = ops.mean(ops.square(self.net(data, training=True) - data))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

    rng = np.random.default_rng(8)
    x = rng.normal(size=(64, 2)) @ rng.normal(size=(2, 4))
    model = AutoEncoder()
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=0.02))
    h = model.fit(x, epochs=20, batch_size=16, verbose=0).history
    assert backend.is_array(model.seen) and tuple(model.seen.shape) == (16, 4)
    assert [v.shape for v in model.trainable_weights] == [(4, 2), (2,), (2, 4), (4,)]
    assert h["loss"][-1] < 0.2 * h["loss"][0]
    with pytest.raises(ValueError, match="y may also be omitted when the model overrides train_step"):
        plain = _sequential()
        plain.compile(optimizer="sgd", loss="mse")
        plain.fit(rng.normal(size=(8, 5)), verbose=0)


def test_a_sub_model_called_twice_keeps_both_add_loss_terms(backend, float64):
    class Penalty(pn.Model):
        def call(self, inputs):
            self.add_loss(ops.mean(ops.square(inputs)))
            return inputs

    class Outer(pn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.penalty = Penalty()
            self.dense = pn.layers.Dense(1, kernel_initializer="ones")

        def call(self, inputs, training=None):
            return self.dense(self.penalty(inputs) + self.penalty(2.0 * inputs))

    x, y = _problem(rows=8, features=3, out=1, seed=9)
    model = Outer()
    model.compile(optimizer="sgd", loss="mse")
    expected = np.mean((3 * x.sum(axis=1, keepdims=True) - y) ** 2) + 5 * np.mean(x ** 2)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-10)
    for _ in range(2):                         # a custom loop: losses of the last call only
        with pn.GradientTape():
            model(x, training=True)
        assert len(model.losses) == 2


def test_a_standalone_metric_reads_a_tape_loss_and_records_nothing(backend, float64):
    # The VAE guide's pattern: loss_metric = keras.metrics.Mean(); inside a custom loop
    # loss_metric(loss) with a loss computed in a GradientTape block.
    w = pn.layers.Dense(1, use_bias=False)
    x = backend.from_numpy(np.ones((4, 3)))
    w(x)
    tracker = pn.metrics.Mean()
    with pn.GradientTape() as tape:
        loss = pn.ops.mean(pn.ops.square(w(x)))
        inside = tracker(loss)                       # Mean()(x), as Keras
    grads = tape.gradient(loss, w.trainable_weights)
    tracker.update_state(loss)                       # after the block, too
    expected = float(backend.to_numpy(pn.ops.tape.value_of(loss)))
    assert float(backend.to_numpy(inside)) == pytest.approx(expected)
    assert float(backend.to_numpy(tracker.result())) == pytest.approx(expected)
    assert grads[0] is not None and tuple(grads[0].shape) == (3, 1)


def test_losses_include_the_weights_regularization_as_keras(backend, float64):
    # The subclassing guide: layer.losses holds 1e-3 * sum(kernel ** 2) of an inner Dense
    # with kernel_regularizer=l2(1e-3), besides add_loss terms; compute_loss counts it once.
    class Outer(pn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = pn.layers.Dense(3, kernel_regularizer=pn.regularizers.l2(1e-3))

        def call(self, inputs):
            self.add_loss(ops.sum(inputs))
            return self.dense(inputs)

    layer = Outer()
    layer(backend.from_numpy(np.ones((1, 2))))
    kernel = layer.dense.kernel.numpy()
    values = [float(backend.to_numpy(pn.ops.tape.value_of(v))) for v in layer.losses]
    assert values == pytest.approx([2.0, 1e-3 * float((kernel ** 2).sum())])
