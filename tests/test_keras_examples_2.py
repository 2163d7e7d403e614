"""More behaviour keras-io's examples rely on (keras_recipes/trainer_pattern,
vision/autoencoder, timeseries/timeseries_anomaly_detection, nlp/lstm_seq2seq,
structured_data/collaborative_filtering_movielens), checked against values computed by hand
or printed by Keras 3.15.1 (jax backend) on the same inputs."""

import warnings

import numpy as np
import pytest

import portanet as pn
from harness import to_np


class _Trainer(pn.Model):
    """keras_recipes/trainer_pattern.py's MyTrainer: a tf.keras-style train_step that uses
    ``compiled_loss`` and ``compiled_metrics`` (Keras 3 keeps both as deprecated shims)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def train_step(self, data):
        x, y = data
        with pn.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x):
        return self.model(x)


def test_compiled_loss_and_compiled_metrics_shims_train_as_keras(backend):
    # Dense(1), W = 1, b = 0; x = [1, 2], y = [1, 1]: y_pred = [1, 2], mse 0.5,
    # d loss/d y_pred = [0, 1]: dW = 2, db = 1; SGD(0.1): W = 0.8, b = -0.1.
    # Keras 3's compiled_metrics.update_state feeds every Mean of self.metrics with
    # y_pred alone, its loss tracker included: "loss" logs mean(y_pred) = 1.5 (keras-io
    # PR #1630 met the same "loss"); mean_absolute_error = 0.5.
    inner = pn.Sequential([pn.Input((1,)), pn.layers.Dense(1, kernel_initializer="ones")])
    trainer = _Trainer(inner)
    trainer.compile(pn.optimizers.SGD(0.1), loss="mse", metrics=["mean_absolute_error"])
    x = np.array([[1.0], [2.0]], "float32")
    y = np.array([[1.0], [1.0]], "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = trainer.fit(x, y, epochs=1, batch_size=2, verbose=0)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("`model.compiled_loss()` is deprecated. Instead, use "
                            "`model.compute_loss(x, y, y_pred, sample_weight, training)`.")
               for m in messages)
    assert any(m.startswith("`model.compiled_metrics()` is deprecated.") for m in messages)
    assert history.history["loss"] == [pytest.approx(1.5)]
    assert history.history["mean_absolute_error"] == [pytest.approx(0.5)]
    kernel, bias = inner.get_weights()
    np.testing.assert_allclose(kernel, [[0.8]], rtol=1e-6)
    np.testing.assert_allclose(bias, [-0.1], rtol=1e-5, atol=1e-7)


def test_compiled_loss_adds_the_models_own_losses(backend):
    # compute_loss already adds self.losses: mse 0.5 + the kernel's l2(0.25) * 1 = 0.75.
    inner = pn.Sequential([pn.Input((1,)), pn.layers.Dense(
        1, kernel_initializer="ones", kernel_regularizer=pn.regularizers.L2(0.25))])
    trainer = _Trainer(inner)
    trainer.compile(pn.optimizers.SGD(0.1), loss="mse")
    y_pred = trainer(np.array([[1.0], [2.0]], "float32"))
    with pytest.warns(UserWarning, match="compiled_loss"):
        loss = trainer.compiled_loss(np.array([[1.0], [1.0]], "float32"), y_pred)
    assert float(to_np(backend, loss)) == pytest.approx(0.75)


def test_variables_properties_are_the_weights_lists(backend):
    # Keras: BatchNormalization's trainable_variables are gamma, beta; its
    # non_trainable_variables the moving mean and variance; frozen, all four.
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2),
                           pn.layers.BatchNormalization()])
    names = lambda vs: [v.name for v in vs]
    assert names(model.trainable_variables) == ["kernel", "bias", "gamma", "beta"]
    assert names(model.non_trainable_variables) == ["moving_mean", "moving_variance"]
    assert names(model.variables) == ["kernel", "bias", "gamma", "beta", "moving_mean",
                                      "moving_variance"]
    model.layers[1].trainable = False
    assert len(model.trainable_variables) == 2
    assert len(model.non_trainable_variables) == 4


def test_summary_connected_to_counts_every_call_of_the_layer(backend):
    # nlp/lstm_seq2seq.py builds its decoder model from the trained model's layers: a
    # layer called for a second model shows its node index among all its calls. Keras
    # 3.15.1 prints this table for the same model.
    a = pn.Input((3,), name="a")
    d = pn.layers.Dense(2, name="d")
    pn.Model(a, d(a))
    b1 = pn.Input((3,), name="b1")
    b2 = pn.Input((2,), name="b2")
    out = pn.layers.Concatenate(name="cat")([d(b1), b2])
    model = pn.Model([b1, b2], out)
    lines = []
    model.summary(print_fn=lambda s, **k: lines.append(s))
    table = "\n".join(lines).splitlines()
    assert table[4:11] == [
        "│ b1 (InputLayer)     │ (None, 3)         │          0 │ -                 │",
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
        "│ d (Dense)           │ (None, 2)         │          8 │ b1[0][0]          │",
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
        "│ b2 (InputLayer)     │ (None, 2)         │          0 │ -                 │",
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
        "│ cat (Concatenate)   │ (None, 4)         │          0 │ d[1][0], b2[0][0] │",
    ]


class _MaskedRecurrent(pn.Model):
    """Embedding(mask_zero=True) -> LSTM -> Dense called inside a subclassed call()."""

    def __init__(self, return_sequences=True):
        super().__init__()
        self.emb = pn.layers.Embedding(10, 4, mask_zero=True)
        self.lstm = pn.layers.LSTM(3, return_sequences=return_sequences)
        self.dense = pn.layers.Dense(1)

    def call(self, x):
        return self.dense(self.lstm(self.emb(x)))


_PADDED = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [6, 7, 8, 9, 1]], "int32")
_PADDED_MASK = [[True, True, True, False, False], [True, True, False, False, False],
                [True] * 5]


def _set_seeded_weights(model, x):
    model(x)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])


def test_masks_pass_between_layers_called_in_a_subclassed_call(backend):
    # Keras 3.15.1 (jax) on the same model and weights: the LSTM carries its last output
    # over the padded steps, the eager output carries the mask, and the compiled loss
    # (and evaluate's metric) average over the unpadded steps only.
    model = _MaskedRecurrent()
    _set_seeded_weights(model, _PADDED)
    y = model(_PADDED)
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(y)),
                                  _PADDED_MASK)
    pred = model.predict(_PADDED, verbose=0)[..., 0]
    np.testing.assert_allclose(pred, [
        [0.45754, 0.46950, 0.49719, 0.49719, 0.49719],
        [0.51858, 0.40548, 0.40548, 0.40548, 0.40548],
        [0.52367, 0.44034, 0.38037, 0.36525, 0.23605]], atol=1e-5)
    model.compile(pn.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    target = np.ones((3, 5, 1), "float32")
    loss, mae = model.evaluate(_PADDED, target, verbose=0)
    assert loss == pytest.approx(0.3324289, rel=1e-5)     # unmasked it would be 0.3260204
    assert mae == pytest.approx(0.5706013, rel=1e-5)      # unmasked 0.5663473
    history = model.fit(_PADDED, target, epochs=2, batch_size=3, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [0.3324289, 0.1842099], rtol=1e-5)
    np.testing.assert_allclose(model.predict(_PADDED, verbose=0)[..., 0], [
        [0.70557, 0.73373, 0.75321, 0.75321, 0.75321],
        [0.76312, 0.66042, 0.66042, 0.66042, 0.66042],
        [0.73744, 0.67887, 0.64130, 0.65007, 0.53117]], atol=2e-5)


def test_a_masked_lstm_in_a_subclassed_call_returns_the_last_unpadded_step(backend):
    model = _MaskedRecurrent(return_sequences=False)
    _set_seeded_weights(model, _PADDED)
    # The same weights as above: the output is Keras's sequence output at each row's last
    # unpadded step (unmasked, the LSTM would run over the padding: 0.26142, 0.27112).
    np.testing.assert_allclose(model.predict(_PADDED, verbose=0)[:, 0],
                               [0.49719, 0.40548, 0.23605], atol=1e-5)


class _WrappedLSTM(pn.layers.Layer):
    def __init__(self):
        super().__init__()
        self.lstm = pn.layers.LSTM(2, return_sequences=True)

    def call(self, x):
        return self.lstm(x)


def test_a_call_layer_in_a_functional_model_passes_the_mask_to_its_layers(backend):
    # The call() layer does not support masking itself; the LSTM it calls reads the mask
    # the functional graph gave its input, and its output keeps it (Keras's numbers).
    inp = pn.Input((5,), dtype="int32")
    out = _WrappedLSTM()(pn.layers.Embedding(10, 4, mask_zero=True)(inp))
    model = pn.Model(inp, out)
    _set_seeded_weights(model, _PADDED[:2])
    np.testing.assert_allclose(model.predict(_PADDED[:2], verbose=0)[..., 0], [
        [-0.07727, -0.02183, -0.02031, -0.02031, -0.02031],
        [-0.03239, 0.00426, 0.00426, 0.00426, 0.00426]], atol=1e-5)
    y = model(_PADDED[:2])
    np.testing.assert_array_equal(to_np(backend, pn.layers.base.get_keras_mask(y)),
                                  _PADDED_MASK[:2])


class _CustomStep(_MaskedRecurrent):
    def train_step(self, data):
        x, y = data
        with pn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return {"loss": loss}


def test_a_loss_called_on_a_masked_output_applies_the_mask_as_keras(backend):
    # Keras 3.15.1: compute_loss(x, y, model(x)) and MeanSquaredError()(y, model(x)) are
    # both 0.3324289 here (the mean over the unpadded steps; unmasked 0.3260204).
    target = np.ones((3, 5, 1), "float32")
    model = _CustomStep()
    _set_seeded_weights(model, _PADDED)
    model.compile(pn.optimizers.SGD(0.1), loss="mse")
    assert float(to_np(backend, pn.losses.MeanSquaredError()(target, model(_PADDED)))) == \
        pytest.approx(0.3324289, rel=1e-5)
    with pn.GradientTape() as tape:
        y_pred = model(_PADDED, training=True)
        loss = model.compute_loss(_PADDED, target, y_pred)
    assert float(loss) == pytest.approx(0.3324289, rel=1e-5)
    # One custom step moves the weights as the built-in step does (whose result is Keras's).
    history = model.fit(_PADDED, target, epochs=1, batch_size=3, verbose=0)
    assert history.history["loss"] == [pytest.approx(0.3324289, rel=1e-5)]
    reference = _MaskedRecurrent()
    _set_seeded_weights(reference, _PADDED)
    reference.compile(pn.optimizers.SGD(0.1), loss="mse")
    reference.fit(_PADDED, target, epochs=1, batch_size=3, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_metrics_updated_with_a_masked_output_weigh_by_its_mask(backend):
    # Keras 3.15.1: MeanAbsoluteError().update_state(y, model(x)) gives 0.5706013 and
    # compute_metrics(x, y, model(x)) {'mae': 0.5706013, 'm2': 0.3324289} (unmasked:
    # 0.5663473 and 0.3260204).
    model = _MaskedRecurrent()
    _set_seeded_weights(model, _PADDED)
    model.compile(pn.optimizers.SGD(0.1), loss="mse",
                  metrics=["mae", pn.metrics.MeanSquaredError(name="m2")])
    target = np.ones((3, 5, 1), "float32")
    y_pred = model(_PADDED)
    metric = pn.metrics.MeanAbsoluteError()
    metric.update_state(target, y_pred)
    assert float(to_np(backend, metric.result())) == pytest.approx(0.5706013, rel=1e-5)
    logs = model.compute_metrics(_PADDED, target, y_pred)
    assert float(to_np(backend, logs["mae"])) == pytest.approx(0.5706013, rel=1e-5)
    assert float(to_np(backend, logs["m2"])) == pytest.approx(0.3324289, rel=1e-5)


def test_optimizers_refuse_keras_two_lr_and_ignore_decay_as_keras(backend):
    # structured_data/collaborative_filtering_movielens.py (tf.keras) writes Adam(lr=0.001):
    # Keras 3 raises ValueError("Argument(s) not recognized: {'lr': 0.001}") and warns
    # that `decay` is ignored.
    with pytest.raises(ValueError, match=r"Adam: Argument\(s\) not recognized: \{'lr': 0.001\}"
                                         r".*pass learning_rate="):
        pn.optimizers.Adam(lr=0.001)
    with pytest.warns(UserWarning, match="Argument `decay` is no longer supported"):
        opt = pn.optimizers.SGD(0.1, decay=1e-6)
    assert "decay" not in opt.get_config()
    assert float(opt.learning_rate) == pytest.approx(0.1)


class _MaskedMean(pn.layers.Layer):
    def call(self, inputs, mask=None):
        if mask is None:
            return pn.ops.mean(inputs, axis=1)
        m = pn.ops.expand_dims(pn.ops.cast(mask, inputs.dtype), -1)
        return pn.ops.sum(inputs * m, axis=1) / pn.ops.sum(m, axis=1)


class _EmbeddingMean(pn.Model):
    def __init__(self):
        super().__init__()
        self.emb = pn.layers.Embedding(10, 2, mask_zero=True)
        self.pool = _MaskedMean()

    def call(self, x):
        return self.pool(self.emb(x))


def test_a_call_taking_mask_gets_the_mask_inside_a_subclassed_call(backend):
    # Keras 3.15.1 gives [[3, 4], [8, 9]] (means over the unpadded steps of rows
    # [1, 2, 0, 0] and [4, 0, 0, 0] of embeddings arange(20).reshape(10, 2)). Building the
    # model probes call() on zeros, where every step is masked (0 / 0): no warning, as Keras.
    x = np.array([[1, 2, 0, 0], [4, 0, 0, 0]], "int32")
    model = _EmbeddingMean()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(x)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    model.emb.set_weights([np.arange(20, dtype="float32").reshape(10, 2)])
    np.testing.assert_allclose(to_np(backend, model(x)), [[3.0, 4.0], [8.0, 9.0]])
    np.testing.assert_allclose(model.predict(x, verbose=0), [[3.0, 4.0], [8.0, 9.0]])
