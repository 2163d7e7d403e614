"""Callbacks tested by behaviour: scripted monitored values decide when EarlyStopping stops
and ReduceLROnPlateau lowers the rate; BackupAndRestore resumes an interrupted fit to the
same final weights as an uninterrupted one."""

import ast
import csv
import os
import warnings

import numpy as np
import pytest

import portanet as pn
from portanet import callbacks as C


# ---------------------------------------------------------------------------- helpers
class FakeModel:
    """Just what monitoring callbacks touch: stop_training, weights, an optimizer, saving."""

    def __init__(self, lr=0.1):
        self.stop_training = False
        self.weights = [np.zeros(2)]
        self.optimizer = pn.optimizers.SGD(lr)
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, ws):
        self.weights = [w.copy() for w in ws]

    def save(self, path, overwrite=True):
        self.saved.append(("model", path))

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path))


def drive(cb, values, key="val_loss", model=None):
    """Run epoch-end hooks with scripted values; the model's weights are [epoch] at each
    epoch end. Returns (model, number of epochs run)."""
    model = model or FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    epochs = 0
    for epoch, v in enumerate(values):
        cb.on_epoch_begin(epoch)
        model.weights = [np.full(2, float(epoch))]
        cb.on_epoch_end(epoch, {key: v})
        epochs += 1
        if model.stop_training:
            break
    cb.on_train_end()
    return model, epochs


def data(n=32, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x @ np.array([[1.0], [-2.0], [0.5]])[:d] + 0.1 * rng.normal(size=(n, 1))
    return x, y


def small_model(optimizer=None, seed=1, dropout=False):
    pn.utils.set_random_seed(seed)
    layers = [pn.Input((3,)), pn.layers.Dense(4, activation="tanh")]
    if dropout:
        layers.append(pn.layers.Dropout(0.25))
    layers.append(pn.layers.Dense(1))
    model = pn.Sequential(layers)
    model.compile(optimizer=optimizer or pn.optimizers.SGD(0.05), loss="mse")
    return model


def script(key, values):
    """A LambdaCallback that overwrites logs[key] with values[epoch] (placed before the
    callback under test, which then sees the scripted sequence)."""
    def on_epoch_end(epoch, logs):
        logs[key] = values[epoch]
    return C.LambdaCallback(on_epoch_end=on_epoch_end)


# ---------------------------------------------------------------------------- base
KERAS_HOOKS = ["on_batch_begin", "on_batch_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
               "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
               "on_predict_batch_end", "on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
               "on_predict_begin", "on_predict_end", "set_model", "set_params"]


def test_callback_has_every_keras_hook_and_batch_aliases():
    cb = C.Callback()
    for h in KERAS_HOOKS:
        assert callable(getattr(cb, h)), h
    seen = []

    class Old(C.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, None if logs is None else float(logs["loss"])))

    Old().on_train_batch_end(3, {"loss": 2.0})
    assert seen == [(3, 2.0)]


def test_subclass_batch_hook_receives_logs_in_fit(backend):
    losses = []

    class Recorder(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    x, y = data()
    model = small_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Recorder()], shuffle=False)
    assert len(losses) == 4 and all(np.isfinite(losses))


def test_batch_hooks_reach_every_callback_that_has_one(backend):
    """fit skips a per-batch hook no callback has (CallbackList._silent), but every way a
    callback can have one is called each batch: an override, the older on_batch_begin
    that Callback's on_train_batch_begin forwards to, and a hook the callback sets on
    itself in on_train_begin / on_epoch_begin."""
    seen = []

    class Old(C.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("old-begin", batch))

    class Late(C.Callback):
        def on_train_begin(self, logs=None):
            self.on_train_batch_end = lambda batch, logs=None: seen.append(("late-end", batch))

    class PerEpoch(C.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.on_test_batch_begin = lambda batch, logs=None: seen.append(("test", batch))

    x, y = data()
    model = small_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[Old(), Late(), PerEpoch()], validation_data=(x[:8], y[:8]))
    assert seen.count(("old-begin", 3)) == 1 and seen.count(("late-end", 3)) == 1
    assert [s for s in seen if s[0] == "old-begin"] == [("old-begin", b) for b in range(4)]
    assert seen.count(("test", 0)) == 1
    cbl = C.CallbackList([C.History()], model, {})
    assert "on_train_batch_begin" in cbl._silent and "on_train_batch_end" in cbl._silent
    assert "on_train_batch_begin" not in C.CallbackList([Old()], model, {})._silent


# ---------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_counts_epochs_without_improvement():
    cb = C.EarlyStopping(patience=2)
    _, n = drive(cb, [1.0, 0.8, 0.9, 0.85, 0.81, 0.7])
    assert n == 4 and cb.stopped_epoch == 3 and cb.best == 0.8 and cb.best_epoch == 1


def test_early_stopping_default_patience_zero_stops_at_first_non_improvement():
    cb = C.EarlyStopping()
    assert drive(cb, [1.0, 0.9, 0.9, 0.1])[1] == 3   # equal is not better
    # Never at epoch 0, even when the first value is bad.
    cb = C.EarlyStopping(baseline=0.1)
    assert drive(cb, [1.0, 2.0])[1] == 2


def test_early_stopping_min_delta():
    # 0.95 is better than 1.0 by less than min_delta=0.1: no improvement.
    cb = C.EarlyStopping(min_delta=0.1, patience=1)
    _, n = drive(cb, [1.0, 0.95, 0.5])
    assert n == 2 and cb.best == 1.0
    cb = C.EarlyStopping(min_delta=-0.1, patience=1)   # Keras takes |min_delta|
    assert drive(cb, [1.0, 0.95, 0.5])[1] == 2


def test_early_stopping_baseline_keeps_counting_until_beaten():
    # The first epoch does not beat baseline 0.5, so wait stays 1; one flat epoch stops.
    cb = C.EarlyStopping(patience=2, baseline=0.5)
    assert drive(cb, [1.0, 1.0, 1.0])[1] == 2
    cb = C.EarlyStopping(patience=2, baseline=0.5)
    assert drive(cb, [0.4, 0.45, 0.44, 0.3])[1] == 3


def test_early_stopping_start_from_epoch():
    cb = C.EarlyStopping(patience=0, start_from_epoch=2)
    _, n = drive(cb, [1.0, 2.0, 3.0, 0.5, 0.6, 0.1])
    assert n == 5 and cb.stopped_epoch == 4


def test_early_stopping_max_mode_and_auto_direction():
    for cb in (C.EarlyStopping(monitor="val_accuracy"), C.EarlyStopping(monitor="val_acc", mode="auto"),
               C.EarlyStopping(monitor="score", mode="max")):
        _, n = drive(cb, [0.5, 0.6, 0.55, 0.9], key=cb.monitor)
        assert n == 3, cb.monitor
    cb = C.EarlyStopping(monitor="val_mean_absolute_error")
    assert drive(cb, [0.5, 0.6], key=cb.monitor)[1] == 2
    with pytest.raises(ValueError, match="mode='max'"):
        drive(C.EarlyStopping(monitor="val_score"), [1.0], key="val_score")


def test_early_stopping_restore_best_weights():
    cb = C.EarlyStopping(patience=2, restore_best_weights=True)
    model, _ = drive(cb, [1.0, 0.8, 0.9, 0.85])
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])   # the weights of epoch 1
    # Without the option the last weights stay.
    model, _ = drive(C.EarlyStopping(patience=2), [1.0, 0.8, 0.9, 0.85])
    np.testing.assert_array_equal(model.weights[0], [3.0, 3.0])
    # Nothing beats the baseline: the best epoch among those run is restored.
    model, _ = drive(C.EarlyStopping(patience=2, baseline=0.1, restore_best_weights=True), [1.0, 0.9, 0.95])
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_missing_monitor_warns_and_never_stops():
    cb = C.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="val_loss"):
        _, n = drive(cb, [1.0, 2.0, 3.0], key="loss")
    assert n == 3


def test_early_stopping_instance_is_reusable():
    cb = C.EarlyStopping(patience=0)
    drive(cb, [0.1, 0.2])
    # A second run starts from scratch, not from the first run's best 0.1.
    assert drive(cb, [1.0, 0.9, 0.8, 0.9])[1] == 4


@pytest.mark.parametrize("kwargs,arg", [
    ({"patience": -1}, "patience"), ({"patience": 1.5}, "patience"), ({"mode": "minimum"}, "mode"),
    ({"start_from_epoch": -2}, "start_from_epoch"), ({"baseline": "low"}, "baseline"),
    ({"min_delta": "x"}, "min_delta"), ({"monitor": ""}, "monitor"),
])
def test_early_stopping_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        C.EarlyStopping(**kwargs)


def test_early_stopping_in_fit_stops_and_restores(backend):
    x, y = data()
    model = small_model()
    snapshots = []
    keep = C.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, batch_size=8, epochs=20, verbose=0, validation_split=0.25,
                     callbacks=[script("val_loss", [3.0, 2.0, 1.0, 1.5, 1.2, 0.5] + [9.0] * 14), keep, es])
    assert hist.epoch == [0, 1, 2, 3, 4] and es.stopped_epoch == 4
    for got, want in zip(model.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(snapshots[2][0], snapshots[4][0])


# ---------------------------------------------------------------------------- ReduceLROnPlateau
def test_reduce_lr_on_plateau_in_fit_lowers_rate_and_records_it(backend):
    x, y = data()
    model = small_model(pn.optimizers.SGD(0.1))
    values = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    cb = C.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    hist = model.fit(x, y, batch_size=16, epochs=7, verbose=0, validation_split=0.25,
                     callbacks=[script("val_loss", values), cb])
    # Recorded at each epoch end, before that epoch's reduction (as Keras).
    assert hist.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    # A later fit without such a callback records no learning_rate, also after two of them.
    assert "learning_rate" not in model.fit(x, y, epochs=1, verbose=0).history
    both = [C.LearningRateScheduler(lambda epoch, lr: 0.01), C.ReduceLROnPlateau(monitor="loss")]
    # Keras logs the rate read from its float32 variable: 0.01 -> 0.009999999776482582.
    assert model.fit(x, y, epochs=1, verbose=0, callbacks=both).history["learning_rate"] == \
        [0.009999999776482582]
    assert "learning_rate" not in model.fit(x, y, epochs=1, verbose=0).history


def test_reduce_lr_on_plateau_cooldown_and_min_lr():
    cb = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2)
    model, _ = drive(cb, [1.0] * 7, key="loss")
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 3)   # cuts at epochs 1, 3, 5
    cb = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2, min_lr=0.03)
    model, _ = drive(cb, [1.0] * 7, key="loss")
    assert model.optimizer.learning_rate == pytest.approx(0.03)


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    # Improvements smaller than min_delta count as a plateau.
    cb = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=0.1)
    model, _ = drive(cb, [1.0, 0.95, 0.91], key="loss")
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    cb = C.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)   # auto: max
    model, _ = drive(cb, [0.5, 0.6, 0.7, 0.7], key="val_accuracy")
    assert model.optimizer.learning_rate == pytest.approx(0.05)


@pytest.mark.parametrize("kwargs,arg", [
    ({"factor": 1.0}, "factor"), ({"factor": 0.0}, "factor"), ({"patience": -1}, "patience"),
    ({"mode": "up"}, "mode"), ({"cooldown": -1}, "cooldown"), ({"min_lr": -0.1}, "min_lr"),
    ({"min_delta": -1.0}, "min_delta"),
])
def test_reduce_lr_on_plateau_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        C.ReduceLROnPlateau(**kwargs)


# ---------------------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_sets_rate_each_epoch(backend):
    x, y = data()
    model = small_model(pn.optimizers.SGD(0.1))
    cb = C.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5)
    hist = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert hist.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    # The one-argument form, and a zero rate really freezes the weights.
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: 0.0)])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_callbacks_log_keras_float32_values(backend):
    # Keras 3.15.1 logs these for SGD(0.001) with ReduceLROnPlateau (no cut) and
    # LearningRateScheduler(lambda epoch, lr: lr * 0.3); the rate stays a float32 variable.
    x, y = data(8)
    model = small_model(pn.optimizers.SGD(0.001))
    plateau = C.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=10)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[plateau])
    assert history.history["learning_rate"] == [0.0010000000474974513, 0.0010000000474974513]
    model = small_model(pn.optimizers.SGD(0.001))
    history = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[C.LearningRateScheduler(lambda epoch, lr: lr * 0.3)])
    assert history.history["learning_rate"] == [0.0003000000142492354, 9.000000136438757e-05,
                                                2.700000004551839e-05]
    assert float(model.optimizer.learning_rate) == 2.700000004551839e-05


def test_learning_rate_scheduler_bad_input():
    with pytest.raises(TypeError, match="schedule"):
        C.LearningRateScheduler(0.1)
    cb = C.LearningRateScheduler(lambda epoch, lr: "fast")
    cb.set_model(FakeModel())
    with pytest.raises(ValueError, match="float"):
        cb.on_epoch_begin(0)


# ---------------------------------------------------------------------------- CSVLogger
def test_csv_logger_writes_and_appends(backend, tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model = small_model()
    hist = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[C.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], hist.history["loss"], rtol=1e-12)
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], hist.history["val_loss"], rtol=1e-12)
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25,
              callbacks=[C.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[3][0] == "0" and rows.count(rows[0]) == 1
    semi = tmp_path / "semi.csv"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[C.CSVLogger(str(semi), separator=";")])
    assert semi.read_text().splitlines()[0] == "epoch;loss"


def test_csv_logger_bad_arguments():
    with pytest.raises(ValueError, match="separator"):
        C.CSVLogger("x.csv", separator=";;")
    with pytest.raises(ValueError, match="filename"):
        C.CSVLogger("")


# ---------------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_formats_path_and_saves_every_epoch():
    cb = C.ModelCheckpoint("ckpt/{epoch:02d}-{val_loss:.2f}.portanet")
    model, _ = drive(cb, [1.234, 0.5, 0.75])
    assert model.saved == [("model", "ckpt/01-1.23.portanet"), ("model", "ckpt/02-0.50.portanet"),
                           ("model", "ckpt/03-0.75.portanet")]


def test_model_checkpoint_save_best_only_and_weights_only():
    cb = C.ModelCheckpoint("w-{epoch}.portanet", save_best_only=True, save_weights_only=True)
    model, _ = drive(cb, [1.0, 1.2, 0.9, 0.9, 0.3])
    assert model.saved == [("weights", "w-1.portanet"), ("weights", "w-3.portanet"), ("weights", "w-5.portanet")]
    cb = C.ModelCheckpoint("a.portanet", monitor="val_accuracy", save_best_only=True)
    model, _ = drive(cb, [0.5, 0.4, 0.6], key="val_accuracy")
    assert len(model.saved) == 2
    cb = C.ModelCheckpoint("t.portanet", save_best_only=True, initial_value_threshold=0.95)
    model, _ = drive(cb, [1.0, 0.99, 0.9])
    assert model.saved == [("model", "t.portanet")]


def test_model_checkpoint_save_freq_batches():
    model = FakeModel()
    cb = C.ModelCheckpoint("b-{epoch}-{batch}.portanet", save_freq=3)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for batch in range(4):
            cb.on_train_batch_end(batch, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"loss": 1.0})
    assert [p for _, p in model.saved] == ["b-1-3.portanet", "b-2-2.portanet"]


def test_model_checkpoint_unknown_key_and_bad_arguments():
    cb = C.ModelCheckpoint("{epoch}-{val_acc:.2f}.portanet")
    with pytest.raises(KeyError, match="val_acc"):
        drive(cb, [1.0])
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("a.portanet", save_freq="batch")
    with pytest.raises(ValueError, match="mode"):
        C.ModelCheckpoint("a.portanet", mode="best")
    with pytest.raises(ValueError, match="filepath"):
        C.ModelCheckpoint("")
    with pytest.raises(ValueError, match="initial_value_threshold"):
        C.ModelCheckpoint("a.portanet", initial_value_threshold="x")


def test_model_checkpoint_with_real_files(backend, tmp_path):
    x, y = data()
    model = small_model()
    pattern = str(tmp_path / "m-{epoch:02d}.portanet")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[C.ModelCheckpoint(pattern, monitor="loss")])
    assert sorted(os.listdir(tmp_path)) == ["m-01.portanet", "m-02.portanet"]
    loaded = pn.saving.load_model(str(tmp_path / "m-02.portanet"))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    wpath = str(tmp_path / "best.weights.portanet")
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[C.ModelCheckpoint(wpath, monitor="loss", save_weights_only=True)])
    other = small_model(seed=5)
    other.load_weights(wpath)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- BackupAndRestore
class Crash(C.Callback):
    """Raises in the middle of epoch ``epoch`` (after a few of its updates were applied)."""

    def __init__(self, epoch, batch=1):
        super().__init__()
        self.epoch, self.batch = epoch, batch
        self._current = None

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt("simulated crash")


def _train(backup_dir, epochs=6, extra=(), model=None, before=()):
    x, y = data(48)
    model = model or small_model(pn.optimizers.Adam(0.02), seed=11, dropout=True)
    hist = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, shuffle=True, validation_split=0.25,
                     callbacks=list(before) + [C.BackupAndRestore(backup_dir)] + list(extra))
    return model, hist


def test_backup_and_restore_resumes_to_identical_weights(backend, tmp_path):
    reference, ref_hist = _train(str(tmp_path / "a"))
    assert not os.path.exists(tmp_path / "a")                  # deleted after a normal end

    crash_dir = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        _train(crash_dir, extra=[Crash(epoch=3)])
    meta = C.BackupAndRestore(crash_dir)._read_metadata()
    assert meta["epoch"] == 3                                  # epochs 0, 1, 2 were backed up
    # A fresh process: the same seed, a new model, the same fit call.
    resumed, hist = _train(crash_dir)
    assert hist.epoch == [3, 4, 5]
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 6 * 5
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(hist.history["val_loss"], ref_hist.history["val_loss"][3:])
    assert not os.path.exists(crash_dir)


def test_backup_and_restore_keeps_a_changed_learning_rate(backend, tmp_path):
    def run(backup, extra=()):
        model = small_model(pn.optimizers.SGD(0.05, momentum=0.5), seed=2)
        opt = model.optimizer
        halve = C.LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(opt, "learning_rate",
                                                                           opt.learning_rate * 0.5))
        # Listed before the backup, so each backup holds the rate after that epoch's change.
        return _train(backup, before=[halve], extra=extra, model=model)[0]
    reference = run(str(tmp_path / "a"))
    assert reference.optimizer.learning_rate == pytest.approx(0.05 * 0.5 ** 6)
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path / "b"), extra=[Crash(epoch=2)])
    resumed = run(str(tmp_path / "b"))
    assert resumed.optimizer.learning_rate == reference.optimizer.learning_rate
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_same_model_object_discards_the_partial_epoch(backend, tmp_path):
    reference, _ = _train(str(tmp_path / "a"))
    crash_dir = str(tmp_path / "b")
    model = small_model(pn.optimizers.Adam(0.02), seed=11, dropout=True)
    with pytest.raises(KeyboardInterrupt):
        _train(crash_dir, model=model, extra=[Crash(epoch=4, batch=2)])
    _train(crash_dir, model=model)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_backup_keeps_exactly_one_complete_checkpoint(backend, tmp_path):
    backup = tmp_path / "bk"
    listing = []
    spy = C.LambdaCallback(on_epoch_end=lambda epoch, logs: listing.append(sorted(os.listdir(backup))))
    x, y = data(16)
    small_model().fit(x, y, batch_size=8, epochs=3, verbose=0,
                      callbacks=[C.BackupAndRestore(str(backup), delete_checkpoint=False), spy])
    assert len(listing) == 3
    for epoch, files in enumerate(listing):
        assert len(files) == 2 and "training_metadata.json" in files
    meta = C.BackupAndRestore(str(backup))._read_metadata()
    assert meta["epoch"] == 3 and os.path.exists(backup / meta["checkpoint"])
    # A finished run's backup makes the next fit with the same epochs a no-op.
    model = small_model(seed=4)
    hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[C.BackupAndRestore(str(backup))])
    assert hist.epoch == []


@pytest.mark.parametrize("kwargs,arg", [
    ({"backup_dir": ""}, "backup_dir"), ({"backup_dir": "d", "save_freq": 0}, "save_freq"),
    ({"backup_dir": "d", "save_freq": "batch"}, "save_freq"),
])
def test_backup_and_restore_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        C.BackupAndRestore(**kwargs)


# ---------------------------------------------------------------------------- LambdaCallback
def test_lambda_callback_hooks_and_unknown_hook(backend):
    events = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                          on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch)),
                          on_train_end=lambda logs: events.append("end"))
    x, y = data(8)
    small_model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert events == ["begin", ("epoch", 0), ("epoch", 1), "end"]
    with pytest.raises(TypeError, match="on_epoch_finish"):
        C.LambdaCallback(on_epoch_finish=print)


def test_no_warnings_from_a_plain_monitored_fit(backend):
    x, y = data()
    model = small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
                  callbacks=[C.EarlyStopping(), C.ReduceLROnPlateau()])


# ---------------------------------------------------------------------------- package layout
CALLBACKS_DIR = os.path.join(os.path.dirname(pn.__file__), "callbacks")
# The callbacks sit left of the training loop, the models and the plug-ins (docs/ARCHITECTURE.md).
FORBIDDEN = ("models", "training", "distributed", "diagnostics")


def _imported_modules(source, package=("portanet", "callbacks")):
    """Every module an ``import`` anywhere in ``source`` names (relative imports resolved
    against ``package``; ``from X import y`` counts as X and X.y)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def _forbidden(names):
    return sorted({n for n in names if n.split(".")[0] == "portanet" and len(n.split(".")) > 1
                   and n.split(".")[1] in FORBIDDEN})


def test_callbacks_import_nothing_right_of_them():
    files = sorted(f for f in os.listdir(CALLBACKS_DIR) if f.endswith(".py"))
    assert len(files) >= 16 and "__init__.py" in files
    offenders = {}
    for name in files:
        with open(os.path.join(CALLBACKS_DIR, name)) as f:
            bad = _forbidden(_imported_modules(f.read()))
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_the_import_checker_catches_each_kind_of_import():
    assert _forbidden(_imported_modules("from ..models import Model\n")) == ["portanet.models",
                                                                           "portanet.models.Model"]
    assert _forbidden(_imported_modules("def f():\n    from .. import training\n")) == ["portanet.training"]
    assert _forbidden(_imported_modules("import portanet.distributed as d\n")) == ["portanet.distributed"]
    assert _forbidden(_imported_modules("from portanet.diagnostics import x\n")) != []
    assert _forbidden(_imported_modules("from .. import saving, layers\nfrom . import callback\n")) == []


@pytest.mark.parametrize("name,module", [
    ("Callback", "callback"), ("CallbackList", "callback_list"), ("History", "history"),
    ("ProgbarLogger", "progbar_logger"), ("LambdaCallback", "lambda_callback"),
    ("EarlyStopping", "early_stopping"), ("ModelCheckpoint", "model_checkpoint"),
    ("ReduceLROnPlateau", "reduce_lr_on_plateau"), ("LearningRateScheduler", "learning_rate_scheduler"),
    ("CSVLogger", "csv_logger"), ("BackupAndRestore", "backup_and_restore"),
    ("TerminateOnNaN", "terminate_on_nan"), ("TrainingDiagnostics", "training_diagnostics"),
])
def test_each_callback_lives_in_its_own_module(name, module):
    assert getattr(pn.callbacks, name).__module__ == f"portanet.callbacks.{module}"
    assert name in pn.callbacks.__all__


def test_public_names_and_compatibility_exports():
    for name in ("LazyLogs", "format_logs"):
        assert name in pn.callbacks.__all__ and hasattr(pn.callbacks, name)
    # The diagnostics module keeps exporting the two callbacks that moved out of it.
    assert pn.diagnostics.TrainingDiagnostics is pn.callbacks.TrainingDiagnostics
    assert pn.diagnostics.TerminateOnNaN is pn.callbacks.TerminateOnNaN


def test_format_logs():
    assert C.format_logs({"loss": 0.123456, "name": "x", "steps": 3}) == "loss: 0.1235 - name: x - steps: 3"
    assert C.format_logs({}) == ""
    reads = []
    lazy = C.LazyLogs({"b": lambda: reads.append("b") or 2.0, "a": lambda: reads.append("a") or 1.5})
    assert C.format_logs(lazy) == "b: 2.0000 - a: 1.5000" and reads == ["b", "a"]


# ---------------------------------------------------------------------------- public routes
def test_backup_and_restore_without_restore_training_state(backend, tmp_path, monkeypatch):
    # The route through saving.load_model + set_weights + optimizer.set_state gives the
    # same resumed run as the one through saving.restore_training_state.
    reference, ref_hist = _train(str(tmp_path / "a"), epochs=4)
    monkeypatch.delattr(pn.saving, "restore_training_state")
    crash_dir = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        _train(crash_dir, epochs=4, extra=[Crash(epoch=2)])
    resumed, hist = _train(crash_dir, epochs=4)
    assert hist.epoch == [2, 3]
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 4 * 5
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(hist.history["val_loss"], ref_hist.history["val_loss"][2:])


def test_backend_rng_state_round_trip(backend):
    import json
    state = backend.get_rng_state()
    assert json.loads(json.dumps(state)) == state        # what BackupAndRestore writes
    backend.begin_epoch()
    first = backend.to_numpy(backend.permutation(50))
    backend.begin_epoch()
    second = backend.to_numpy(backend.permutation(50))
    assert not np.array_equal(first, second)
    backend.set_rng_state(state)
    backend.begin_epoch()
    np.testing.assert_array_equal(backend.to_numpy(backend.permutation(50)), first)


def test_backup_metadata_holds_a_float_rate_but_not_a_schedule(backend, tmp_path):
    x, y = data(16)
    schedule = pn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    # A float rate is the float32 variable's value (0.05 -> 0.05000000074505806), as Keras.
    for optimizer, expected in ((pn.optimizers.SGD(0.05), 0.05000000074505806),
                                (pn.optimizers.SGD(schedule), None)):
        backup = tmp_path / type(expected).__name__
        model = small_model(optimizer)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                  callbacks=[C.BackupAndRestore(str(backup), delete_checkpoint=False)])
        meta = C.BackupAndRestore(str(backup))._read_metadata()
        assert meta["learning_rate"] == expected and meta["epoch"] == 2
        assert meta["rng_state"] == model.backend.get_rng_state()
        # Resuming keeps the schedule (a float would replace it) and continues from epoch 2.
        hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[C.BackupAndRestore(str(backup))])
        assert hist.epoch == [2] and model.optimizer.iterations == 6
        if expected is None:
            assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 6)


def test_terminate_on_nan_uses_the_public_step_hooks(backend, monkeypatch):
    model = small_model()
    calls = []
    add, remove = model.add_train_step_hook, model.remove_train_step_hook
    monkeypatch.setattr(model, "add_train_step_hook", lambda hook: (calls.append(("add", hook)), add(hook)))
    monkeypatch.setattr(model, "remove_train_step_hook",
                        lambda hook: (calls.append(("remove", hook)), remove(hook)))
    x, y = data(32)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[C.TerminateOnNaN()])
    assert [c[0] for c in calls] == ["add", "remove"] and calls[0][1] == calls[1][1]


def test_train_step_hooks_see_every_step_and_its_loss(backend):
    model = small_model()
    seen = []

    def hook(xs, ys, sample_weights, n):
        loss = yield
        seen.append((n, float(model.backend.to_float(loss))))
    model.add_train_step_hook(hook)
    x, y = data(20)
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    model.remove_train_step_hook(hook)
    assert [n for n, _ in seen] == [8, 8, 4]
    # The epoch loss is the sample-weighted mean of the step losses.
    mean = sum(n * v for n, v in seen) / 20
    assert hist.history["loss"][0] == pytest.approx(mean, rel=1e-5)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert len(seen) == 3                                   # removed: not called any more


def test_training_diagnostics_probe_comes_from_the_steps_of_any_data(backend):
    # The probe rows come through the public step hook, so a PyDataset (which has no rows
    # the loop could slice) is probed too; the hook is gone once probe_size rows are in.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    bias = np.r_[np.full(8, 100.0), np.full(8, -100.0)].astype("float32")

    class Batches(pn.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

    layer = pn.layers.Dense(16, activation="relu", kernel_initializer="zeros")
    model = pn.Sequential([pn.Input((4,)), layer, pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(0.0), loss="mse")
    layer.bias.assign(bias)
    diag = pn.callbacks.TrainingDiagnostics(verbose=0, dead_threshold=0.4, probe_size=40)
    model.fit(Batches(), epochs=1, verbose=0, shuffle=False, callbacks=[diag])
    assert diag.records[0]["layers"][layer.name]["dead_fraction"] == 0.5
    assert [int(a.shape[0]) for a in diag._probe] == [40]  # 16 + 16 + 8 rows
    np.testing.assert_array_equal(model.backend.to_numpy(diag._probe[0]), x[:40])
    assert list(model._train_step_hooks) == [] and not hasattr(model, "_train_data")


def test_model_checkpoint_refuses_a_path_it_could_not_save_before_training():
    """Keras's rule, checked when the callback is made (not after the first epoch)."""
    with pytest.raises(ValueError, match="must end in `.weights.h5`"):
        C.ModelCheckpoint("w.npz", save_weights_only=True)
    with pytest.raises(ValueError, match="must end in `.keras`"):
        C.ModelCheckpoint("model.ckpt")
    assert C.ModelCheckpoint("m.keras").filepath == "m.keras"
    assert C.ModelCheckpoint("w.weights.h5", save_weights_only=True).save_weights_only
