"""fit/evaluate/predict on PyDataset, generators and iterables of batches: the same numbers as
the array path, steps for endless sources, errors from workers and per-batch checks, and
Keras's errors for arguments that belong inside the batches."""

import threading
import time
import traceback
import warnings

import numpy as np
import pytest

import portanet as pn

ROWS, BATCH = 40, 8  # 5 batches per epoch


def _problem(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3)[:, None]
    return x, y


def _model(seed=0):
    pn.utils.set_random_seed(seed)
    model = pn.Sequential([pn.layers.Dense(3, activation="tanh"), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.Adam(0.05), loss="mse", metrics=["mae"])
    return model


def _batches(x, y, batch=BATCH):
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]


class Batches(pn.utils.PyDataset):
    def __init__(self, x, y, batch=BATCH, fail_at=None, sleep=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch, self.fail_at, self.sleep = x, y, batch, fail_at, sleep
        self.begins = self.ends = 0

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, idx):
        if self.sleep:
            time.sleep(self.sleep)
        if idx == self.fail_at:
            raise RuntimeError(f"disk on fire at batch {idx}")
        s = slice(idx * self.batch, (idx + 1) * self.batch)
        return self.x[s], self.y[s]

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def _endless(x, y):
    while True:
        yield from _batches(x, y)


def _assert_same_weights(a, b, atol=1e-12):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=0, atol=atol)


def _no_prefetch_threads():
    deadline = time.time() + 5
    while time.time() < deadline:
        # (portanet-split: the NumPy backend's standing pool for its kernels, not a prefetch)
        if not [t for t in threading.enumerate()
                if t.name.startswith("portanet-") and not t.name.startswith("portanet-split")]:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("source", ["generator", "pydataset", "pydataset_workers", "list",
                                    "backend_arrays"])
def test_fit_on_a_dataset_trains_as_on_the_arrays(backend, float64, source):
    x, y = _problem()
    reference = _model()
    h_ref = reference.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    model = _model()
    if source == "generator":
        h = model.fit(_endless(x, y), epochs=3, steps_per_epoch=5, verbose=0)
    elif source == "pydataset":
        h = model.fit(Batches(x, y), epochs=3, shuffle=False, verbose=0)
    elif source == "pydataset_workers":
        h = model.fit(Batches(x, y, workers=3, max_queue_size=2), epochs=3, shuffle=False, verbose=0)
    elif source == "list":
        h = model.fit(_batches(x, y), epochs=3, verbose=0)
    else:
        dev = [(backend.from_numpy(a), backend.from_numpy(b)) for a, b in _batches(x, y)]
        h = model.fit(dev, epochs=3, verbose=0)
    _assert_same_weights(reference, model)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(h.history["mae"], h_ref.history["mae"], rtol=1e-12)
    assert _no_prefetch_threads()


def test_validation_data_as_a_generator_and_as_an_iterable(backend, float64):
    x, y = _problem()
    xv, yv = _problem(24, seed=1)
    model = _model()
    h = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                  validation_data=_endless(xv, yv), validation_steps=3)
    expected = model.evaluate(xv, yv, batch_size=BATCH, verbose=0, return_dict=True)
    assert len(h.history["val_loss"]) == 2
    np.testing.assert_allclose(h.history["val_loss"][-1], expected["loss"], rtol=1e-12)
    np.testing.assert_allclose(h.history["val_mae"][-1], expected["mae"], rtol=1e-12)
    # A re-iterable (a list of batches) with a dataset for training too.
    other = _model()
    h2 = other.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0,
                   validation_data=_batches(xv, yv))
    np.testing.assert_allclose(h2.history["val_loss"], h.history["val_loss"], rtol=1e-12)


def test_evaluate_and_predict_on_iterables(backend, float64):
    x, y = _problem()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    expected = model.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    for data in (_batches(x, y), Batches(x, y, workers=2), iter(_batches(x, y))):
        got = model.evaluate(data, verbose=0, return_dict=True)
        np.testing.assert_allclose([got["loss"], got["mae"]], [expected["loss"], expected["mae"]],
                                   rtol=1e-12)
    got = model.evaluate(_endless(x, y), steps=5, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-12)
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(Batches(x, y), verbose=0), pred, rtol=0, atol=1e-12)
    inputs_only = ((x[i:i + BATCH],) for i in range(0, ROWS, BATCH))
    np.testing.assert_allclose(model.predict(inputs_only, verbose=0), pred, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict(_endless(x, y), steps=2, verbose=0), pred[:16],
                               rtol=0, atol=1e-12)
    assert _no_prefetch_threads()


def test_an_unbuilt_model_builds_from_the_first_batch(backend, float64):
    x, y = _problem()
    model = _model()
    assert not model.built
    model.predict(iter(_batches(x, y)), verbose=0)
    assert model.built and model.input_shapes[0][1:] == (4,)


def test_steps_per_epoch_with_an_endless_generator(backend, float64):
    x, y = _problem()
    pulled = []

    def counting():
        for i, batch in enumerate(_endless(x, y)):
            pulled.append(i)
            yield batch

    seen = []
    cb = pn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model = _model()
    h = model.fit(counting(), epochs=3, steps_per_epoch=4, verbose=0, callbacks=[cb])
    assert seen == [0, 1, 2, 3] * 3
    assert len(h.history["loss"]) == 3
    # 12 batches trained, in order, across epochs: as arrays cycled over 12 batches.
    reference = _model()
    xs = np.concatenate([x, x, x])[:12 * BATCH]
    ys = np.concatenate([y, y, y])[:12 * BATCH]
    for i in range(12):
        reference.train_on_batch(xs[i * BATCH:(i + 1) * BATCH], ys[i * BATCH:(i + 1) * BATCH])
    _assert_same_weights(reference, model)
    assert _no_prefetch_threads()


def test_a_generator_without_steps_runs_one_pass_then_warns_as_keras(backend):
    x, y = _problem()
    model = _model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        h = model.fit(iter(_batches(x, y)), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1
    # Fewer batches than steps_per_epoch: warn, end the epoch, stop.
    seen = []
    cb = pn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    with pytest.warns(UserWarning, match="ran out of data"):
        h = _model().fit(iter(_batches(x, y)), epochs=2, steps_per_epoch=7, verbose=0, callbacks=[cb])
    assert seen == [0, 1, 2, 3, 4] and len(h.history["loss"]) == 1


class TensorLike:
    """Like a CPU torch tensor as far as portanet reads it: only ``__array__``."""

    def __init__(self, a):
        self._a = np.asarray(a)
        self.shape = self._a.shape

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


class DLPackOnly:
    """Only the DLPack protocol (backed by NumPy)."""

    def __init__(self, a):
        self._a = np.ascontiguousarray(a)

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@pytest.mark.parametrize("wrap", [TensorLike, DLPackOnly])
def test_tensor_like_batches(backend, float64, wrap):
    x, y = _problem()
    reference = _model()
    reference.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    model = _model()
    model.fit([(wrap(a), wrap(b)) for a, b in _batches(x, y)], epochs=2, verbose=0)
    _assert_same_weights(reference, model)
    # A DataLoader yields lists [x, y].
    pred = model.predict([(wrap(a),) for a, _ in _batches(x, y)], verbose=0)
    np.testing.assert_allclose(pred, reference.predict(x, verbose=0), rtol=0, atol=1e-12)
    loss = model.evaluate(iter([[wrap(a), wrap(b)] for a, b in _batches(x, y)]), verbose=0)
    np.testing.assert_allclose(loss[0], reference.evaluate(x, y, verbose=0)[0], rtol=1e-12)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_worker_exception_surfaces_and_stops_training(backend, float64, workers):
    x, y = _problem()
    model = _model()
    data = Batches(x, y, fail_at=3, workers=workers)
    with pytest.raises(RuntimeError, match="disk on fire at batch 3") as info:
        model.fit(data, epochs=2, shuffle=False, verbose=0)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "__getitem__" in frames and "fit" in frames  # the worker's frames, then the caller's
    assert _no_prefetch_threads()
    # The weights are those after the last completed step (batches 0, 1, 2).
    reference = _model()
    reference.fit(x[:3 * BATCH], y[:3 * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(reference, model)

    def failing():
        yield from _batches(x, y)[:2]
        raise KeyError("no such file")

    with pytest.raises(KeyError, match="no such file"):
        _model().fit(failing(), epochs=1, verbose=0)
    assert _no_prefetch_threads()


def test_a_wrong_batch_names_its_index(backend):
    x, y = _problem()
    batches = _batches(x, y)
    bad_shape = batches[:3] + [(x[:BATCH, :3], y[:BATCH])] + batches[4:]
    with pytest.raises(ValueError, match=r"batch 3: x: input of shape \(8, 3\)"):
        _model().fit(bad_shape, epochs=1, verbose=0)
    bad_dtype = batches[:3] + [(np.array([["a"] * 4] * BATCH), y[:BATCH])] + batches[4:]
    with pytest.raises(TypeError, match="batch 3: x"):
        _model().fit(iter(bad_dtype), epochs=1, verbose=0)
    bad_value = [(a.copy(), b) for a, b in batches]
    bad_value[3][0][2, 1] = np.nan
    with pytest.raises(ValueError, match="batch 3: x contains 1 non-finite"):
        _model().fit(bad_value, epochs=1, verbose=0)
    bad_len = batches[:3] + [(x[:BATCH], y[:BATCH - 1])] + batches[4:]
    with pytest.raises(ValueError, match="batch 3: x.* has 8, .*batch 3: y.* has 7"):
        _model().fit(bad_len, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch 0: got a tuple of 4 elements"):
        _model().fit([(x, y, None, None)], epochs=1, verbose=0)
    assert _no_prefetch_threads()


def test_pydataset_epoch_hooks_and_shuffle(backend, float64):
    x, y = _problem()
    data = Batches(x, y)
    model = _model()
    model.fit(data, epochs=3, verbose=0)  # shuffle=True: batch order shuffled per epoch
    assert (data.begins, data.ends) == (3, 3)
    reference = _model()
    reference.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    assert max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(),
                                                           reference.get_weights())) > 1e-6


def test_pydataset_class_weight_matches_arrays(backend, float64):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 4))
    y = (x[:, 0] > 0).astype("int64")

    def model():
        pn.utils.set_random_seed(0)
        m = pn.Sequential([pn.layers.Dense(2, activation="softmax")])
        m.compile(optimizer=pn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        return m

    reference = model()
    reference.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0})
    got = model()
    got.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0})
    _assert_same_weights(reference, got)


def test_keras_errors_for_arguments_that_belong_in_the_batches(backend):
    x, y = _problem()
    model = _model()
    with pytest.raises(ValueError, match="When providing `x` as a generator, `y` should not be passed"):
        model.fit(_endless(x, y), y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="`sample_weights` should not be passed"):
        model.evaluate(Batches(x, y), sample_weight=np.ones(ROWS), verbose=0)
    with pytest.raises(ValueError, match="class_weight` is not supported for Python generator"):
        model.fit(_endless(x, y), steps_per_epoch=2, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="validation_split` is only supported for tensors"):
        model.fit(Batches(x, y), validation_split=0.2, verbose=0)
    assert not model.built  # nothing changed


def test_batch_size_is_ignored_for_datasets_as_keras(backend):
    # Keras's get_data_adapter ignores batch_size for a PyDataset or a generator (the
    # training_with_built_in_methods guide passes batch_size=64 with a PyDataset).
    x, y = _problem()
    reference = _model()
    reference.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0)
    got = _model()
    got.fit(Batches(x, y), batch_size=64, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(reference, got)
    assert got.evaluate(Batches(x, y), batch_size=7, verbose=0) == \
        reference.evaluate(Batches(x, y), verbose=0)
    out = got.predict(_batches(x, y), batch_size=3, verbose=0)
    assert out.shape[0] == ROWS   # every batch of BATCH rows, not re-batched by 3
    np.testing.assert_allclose(out, got.predict(x, verbose=0), rtol=1e-6)


def test_pydataset_workers_overlap_a_slow_getitem(backend):
    x, y = _problem()
    model = _model()
    model.predict(x[:BATCH], verbose=0)
    start = time.perf_counter()
    model.predict(Batches(x, y, sleep=0.1, workers=5), verbose=0)  # 5 items of 0.1 s
    elapsed = time.perf_counter() - start
    assert elapsed < 0.35, elapsed  # serial: 0.5 s


def test_a_slow_source_is_read_while_the_step_runs(backend):
    x, y = _problem(6 * BATCH)
    model = _model()
    model.fit(x[:BATCH], y[:BATCH], verbose=0)
    step = pn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: time.sleep(0.05))
    start = time.perf_counter()
    model.fit(Batches(x, y, sleep=0.05), epochs=1, shuffle=False, verbose=0, callbacks=[step])
    elapsed = time.perf_counter() - start
    # Serial: 1 (build) + 6 reads and 6 steps of 50 ms = 0.65 s; overlapped about 0.4 s.
    assert elapsed < 0.55, elapsed


def test_a_fast_source_is_read_on_the_main_thread(backend, float64):
    x, y = _problem()
    names = []
    cb = pn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: names.extend(
        t.name for t in threading.enumerate() if t.name.startswith("portanet-")
        and not t.name.startswith("portanet-split")))   # the backend's kernel pool
    model = _model()
    model.fit(_batches(x, y), epochs=1, verbose=0, callbacks=[cb])
    assert names == []
