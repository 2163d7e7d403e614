"""Normalization: statistics against hand computation and Keras's batch-merge formula,
the harness, invert, the config, and the fit-time standardization warning."""

import warnings

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np


def _weights(layer):
    mean, var, count = layer.get_weights()
    assert count.dtype == np.int32 and count.shape == () and count == 0   # Keras keeps it at 0
    return mean, var


def test_adapt_hand_computed(backend):
    # Two columns: [1, 2, 3, 6] and [10, 10, 10, 30].
    x = np.array([[1., 10.], [2., 10.], [3., 10.], [6., 30.]], "float32")
    layer = pn.layers.Normalization()
    layer.adapt(x)
    mean, var = _weights(layer)
    np.testing.assert_allclose(mean, [3.0, 15.0], rtol=1e-6)
    # Biased variance: ((1-3)^2+(2-3)^2+0+(6-3)^2)/4 = 14/4; (3*25 + 225)/4 = 75.
    np.testing.assert_allclose(var, [3.5, 75.0], rtol=1e-6)
    y = to_np(backend, layer(x))
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 3.0) / np.sqrt(3.5), rtol=1e-5)
    np.testing.assert_allclose(y[:, 1], [-5 / np.sqrt(75)] * 3 + [15 / np.sqrt(75)], rtol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 7, None])
def test_adapt_in_batches_matches_whole_array(backend, batch_size, rng):
    x = rng.normal(5.0, 3.0, size=(50, 3)).astype("float32")
    layer = pn.layers.Normalization()
    layer.adapt(x, batch_size=batch_size)
    mean, var = _weights(layer)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(var, x.astype(np.float64).var(0), rtol=1e-4)


def test_adapt_steps_and_generator(backend, rng):
    x = rng.normal(size=(40, 2)).astype("float32")
    layer = pn.layers.Normalization()
    layer.adapt(x, batch_size=10, steps=2)  # only the first 20 rows
    np.testing.assert_allclose(_weights(layer)[0], x[:20].mean(0), rtol=1e-5, atol=1e-6)
    gen_layer = pn.layers.Normalization()
    gen_layer.adapt((x[i:i + 8], None) for i in range(0, 40, 8))
    np.testing.assert_allclose(_weights(gen_layer)[1], x.var(0), rtol=1e-4)


def test_keras_merge_formula_by_hand(backend):
    # Batch A = [0, 2] (mean 1, var 1), batch B = [4, 4, 10] (mean 6, var 8).
    # w = 3/5: mean' = 1*0.4 + 6*0.6 = 4; var' = (1 + 9)*0.4 + (8 + 4)*0.6 = 11.2
    layer = pn.layers.Normalization()
    layer.adapt([np.array([[0.], [2.]], "float32"), np.array([[4.], [4.], [10.]], "float32")].__iter__())
    mean, var = _weights(layer)
    np.testing.assert_allclose(mean, [4.0], rtol=1e-6)
    np.testing.assert_allclose(var, [11.2], rtol=1e-6)
    np.testing.assert_allclose(var, np.var([0, 2, 4, 4, 10]), rtol=1e-6)


def test_axis_tuple_and_none(backend, rng):
    x = rng.normal(size=(6, 3, 2)).astype("float32") * 4 + 1
    per_cell = pn.layers.Normalization(axis=(1, 2))
    per_cell.adapt(x)
    assert per_cell.mean.shape == (1, 3, 2)    # Keras's broadcast shape
    np.testing.assert_allclose(_weights(per_cell)[0], x.mean(0), rtol=1e-5, atol=1e-6)
    scalar = pn.layers.Normalization(axis=None)
    scalar.adapt(x)
    assert scalar.mean.shape == (1, 1, 1)
    np.testing.assert_allclose(_weights(scalar)[1], x.var(), rtol=1e-5)
    middle = pn.layers.Normalization(axis=1)
    middle.adapt(x)
    np.testing.assert_allclose(_weights(middle)[0], x.mean(axis=(0, 2)), rtol=1e-5, atol=1e-6)


def test_given_statistics_and_invert(backend):
    fwd = pn.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    y = to_np(backend, fwd(np.array([[3.0, 2.5]], "float32")))
    # A zero variance divides by keras's epsilon 1e-7 instead of 0.
    np.testing.assert_allclose(y, [[1.0, 0.5 / 1e-7]], rtol=1e-5)
    inv = pn.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    np.testing.assert_allclose(to_np(backend, inv(np.array([[1.0, 1.0]], "float32"))), [[3.0, 5.0]])
    back = pn.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])
    x = np.array([[7.0, -1.0]], "float32")
    np.testing.assert_allclose(to_np(backend, inv(to_np(backend, back(x)))), x, rtol=1e-6)


@pytest.mark.parametrize("invert", [False, True])
def test_harness(backend, invert):
    # Given statistics are constants, not weights (Keras: no weights).
    run_layer_test(lambda: pn.layers.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0],
                                                   invert=invert),
                   (4, 3), backend, expected_output_shape=(4, 3), expected_num_weights=0)
    run_layer_test(lambda: pn.layers.Normalization(axis=(1, 2), mean=1.5, variance=2.0, invert=invert),
                   (2, 3, 2), backend, expected_output_shape=(2, 3, 2), expected_num_weights=0)


def test_statistics_are_not_trainable(backend, rng):
    layer = pn.layers.Normalization()
    layer.adapt(rng.normal(size=(10, 3)))
    assert layer.trainable_weights == []
    assert [v.name for v in layer.non_trainable_weights] == ["mean", "variance", "count"]


def test_in_model_predict_standardizes_new_values(backend, rng):
    x = rng.normal(100.0, 20.0, size=(64, 2)).astype("float32")
    norm = pn.layers.Normalization()
    norm.adapt(x)
    model = pn.Sequential([pn.Input((2,)), norm])
    new = np.array([[100.0, 100.0], [140.0, 60.0]], "float32")
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    np.testing.assert_allclose(model.predict(new, verbose=0), (new - mean) / np.sqrt(var), rtol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="both mean and variance"):
        pn.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="variance=-1.0"):
        pn.layers.Normalization(mean=0.0, variance=-1.0)
    with pytest.raises(TypeError, match="axis='x'"):
        pn.layers.Normalization(axis="x")
    layer = pn.layers.Normalization(axis=0)
    with pytest.raises(ValueError, match="batch axis"):
        layer.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match="batch_size=0"):
        pn.layers.Normalization().adapt(np.ones((4, 2)), batch_size=0)
    with pytest.raises(ValueError, match="no samples"):
        pn.layers.Normalization().adapt(np.ones((0, 2)))
    built = pn.layers.Normalization()
    built.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"shape \(4, 3\) does not match"):
        built.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="does not broadcast"):
        pn.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0]).build((None, 2))
    # Keras 3's constructor checks: same shapes, and no more dimensions than kept axes.
    with pytest.raises(ValueError, match=r"same shape; got mean of shape \(3,\) and variance of shape \(\)"):
        pn.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=1.0)
    with pytest.raises(ValueError, match=r"mean of shape \(1, 2\) has rank 2; expected at most .* \(1, axis=-1\)"):
        pn.layers.Normalization(mean=[[1.0, 2.0]], variance=[[1.0, 1.0]])
    with pytest.raises(ValueError, match="adapt.*was given mean= and variance="):
        pn.layers.Normalization(mean=1.0, variance=1.0).adapt(np.ones((4, 2)))


def test_config_round_trip():
    layer = pn.layers.Normalization(axis=(1, 2), mean=[[1.0]], variance=[[2.0]], invert=True, name="n")
    again = pn.layers.deserialize(pn.layers.serialize(layer))
    assert again.axis == (1, 2) and again.invert and again.input_mean == [[1.0]]
    assert again.get_config() == layer.get_config()


# --------------------------------------------------------------------------- the fit warning
def _regression(rng, scale=1.0, shift=0.0):
    x = (rng.normal(size=(96, 3)) * scale + shift).astype("float32")
    y = (x @ np.array([[1.0], [-1.0], [0.5]], "float32")).astype("float32")
    return x, y


def _model(first=None, optimizer="sgd"):
    layers = [pn.Input((3,))] + ([first] if first is not None else []) + [pn.layers.Dense(1)]
    model = pn.Sequential(layers)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_fit_warns_on_raw_inputs_naming_columns(backend, rng):
    x, y = _regression(rng)
    x[:, 1] = x[:, 1] * 200.0          # std about 200
    x[:, 2] = x[:, 2] + 50.0           # mean about 50
    model = _model()
    with pytest.warns(UserWarning, match=r"far from standardized.*columns 1 \(.*standard deviation "
                                         r"2\d\d\); 2 \(mean 50\.\d+\)\..*Normalization") as record:
        model.fit(x, y / 100.0, epochs=1, verbose=0)
    text = str(record[0].message)
    assert "column 0" not in text and " 0 (" not in text
    # Once per model: a second fit stays silent.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y / 100.0, epochs=1, verbose=0)


def test_fit_warns_on_tiny_scale_column(backend, rng):
    x, y = _regression(rng)
    x[:, 0] = x[:, 0] * 1e-4
    with pytest.warns(UserWarning, match=r"column 0 \(standard deviation"):
        _model().fit(x, y, epochs=1, verbose=0)


def test_no_warning_for_standardized_or_normalized_inputs(backend, rng, recwarn):
    x, y = _regression(rng)
    x[:, 0] = 0.0                              # a constant column is not flagged
    _model().fit(x, y, epochs=1, verbose=0)
    raw, raw_y = _regression(rng, scale=300.0, shift=1000.0)
    norm = pn.layers.Normalization()
    norm.adapt(raw)
    _model(norm).fit(raw, raw_y / 1000.0, epochs=1, verbose=0)
    assert [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)] == []


def test_normalization_survives_save_and_load(backend, rng, tmp_path):
    x, y = _regression(rng, scale=40.0, shift=-300.0)
    norm = pn.layers.Normalization()
    norm.adapt(x)
    model = _model(norm, optimizer="adam")
    model.fit(x, y / 100.0, epochs=2, verbose=0)
    path = tmp_path / "norm.portanet"
    model.save(str(path))
    loaded = pn.load_model(str(path))
    layer = [l for l in loaded.layers if isinstance(l, pn.layers.Normalization)][0]
    mean, var = _weights(layer)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(var, x.astype(np.float64).var(0), rtol=1e-4)
    new = rng.normal(size=(5, 3)).astype("float32") * 40 - 300
    np.testing.assert_allclose(loaded.predict(new, verbose=0), model.predict(new, verbose=0), rtol=1e-5)


def test_normalization_adapt_float64_data_has_keras_float32_values(backend):
    # Keras 3.15 adapts a NumPy array with np.mean / np.var in the array's own precision
    # (float64) and rounds only when storing: these are its exact float32 outputs for the
    # preprocessing-layers guide's data (float32 statistics gave 0.90000004 and an output of
    # -1.04e-07 where Keras has 0).
    data = np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7]])
    layer = pn.layers.Normalization()
    layer.adapt(data)
    f = np.float32
    np.testing.assert_array_equal(to_np(backend, layer.mean).ravel(),
                                  [f("0.8"), f("0.9"), f("1.0")])
    np.testing.assert_array_equal(to_np(backend, layer.variance).ravel(),
                                  [f("0.32666665")] * 3)
    out = to_np(backend, layer(data))
    np.testing.assert_array_equal(out, np.array([[-1.2247449, -1.2247449, -1.2247449],
                                                 [0.0, 0.0, 0.0],
                                                 [1.2247449, 1.224745, 1.224745]], dtype="float32"))
