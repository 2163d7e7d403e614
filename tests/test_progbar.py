"""Keras 3's console output: ``Progbar`` (keras/src/utils/progbar.py) text character for
character (a fake clock makes the timings exact), fit/evaluate/predict output beside Keras 3
transcripts, the ``logs`` dicts every callback hook receives, and the messages of
ModelCheckpoint, EarlyStopping and ReduceLROnPlateau."""

import io
import json
import pathlib
import re
import sys

import numpy as np
import pytest

import portanet as pn
from portanet import progbar as P

BAR = "\u2501"  # ━


class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def time(self):
        return self.t


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def _draws(out):
    """Each state a bar drew, in order: the text between ``\\r``s (ANSI codes, backspaces
    and line ends removed). On POSIX the display is dynamic, as Keras's."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", out).replace("\b", "")
    return [part.rstrip("\n") for part in text.split("\r") if part.strip("\n")]


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(P, "time", c)
    return c


# ------------------------------------------------------------------ Progbar, unit level
def test_progbar_is_exported():
    assert pn.utils.Progbar is P.Progbar


def test_plain_bar_averages_stateless_metrics_weighted_by_steps(clock, capsys):
    bar = P.Progbar(4, interval=0.0, stateful_metrics=["acc"])
    clock.t = 101.0
    bar.update(1, [("loss", 1.0), ("acc", 0.5)])
    clock.t = 101.5
    bar.update(3, [("loss", 2.0), ("acc", 0.7)])  # loss covers 2 steps: (1*1 + 2*2) / 3
    out = capsys.readouterr().out
    # step 1: 1 s/step; step 3: (101.5 - 101) / 2 = 250 ms/step (the first step left out),
    # ETA 0.25 s -> "0s"
    assert _draws(out) == [f"1/4 {BAR * 20} 3s 1s/step - loss: 1.0000 - acc: 0.5000",
                           f"3/4 {BAR * 20} 0s 250ms/step - loss: 1.6667 - acc: 0.7000"]
    clock.t = 102.0
    bar.update(4, [("loss", 9.0)])  # finalizing: the given value replaces the average
    out = capsys.readouterr().out
    assert out.endswith("\n") and _draws(out) == [f"4/4 {BAR * 20} 2s 333ms/step - loss: 9.0000 - acc: 0.7000"]


def test_add_and_interval(clock, capsys):
    bar = P.Progbar(10, interval=1.0, stateful_metrics=set())
    clock.t = 100.5
    bar.add(2, [("x", 0.25)])  # the first update always draws (last draw at time 0)
    clock.t = 100.7
    bar.add(3)  # 0.2 s after the last draw: skipped
    assert bar._seen_so_far == 5
    assert _draws(capsys.readouterr().out) == [f" 2/10 {BAR * 4}{BAR * 16} 2s 250ms/step - x: 0.2500"]
    clock.t = 102.0
    bar.add(5)
    assert _draws(capsys.readouterr().out) == [f"10/10 {BAR * 20} 2s 200ms/step - x: 0.2500"]  # 2 s / 10


def test_small_and_negative_values_as_keras_formats_them(clock, capsys):
    bar = P.Progbar(2, verbose=1, interval=0.0, stateful_metrics=["a", "b", "c"])
    clock.t = 101.0
    bar.update(2, [("a", 3.3748e-4), ("b", -0.5), ("c", 12.0)])
    assert capsys.readouterr().out.endswith(" - a: 3.3748e-04 - b: -0.5000 - c: 12.0000\n")
    bar = P.Progbar(2, verbose=2, stateful_metrics=["a", "b"])
    clock.t = 102.0
    bar.update(1, [("a", 0.9)])
    assert capsys.readouterr().out == ""  # verbose 2 prints only when finished
    clock.t = 102.4  # 1.4 s since the start, 0.4 s/step past the first step
    bar.update(2, [("a", 3.3748e-4), ("b", -0.5)])
    # Keras's verbose-2 test is avg > 1e-3, so a negative value prints as %.4e too.
    assert capsys.readouterr().out == "2/2 - 1s - 400ms/step - a: 3.3748e-04 - b: -5.0000e-01\n"


def test_dynamic_display_writes_keras_escape_codes(clock, monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    bar = P.Progbar(2, interval=0.0, stateless_metrics=set())
    clock.t = 101.0
    bar.update(1, [("loss", 0.5)])
    first = ("\r\x1b[1m1/2\x1b[0m \x1b[32m" + BAR * 10 + "\x1b[0m\x1b[37m" + BAR * 10
             + "\x1b[0m \x1b[1m1s\x1b[0m 1s/step - loss: 0.5000")
    assert tty.getvalue() == first
    clock.t = 101.002
    bar.update(2, [("loss", 0.25)])
    width = len(f"1/2 {BAR * 20} 1s 1s/step - loss: 0.5000")
    second = ("\b" * width + "\r\x1b[1m2/2\x1b[0m \x1b[32m" + BAR * 20 + "\x1b[0m\x1b[37m\x1b[0m"
              + " \x1b[1m1s\x1b[0m 2ms/step - loss: 0.2500\n")
    assert tty.getvalue() == first + second
    # a shorter line is padded with spaces over the longer one before it
    bar = P.Progbar(2, interval=0.0, stateful_metrics=["a"])
    tty.seek(0)
    tty.truncate()
    bar.update(1, [("a", 100.0)])
    bar.update(1, [("a", 1.0)])
    assert tty.getvalue().endswith("a: 1.0000" + " " * 2)  # "100.0000" was 2 longer


def test_unknown_target_and_time_formats(clock, capsys):
    bar = P.Progbar(None, interval=0.0)
    clock.t = 100.003
    bar.update(3)
    assert _draws(capsys.readouterr().out) == ["      3/Unknown 0s 1ms/step"]
    assert P._format_time(0, "step") == " 0s/step"
    assert P._format_time(2.4, "epoch") == " 2s/epoch"
    assert P._format_time(0.48, "step") == " 480ms/step"
    assert P._format_time(3.5e-5, "sample") == " 35us/sample"


def test_bad_arguments():
    with pytest.raises(ValueError, match="stateful_metrics or stateless_metrics"):
        P.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match="target=-1"):
        P.Progbar(-1)
    with pytest.raises(ValueError, match="verbose=3"):
        P.Progbar(3, verbose=3)


# ------------------------------------------------------------------ fit / evaluate / predict
def _model():
    model = pn.models.Sequential([pn.layers.Input((4,)), pn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=pn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + y[:, None]).astype("float32")
    return x, y


# Keras 3.15.1's own output: tests/keras_reference/transcripts/ (make_transcripts.py runs
# Keras on the same model, weights and data in float64; ``mt.normalise`` keeps each line's
# final state and replaces timings by <t>).
sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import make_transcripts as mt  # noqa: E402


def _keras(name):
    return (mt.OUT / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("verbose", [1, 2])
def test_fit_output_matches_keras_transcript(backend, float64, verbose):
    out = mt.fit_run(pn, verbose)
    if verbose == 1:
        assert "\r" in out and "\x1b[1m" in out  # Keras's redraws and codes, not only the end
    assert mt.normalise(out).split("\n") == _keras(f"fit_verbose{verbose}.txt").split("\n")


def test_fit_on_a_generator_matches_keras_transcript(backend, float64):
    # The target is unknown during the first epoch ("      1/Unknown ...") and set to the
    # steps seen when it ends, so the final line is Keras's "4/4 ━━━..." at verbose 1 and 2.
    out1, out2 = mt.generator_run(pn)
    assert "/Unknown" in out1
    assert mt.normalise(out1).split("\n") == _keras("fit_generator_verbose1.txt").split("\n")
    assert mt.normalise(out2).split("\n") == _keras("fit_generator_verbose2.txt").split("\n")


def test_evaluate_and_predict_output_match_keras_transcripts(backend, float64):
    ev, pr = mt.evaluate_predict_run(pn)
    assert mt.normalise(ev).split("\n") == _keras("evaluate.txt").split("\n")
    assert mt.normalise(pr).split("\n") == _keras("predict.txt").split("\n")


def test_verbose_0_and_evaluate_verbose_2(backend, capsys):
    x, y = _data()
    model = _model()
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(x, y, batch_size=16, verbose=2)
    assert re.fullmatch(r"4/4 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}\n",
                        capsys.readouterr().out)


def test_interactive_logging_off_sends_bars_to_the_logger(backend, capsys, caplog):
    x, y = _data()
    model = _model()
    assert pn.utils.is_interactive_logging_enabled()
    pn.utils.disable_interactive_logging()
    try:
        assert not pn.utils.is_interactive_logging_enabled()
        with caplog.at_level("INFO", logger="portanet"):
            model.fit(x, y, batch_size=32, epochs=2, verbose=2)
    finally:
        pn.utils.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    messages = [r.getMessage() for r in caplog.records if r.name == "portanet"]
    assert messages[0] == "Epoch 1/2" and messages[2] == "Epoch 2/2"
    assert re.fullmatch(r"2/2 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}\n",
                        messages[1])


# ------------------------------------------------------------------ logs at every hook
HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
         "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
         "on_predict_batch_end"]


class Recorder(pn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []
        for hook in HOOKS:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        def record(*args):
            logs = args[-1]
            assert type(logs) is dict, (hook, type(logs))
            self.calls.append((hook, list(logs), dict(logs)))
            logs["scribble"] = 1.0  # a real dict: a callback may write to it
        return record


def _keys(rec, hook):
    return [keys for h, keys, _ in rec.calls if h == hook]


def test_every_hook_gets_keras_logs_dicts(backend):
    x, y = _data(48)
    model = _model()
    rec = Recorder()
    h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x[:16], y[:16]),
                  callbacks=[rec])
    metrics, val = ["accuracy", "loss"], ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert _keys(rec, "on_train_begin") == [[]]
    assert _keys(rec, "on_epoch_begin") == [[], []]
    assert _keys(rec, "on_train_batch_begin") == [[]] * 6
    assert _keys(rec, "on_train_batch_end") == [metrics] * 6  # sorted, as Keras's pythonify_logs
    assert _keys(rec, "on_epoch_end") == [val, val]
    assert _keys(rec, "on_train_end") == [val]
    ends = [logs for hk, _, logs in rec.calls if hk == "on_epoch_end"]
    # History runs after the user's callbacks (Keras's order) and records what they wrote.
    assert ends[1]["loss"] == h.history["loss"][1] and h.history["scribble"] == [1.0, 1.0]
    batch_logs = [logs for hk, _, logs in rec.calls if hk == "on_train_batch_end"]
    assert all(type(v) is float for logs in batch_logs for v in logs.values())
    assert batch_logs[5]["loss"] == pytest.approx(h.history["loss"][1], rel=1e-6)

    rec.calls.clear()
    result = model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[rec], return_dict=True)
    assert [h for h, _, _ in rec.calls] == (["on_test_begin"] + ["on_test_batch_begin",
                                            "on_test_batch_end"] * 3 + ["on_test_end"])
    assert _keys(rec, "on_test_begin") == [[]] and _keys(rec, "on_test_batch_begin") == [[]] * 3
    assert _keys(rec, "on_test_batch_end") == [metrics] * 3
    assert rec.calls[-1][1] == metrics and rec.calls[-1][2] == result and "scribble" not in result
    assert model.evaluate(x, y, batch_size=16, verbose=0)[0] == result["loss"]  # loss first

    rec.calls.clear()
    pred = model.predict(x, batch_size=32, verbose=0, callbacks=[rec])
    assert _keys(rec, "on_predict_begin") == [[]] and _keys(rec, "on_predict_end") == [[]]
    assert _keys(rec, "on_predict_batch_begin") == [[]] * 2
    outs = [logs["outputs"] for hk, _, logs in rec.calls if hk == "on_predict_batch_end"]
    assert [tuple(o.shape) for o in outs] == [(32, 3), (16, 3)]
    np.testing.assert_allclose(pred[32:], model.backend.to_numpy(outs[1]), rtol=1e-6)


def test_fit_hooks_and_logs_keys_match_keras(backend, float64):
    # Keras's fit runs the validation through evaluate: on_test_begin, per batch
    # on_test_batch_begin/end, on_test_end with the validation logs, then on_epoch_end.
    assert mt.hooks_run(pn) == json.loads(_keras("fit_hooks.json"))


def test_batch_logs_are_built_only_when_read(backend):
    x, y = _data(48)
    model = _model()

    class EpochOnly(pn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.seen = logs

    cbl = pn.callbacks.CallbackList([EpochOnly()], model, {})
    assert not cbl.reads_batch_logs
    reads = []
    lazy = pn.callbacks.LazyLogs({"loss": lambda: reads.append(1) or 0.5})
    cbl.call("on_train_batch_end", 0, lazy)
    assert reads == []  # nobody reads batch logs: the lazy values stay unread
    rec = Recorder()
    cbl = pn.callbacks.CallbackList([EpochOnly(), rec], model, {})
    cbl.call("on_train_batch_end", 0, lazy)
    assert reads == [1] and rec.calls == [("on_train_batch_end", ["loss"], {"loss": 0.5})]


# ------------------------------------------------------------------ callback messages
def test_model_checkpoint_messages_as_keras(backend, tmp_path, capsys):
    x, y = _data(32)
    model = _model()
    path = str(tmp_path / "m.weights.h5")
    cb = pn.callbacks.ModelCheckpoint(path, monitor="loss", verbose=1, save_best_only=True,
                                      save_weights_only=True)
    h = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    l0, l1 = h.history["loss"]
    assert l1 < l0
    assert capsys.readouterr().out == (
        f"\nEpoch 1: loss improved from None to {l0:.5f}, saving model to {path}\n"
        f"\nEpoch 1: finished saving model to {path}\n"
        f"\nEpoch 2: loss improved from {l0:.5f} to {l1:.5f}, saving model to {path}\n"
        f"\nEpoch 2: finished saving model to {path}\n")
    cb = pn.callbacks.ModelCheckpoint(path, monitor="loss", verbose=1, save_best_only=True,
                                      save_weights_only=True, initial_value_threshold=-1.0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert capsys.readouterr().out == "\nEpoch 1: loss did not improve from -1.00000\n"
    cb = pn.callbacks.ModelCheckpoint(path, verbose=1, save_weights_only=True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert capsys.readouterr().out == (f"\nEpoch 1: saving model to {path}\n"
                                       f"\nEpoch 1: finished saving model to {path}\n")


def test_early_stopping_and_reduce_lr_messages_as_keras(backend, capsys):
    x, y = _data(32)
    model = _model()
    # The loss falls every epoch, so in mode "max" epoch 1 is the best and never beaten.
    es = pn.callbacks.EarlyStopping(monitor="loss", mode="max", patience=1, verbose=1,
                                    restore_best_weights=True)
    h = model.fit(x, y, epochs=5, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 2
    assert capsys.readouterr().out == ("Epoch 2: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 1.\n")
    model = _model()
    rl = pn.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=1, factor=0.5, verbose=1)
    old = float(model.optimizer.learning_rate)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[rl])
    assert capsys.readouterr().out == f"\nEpoch 2: ReduceLROnPlateau reducing learning rate to {old * 0.5}.\n"


def test_callback_messages_and_history_match_keras_transcript(backend, float64, tmp_path):
    # ModelCheckpoint (save_best_only: "improved from None", then from the best, "did not
    # improve"), ReduceLROnPlateau (after patience 1 in mode max) and EarlyStopping with
    # restore_best_weights, over 3 epochs of the same model, weights and data as Keras.
    text, history = mt.callbacks_run(pn, str(tmp_path))
    assert mt.normalise(text, str(tmp_path)).split("\n") == _keras("callbacks.txt").split("\n")
    keras_history = json.loads(_keras("callbacks_history.json"))
    assert sorted(history.history) == sorted(keras_history)  # learning_rate included
    for key, values in keras_history.items():
        # loss, accuracy, val_*: equal to ~1e-16; Keras's "mse" metric differs by 3e-8
        # relative (it is not summed in float64 there), far below the 4 printed decimals.
        np.testing.assert_allclose(history.history[key], values, rtol=1e-7, atol=1e-12)
