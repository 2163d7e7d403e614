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
