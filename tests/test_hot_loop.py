"""The hot loop never synchronizes inside a step (docs/ARCHITECTURE.md, section 5).

fit reads the device back only when it logs: with verbose=0 and no callbacks, the number
of device-to-host reads of an epoch is a small constant, whatever the number of batches.
On array_api_strict every conversion of an array to a Python value (bool, float, int,
index, NumPy) is counted too, so a hidden ``float(x)`` or ``if x:`` in a step is caught.
"""

import contextlib

import numpy as np
import pytest

import portanet as pn
from portanet.training import data_adapter as pdata


def _model(units=3, metrics=None, features=6):
    model = pn.Sequential([pn.Input((features,)), pn.layers.Dense(8, activation="relu"),
                           pn.layers.Dense(units, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


@contextlib.contextmanager
def _count_conversions(backend):
    """Count every array -> Python/NumPy conversion on array_api_strict (else nothing)."""
    counter = {"n": 0}
    if backend.name != "array_api_strict":
        yield counter
        return
    import array_api_strict
    cls = type(array_api_strict.asarray(0.0))
    saved = {}
    for name in ("__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__",
                 "__dlpack__", "tolist", "item"):
        original = cls.__dict__.get(name)
        if original is None:
            continue
        saved[name] = original

        def wrapper(self, *args, _original=original, **kwargs):
            counter["n"] += 1
            return _original(self, *args, **kwargs)
        setattr(cls, name, wrapper)
    try:
        yield counter
    finally:
        for name, original in saved.items():
            setattr(cls, name, original)


def _reads_during_fit(backend, rows, batch_size, epochs, metrics=None):
    rng = np.random.default_rng(0)
    x = backend.from_numpy(rng.standard_normal((rows, 6)).astype(np.float32))
    y = backend.from_numpy(rng.integers(0, 3, rows).astype(np.int64))
    model = _model(metrics=metrics)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # builds; first-fit checks
    before = backend.to_host_calls
    with _count_conversions(backend) as conversions:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return backend.to_host_calls - before, conversions["n"]


@pytest.mark.parametrize("metrics", [None, ["accuracy"]])
def test_reads_per_epoch_do_not_grow_with_the_number_of_batches(backend, metrics):
    few = _reads_during_fit(backend, rows=64, batch_size=32, epochs=3, metrics=metrics)
    many = _reads_during_fit(backend, rows=64, batch_size=4, epochs=3, metrics=metrics)
    # 2 batches per epoch vs 16: the counts must be identical (nothing per step) ...
    assert many == few
    # ... and small: the per-fit checks plus a few log reads per epoch.
    calls, conversions = many
    assert calls <= 4 + 3 * 3
    assert conversions <= 4 + 3 * 3
    assert calls > 0  # the loop does read the logs back (the counter works)


def test_a_training_step_reads_nothing_back(backend):
    rng = np.random.default_rng(1)
    model = _model()
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    xs = model._prepare_inputs(x)
    ys = model._prepare_targets(y, model._output_shapes())
    model._reset_trackers()
    before = backend.to_host_calls
    with _count_conversions(backend) as conversions:
        for _ in range(5):
            model.train_step((xs[0], ys[0], None))
    assert backend.to_host_calls == before
    assert conversions["n"] == 0


def test_device_data_limit_reads_the_environment(monkeypatch):
    monkeypatch.delenv("PORTANET_DEVICE_DATA_LIMIT", raising=False)
    assert pdata.device_data_limit() == 2 * 2**30
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "1000")
    assert pdata.device_data_limit() == 1000
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "lots")
    with pytest.raises(ValueError, match="PORTANET_DEVICE_DATA_LIMIT='lots'"):
        pdata.device_data_limit()
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "-5")
    with pytest.raises(ValueError, match="non-negative"):
        pdata.device_data_limit()


def test_should_stream_only_host_data_over_the_limit(backend, monkeypatch):
    x = np.zeros((10, 4), np.float32)  # 160 bytes
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "100")
    assert pdata.should_stream(backend, [x]) == (backend.name != "numpy")
    assert not pdata.should_stream(backend, [backend.from_numpy(x)])
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "1000")
    assert not pdata.should_stream(backend, [x])


@pytest.mark.parametrize("shuffle", [True, False])
def test_streamed_batches_train_exactly_as_device_resident_ones(backend, monkeypatch, shuffle):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    results = []
    for limit in ("0", str(2**40)):  # 0 bytes: stream everything; 1 TiB: all on the device
        monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", limit)
        pn.utils.set_random_seed(7)
        model = _model()
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=shuffle,
                            validation_split=0.2)
        results.append((model.get_weights(), history.history,
                        model.predict(x, batch_size=16, verbose=0)))
    (w_stream, h_stream, p_stream), (w_dev, h_dev, p_dev) = results
    for a, b in zip(w_stream, w_dev):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h_stream["loss"], h_dev["loss"], rtol=1e-6)
    np.testing.assert_allclose(h_stream["val_loss"], h_dev["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(p_stream, p_dev, rtol=1e-6, atol=1e-7)


def test_streaming_keeps_inputs_on_the_host(backend, monkeypatch):
    monkeypatch.setenv("PORTANET_DEVICE_DATA_LIMIT", "0")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 6)).astype(np.float32)
    model = _model()
    model.fit(x, rng.integers(0, 3, 12), batch_size=4, epochs=1, verbose=0)
    xs = model._prepare_inputs(x, stream="auto")
    assert backend.is_array(xs[0]) == (backend.name == "numpy")
    data = pdata.ArrayDataAdapter(backend, xs, batch_size=5, shuffle=False)
    batches = [bx for bx, _, _ in data]
    assert [int(b.shape[0]) for b in batches] == [5, 5, 2]
    assert all(backend.is_array(b) for b in batches)
    np.testing.assert_array_equal(np.concatenate([backend.to_numpy(b) for b in batches]), x)


def test_finite_check_is_one_reduction_yet_exact(backend):
    # Finite values whose float32 sum overflows are accepted; one NaN or Inf is caught.
    big = np.full((4, 3), 3e38, np.float32)
    pdata.check_finite(backend, big, "x")
    for bad in (np.nan, np.inf, -np.inf):
        a = np.ones((4, 3), np.float32)
        a[2, 1] = bad
        with pytest.raises(ValueError, match="x contains 1 non-finite value"):
            pdata.check_finite(backend, a, "x")

    # Large float32/float64 arrays are summed by BLAS in rows (data._finite_probe_sum): a
    # bad value in the rows, in the tail beyond them, or in a strided array is caught, and
    # finite data whose sum overflows are still accepted.
    from portanet import data as _d
    n = _d._FINITE_PROBE_MIN + _d._FINITE_PROBE_COLS // 2 + 3
    for dtype in (np.float32, np.float64):
        huge = np.full(n, np.finfo(dtype).max / 4, dtype)
        pdata.check_finite(backend, huge, "x")
        for where in (0, n // 2, n - 1):          # rows' first, middle; the tail
            for bad in (np.nan, np.inf, -np.inf):
                a = np.ones(n, dtype)
                a[where] = bad
                for arr in (a, a.reshape(-1, 1), np.repeat(a, 2)[::2]):
                    with pytest.raises(ValueError, match="x contains 1 non-finite value"):
                        pdata.check_finite(backend, arr, "x")
