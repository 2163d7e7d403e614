"""TrainingDiagnostics and TerminateOnNaN: each problem the lecture names is flagged on a
network built to have it, a healthy network stays silent, and the checks cost one device
read per epoch."""

import numpy as np
import pytest

import portanet as pn


def _data(seed=0, n=256, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    w = np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    y = (np.tanh(0.5 * x @ w) + 0.1 * rng.standard_normal((n, 1))).astype("float32")
    return (x * scale + shift).astype("float32"), y


def _train(layers, x, y, optimizer, epochs=5, verbose=0, **kwargs):
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((x.shape[1],))] + layers)
    model.compile(optimizer=optimizer, loss="mse")
    diag = pn.callbacks.TrainingDiagnostics(verbose=verbose, **kwargs)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[diag])
    return model, diag


def _healthy(backend):
    x, y = _data()
    return _train([pn.layers.Dense(16, activation="tanh"), pn.layers.Dense(1)], x, y,
                  pn.optimizers.Adam(0.01))


def test_healthy_network_is_silent(backend, capsys):
    model, diag = _healthy(backend)
    assert diag.warnings == []
    assert len(diag.records) == 5
    first = diag.records[0]["layers"]
    assert list(first) == [l.name for l in model.layers]
    hidden, out = first[model.layers[0].name], first[model.layers[1].name]
    assert 0.01 < hidden["gradient_norm"] < 100 and 1e-5 < hidden["update_ratio"] < 0.1
    assert hidden["saturation"] is not None and hidden["saturation"] < 0.05
    assert out["saturation"] is None  # linear output layer: nothing to saturate
    assert capsys.readouterr().out == ""  # verbose=0


def test_gradient_norm_and_update_ratio_values(backend):
    # One linear layer, SGD, one batch per epoch: the gradient and the step are known.
    x, y = _data(n=32)
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(0.1), loss="mse")
    w0, b0 = model.get_weights()
    diag = pn.callbacks.TrainingDiagnostics(verbose=0)
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0, callbacks=[diag])
    err = x.astype(np.float64) @ w0 + b0 - y
    gw = 2 * x.T @ err / 32
    gb = 2 * err.sum(0) / 32
    gnorm = np.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    w1, b1 = model.get_weights()
    ratio = 0.1 * gnorm / np.sqrt((w1.astype(np.float64) ** 2).sum() + (b1.astype(np.float64) ** 2).sum())
    stats = diag.records[0]["layers"][model.layers[0].name]
    np.testing.assert_allclose(stats["gradient_norm"], gnorm, rtol=1e-4)
    np.testing.assert_allclose(stats["update_ratio"], ratio, rtol=1e-4)


def test_one_device_read_per_epoch(backend):
    x, y = _data()

    def reads(diagnostics):
        pn.utils.set_random_seed(0)
        model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(8, activation="sigmoid"),
                               pn.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x[:8], y[:8], epochs=1, verbose=0)  # warm-up: the one-time input check
        before = backend.to_host_calls
        model.fit(x, y, epochs=3, batch_size=32, verbose=0, diagnostics=diagnostics)
        return backend.to_host_calls - before

    assert reads(True) - reads(False) == 3


def test_exploding_network_is_flagged(backend):
    x, y = _data()
    init = pn.initializers.RandomNormal(stddev=0.6, seed=1)
    layers = [pn.layers.Dense(32, kernel_initializer=init) for _ in range(4)]
    layers.append(pn.layers.Dense(1, kernel_initializer=init))
    with np.errstate(all="ignore"):
        _, diag = _train(layers, x, y, pn.optimizers.SGD(1e-7), epochs=2)
    text = " ".join(diag.warnings)
    assert "exploding gradients" in text and "clipnorm" in text
    assert "saturated" not in text
    norms = [s["gradient_norm"] for s in diag.records[0]["layers"].values()]
    assert min(norms) > 1e3


def test_diverging_to_nan_is_flagged(backend):
    x, y = _data()
    init = pn.initializers.RandomNormal(stddev=0.6, seed=1)
    layers = [pn.layers.Dense(32, kernel_initializer=init) for _ in range(4)]
    layers.append(pn.layers.Dense(1, kernel_initializer=init))
    with np.errstate(all="ignore"):
        _, diag = _train(layers, x, y, pn.optimizers.SGD(0.01), epochs=2)
    text = " ".join(diag.warnings)
    assert "exploding gradients" in text
    assert "the loss is nan" in text and "too large" in text and "0.001" in text


def test_saturated_sigmoid_network_is_flagged(backend):
    x, y = _data(scale=50.0, shift=20.0)   # raw, unstandardized inputs
    with pytest.warns(UserWarning, match="far from standardized"):
        model, diag = _train([pn.layers.Dense(16, activation="sigmoid"), pn.layers.Dense(1)], x, y,
                             pn.optimizers.Adam(0.01))
    text = " ".join(diag.warnings)
    assert "saturated units" in text and "Standardize the inputs" in text
    assert diag.records[0]["layers"][model.layers[0].name]["saturation"] > 0.8


def test_diverging_loss_is_flagged(backend):
    x, y = _data()
    _, diag = _train([pn.layers.Dense(1)], x, y, pn.optimizers.SGD(1.2), epochs=3,
                     max_gradient_norm=1e12)
    text = " ".join(diag.warnings)
    assert "the loss is diverging" in text and "too large" in text
    assert "exploding" not in text


def test_too_small_learning_rate_is_flagged(backend):
    x, y = _data()
    _, diag = _train([pn.layers.Dense(16, activation="tanh"), pn.layers.Dense(1)], x, y,
                     pn.optimizers.SGD(1e-6), epochs=4)
    assert len(diag.warnings) == 1
    assert "barely moves" in diag.warnings[0] and "too small" in diag.warnings[0]
    assert "1.00e-05" in diag.warnings[0]


def test_fit_diagnostics_flag_prints(backend, capsys):
    x, y = _data(scale=50.0, shift=20.0)
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(16, activation="tanh"), pn.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning):
        model.fit(x, y, epochs=2, verbose=0, diagnostics=True)
    out = capsys.readouterr().out
    assert "WARNING: Epoch 1: saturated units" in out and "TrainingDiagnostics: 1 warning(s)" in out
    model.fit(x, y, epochs=1, verbose=0, diagnostics=True,
              callbacks=[pn.callbacks.TrainingDiagnostics(verbose=0)])
    assert capsys.readouterr().out == ""  # the user's own instance replaces the default one


def test_bad_arguments():
    with pytest.raises(ValueError, match="saturation_threshold=2"):
        pn.callbacks.TrainingDiagnostics(saturation_threshold=2)
    with pytest.raises(ValueError, match="stall_epochs=0"):
        pn.callbacks.TrainingDiagnostics(stall_epochs=0)
    with pytest.raises(ValueError, match="max_gradient_norm=-1"):
        pn.callbacks.TrainingDiagnostics(max_gradient_norm=-1)


# --------------------------------------------------------------------------- TerminateOnNaN
def test_terminate_on_nan_names_the_layer(backend, capsys):
    x = np.ones((64, 4), "float32")
    y = np.zeros((64, 1), "float32")
    pn.utils.set_random_seed(0)
    model = pn.Sequential([
        pn.Input((4,)),
        pn.layers.Dense(8, activation="relu", kernel_initializer="ones", name="first"),
        pn.layers.Dense(8, kernel_initializer=pn.initializers.Constant(2e37), name="boom"),
        pn.layers.Dense(1, name="last"),
    ])
    model.compile(optimizer="sgd", loss="mse")
    stop = pn.callbacks.TerminateOnNaN()
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[stop])
    assert history.epoch == [0]
    assert stop.layer_name == "boom"
    out = capsys.readouterr().out
    assert "Batch 0: Invalid loss, terminating training" in out
    assert "layer 'boom' (Dense) is the first to produce a non-finite value" in out
    assert "with the weights this step started from" in out
    assert "_train_step" not in model.__dict__  # the step hook is gone after training


def test_terminate_on_nan_lets_finite_training_run(backend):
    x, y = _data(n=64)
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    stop = pn.callbacks.TerminateOnNaN()
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[stop, pn.callbacks.TrainingDiagnostics(verbose=0)])
    assert history.epoch == [0, 1, 2] and stop.report is None and stop.layer_name is None


def test_dead_relu_layer_is_flagged(backend):
    x, y = _data()
    dead = pn.layers.Dense(16, activation="relu", bias_initializer=pn.initializers.Constant(-100.0))
    model, diag = _train([dead, pn.layers.Dense(1)], x, y, pn.optimizers.Adam(0.01), epochs=2)
    stats = diag.records[0]["layers"][dead.name]
    assert stats["dead_fraction"] == 1.0 and stats["gradient_norm"] == 0.0
    text = " ".join(diag.warnings)
    assert f"dead units (layer {dead.name!r}: all units get a zero gradient)" in text
    assert "lower the learning rate (now 0.01)" in text
    assert "vanishing" not in text  # a dead layer is reported once, as dead


def test_half_dead_relu_layer_counts_units(backend):
    # Units 0..7 always on (bias +100), units 8..15 always off (bias -100): half dead.
    x, y = _data()
    bias = np.r_[np.full(8, 100.0), np.full(8, -100.0)].astype("float32")
    layer = pn.layers.Dense(16, activation="relu", kernel_initializer="zeros",
                            bias_initializer=pn.initializers.Constant(0.0))
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((4,)), layer, pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(0.0), loss="mse")
    layer.bias.assign(bias)
    diag = pn.callbacks.TrainingDiagnostics(verbose=0, dead_threshold=0.4)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[diag])
    assert diag.records[0]["layers"][layer.name]["dead_fraction"] == 0.5
    assert "50% of its ReLU units output 0 on every probe sample" in " ".join(diag.warnings)


def test_diagnostics_with_streamed_host_inputs(backend, monkeypatch):
    # Inputs above the device-data limit stay on the host; the probe batch must still work.
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "1")
    x, y = _data(scale=50.0, shift=20.0)
    with pytest.warns(UserWarning, match="far from standardized"):
        model, diag = _train([pn.layers.Dense(16, activation="sigmoid"), pn.layers.Dense(1)], x, y,
                             pn.optimizers.Adam(0.01), epochs=1)
    assert diag.records[0]["layers"][model.layers[0].name]["saturation"] > 0.8


def test_diagnostics_open_a_nested_model(backend):
    # The layers of a nested model are measured one by one (the nested model is opened).
    x, y = _data()
    pn.utils.set_random_seed(0)
    hidden = pn.layers.Dense(16, activation="tanh")
    inner = pn.Sequential([pn.Input((4,)), hidden])
    last = pn.layers.Dense(1)
    model = pn.Sequential([pn.Input((4,)), inner, last])
    model.compile(optimizer=pn.optimizers.Adam(0.01), loss="mse")
    diag = pn.callbacks.TrainingDiagnostics(verbose=0)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[diag])
    layers = diag.records[0]["layers"]
    assert list(layers) == [hidden.name, last.name]
    assert 0 <= layers[hidden.name]["saturation"] < 0.05 and layers[last.name]["saturation"] is None


def test_terminate_on_nan_in_a_two_input_model(backend, capsys):
    a, b = pn.Input((2,)), pn.Input((2,))
    pn.utils.set_random_seed(0)
    h = pn.layers.Concatenate()([a, b])
    h = pn.layers.Dense(4, kernel_initializer="ones", name="first")(h)
    out = pn.layers.Dense(1, kernel_initializer=pn.initializers.Constant(2e38), name="boom")(h)
    model = pn.Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    stop = pn.callbacks.TerminateOnNaN()
    x = np.full((32, 2), 10.0, "float32")
    with np.errstate(all="ignore"), pytest.warns(UserWarning, match="far from standardized"):
        history = model.fit([x, x], np.zeros((32, 1), "float32"), epochs=2, batch_size=16, verbose=0,
                            callbacks=[stop])
    assert history.epoch == [0] and stop.layer_name == "boom"
    assert "its input and weights were finite, so the values overflowed in this layer" in stop.report


def test_a_model_that_rescales_its_inputs_gets_no_standardization_warning(backend, rng):
    # Pixel values 0..255 are far from standardized; a model starting with Rescaling(1/255)
    # has said which scale it wants, as one starting with Normalization has.
    x = rng.integers(0, 256, size=(64, 5)).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    model = pn.Sequential([pn.Input((5,)), pn.layers.Rescaling(1 / 255), pn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, epochs=1, verbose=0)
    bare = pn.Sequential([pn.Input((5,)), pn.layers.Dense(1)])
    bare.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="far from standardized"):
        bare.fit(x, y, epochs=1, verbose=0)
