"""Generate tests/keras_reference/transcripts/: what Keras 3.15.1 prints, for summary(), the
progress bars of fit (verbose 1 and 2) / evaluate / predict and the messages of
ModelCheckpoint, EarlyStopping and ReduceLROnPlateau; plus the callback hooks fit calls
(with the keys of their logs) and the History of a fit with ReduceLROnPlateau.

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_transcripts.py

The model builders below take the library module (``keras`` or ``portanet``) so that
tests/test_summary.py, tests/test_progbar.py and tests/test_callbacks.py build the same models
and compare portanet's output with the stored text. Weights and data come from a seeded NumPy
generator (``initial_weights``), in float64, so the printed numbers agree too.

Normalisation (``normalise``, used here and by the tests): ANSI codes are removed; each line
keeps only the text after its last ``\\r`` (the final state of a redrawn progress bar) with
backspaces removed and trailing blanks stripped; timings are replaced by ``<t>`` (the elapsed
or remaining time, e.g. ``0s``/``1:02``, and the per-step time, e.g. ``5ms/step`` ->
``<t>/step``); the temporary folder's path is replaced by ``<TMP>``.
"""

import contextlib
import io
import json
import os
import pathlib
import re
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).parent
OUT = HERE / "transcripts"


def normalise(text, tmp=None):
    """The comparable form of captured output (see the module docstring)."""
    if tmp:
        text = text.replace(str(tmp), "<TMP>")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = []
    for raw in text.split("\n"):
        line = raw.split("\r")[-1].replace("\b", "").rstrip()
        line = re.sub(r"\b\d+(?:ms|us|s)/(step|sample)", r"<t>/\1", line)
        line = re.sub(r"(━|\d/\d+ -) (?:\d+:){0,2}\d+s? ", r"\1 <t> ", line)
        lines.append(line)
    return "\n".join(lines)


# ---- models (K is keras or portanet) ----

def mlp(K):
    return K.Sequential([K.Input((8,)), K.layers.Dense(16, activation="relu"),
                         K.layers.Dense(3, activation="softmax")])


def cnn(K):
    return K.Sequential([K.Input((12, 12, 1)), K.layers.Conv2D(4, 3, activation="relu"),
                         K.layers.MaxPooling2D(), K.layers.Flatten(),
                         K.layers.Dense(10, activation="softmax")], name="cnn")


def lstm(K):
    return K.Sequential([K.Input((10,)), K.layers.Embedding(100, 8), K.layers.LSTM(16),
                         K.layers.Dense(1, activation="sigmoid")])


def multi_input(K):
    a = K.Input((8,), name="numbers")
    b = K.Input((4,), name="extra")
    x = K.layers.Dense(16, activation="relu")(a)
    y = K.layers.Dense(16, activation="relu")(b)
    merged = K.layers.Concatenate()([x, y])
    out = K.layers.Dense(1)(merged)
    return K.Model([a, b], out, name="two_inputs")


def nested(K):
    inner = K.Sequential([K.Input((8,)), K.layers.Dense(4, activation="relu")], name="inner")
    inp = K.Input((8,))
    out = K.layers.Dense(2)(inner(inp))
    return K.Model(inp, out)


def classifier(K, lr=0.1):
    """The fitted MLP: SGD, categorical cross-entropy, metrics accuracy and mse."""
    model = mlp(K)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=lr), loss="categorical_crossentropy",
                  metrics=["accuracy", "mse"])
    return model


def initial_weights(model, seed=0):
    """Seeded float64 weights for ``model`` in its weight order."""
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=tuple(w.shape)) for w in model.get_weights()]


def data(seed=1):
    """(x, y, x_val, y_val): 32 training and 16 validation rows, 8 features, 3 classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 8))
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    y = np.eye(3)[labels]
    return x[:32], y[:32], x[32:], y[32:]


def long_names(K):
    return K.Sequential([K.Input((3,)), K.layers.Dense(2, name="d" * 40),
                         K.layers.Dense(1, name="a_rather_long_layer_name with_space")],
                        name="long")


def frozen(K):
    model = K.Sequential([K.Input((5,)), K.layers.Dense(4), K.layers.Dropout(0.5),
                          K.layers.Dense(2)])
    model.layers[0].trainable = False
    return model


def shared(K):
    x = K.Input((3,), name="x")
    layer = K.layers.Dense(3, name="shared")
    return K.Model(x, layer(layer(x)))


def shared_shapes(K):
    """A layer called on inputs of two ranks (its output shapes differ), then once more
    outside the model: Keras's summary shows the output shape of the layer's last call."""
    x1 = K.Input((4, 3), name="x1")
    x2 = K.Input((3,), name="x2")
    layer = K.layers.Dense(5, name="sh")
    model = K.Model([x1, x2], [layer(x1), layer(x2)])
    layer(K.Input((2, 2, 3), name="outside"))
    return model


def nested_functional(K):
    a = K.Input((6,), name="a")
    inner = K.Model(a, K.layers.Dense(3, name="inner_dense")(a), name="inner_f")
    b = K.Input((6,), name="b")
    c = K.Input((6,), name="c")
    merged = K.layers.Add()([inner(b), inner(c)])
    return K.Model([b, c], K.layers.Dense(1, name="head")(merged), name="outer")


def subclassed(K):
    class Regressor(K.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = K.layers.Dense(8, activation="relu")
            self.drop = K.layers.Dropout(0.1)
            self.head = K.layers.Dense(1)

        def call(self, x, training=False):
            return self.head(self.drop(self.hidden(x), training=training))

    model = Regressor(name="regressor")
    model(np.zeros((2, 5)))  # built by a call on data (Keras's build() would leave it unbuilt)
    return model


def unbuilt_subclassed(K):
    class Twice(K.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = K.layers.Dense(4)

        def call(self, x):
            return self.inner(x)

    return Twice(name="twice")


SUMMARIES = {"mlp": mlp, "cnn": cnn, "lstm": lstm, "multi_input": multi_input, "nested": nested}
# name: (builder, summary() arguments); printed at 200 columns
SUMMARY_OPTIONS = {"long_names_60": (long_names, {"line_length": 60}),
                   "trainable": (frozen, {"show_trainable": True}),
                   "shared": (shared, {}),
                   "shared_shapes": (shared_shapes, {}),
                   "subclassed": (subclassed, {}),
                   "unbuilt_subclassed": (unbuilt_subclassed, {}),
                   "nested_expanded": (nested, {"expand_nested": True}),
                   "nested_functional_expanded": (nested_functional, {"expand_nested": True}),
                   "positions": (cnn, {"positions": [0.5, 0.7, 1.0]}),
                   "layer_range": (cnn, {"layer_range": ["max_pooling2d", "flat.*"]})}


def fitted(K):
    """The classifier after one silent epoch with Adam (summary shows optimizer params)."""
    model = mlp(K)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y, _, _ = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model


def summary_text(K, build, columns, **kwargs):
    """summary() text of ``build(K)`` with a terminal of ``columns`` columns (print_fn gets
    the whole table as one string, as in Keras)."""
    os.environ["COLUMNS"] = str(columns)
    K.utils.clear_session()
    model = build(K)
    got = []
    model.summary(print_fn=got.append, **kwargs)
    return "\n".join(got)


def capture(fn):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = fn()
    return buf.getvalue(), result


def fit_run(K, verbose):
    K.utils.clear_session()
    model = classifier(K)
    model.set_weights(initial_weights(model))
    x, y, xv, yv = data()
    return capture(lambda: model.fit(x, y, batch_size=8, epochs=2, verbose=verbose, shuffle=False,
                                     validation_data=(xv, yv)))[0]


def batches(x, y, size=8):
    """A Python generator of (x, y) batches (its length unknown to fit)."""
    for start in range(0, len(x), size):
        yield x[start:start + size], y[start:start + size]


def generator_run(K):
    """fit verbose 1 and 2 on generators (the bar's target unknown until the epoch ends)."""
    K.utils.clear_session()
    model = classifier(K)
    model.set_weights(initial_weights(model))
    x, y, _, _ = data()
    out1, _ = capture(lambda: model.fit(batches(x, y), epochs=1, verbose=1))
    out2, _ = capture(lambda: model.fit(batches(x, y), epochs=1, verbose=2))
    return out1, out2


def evaluate_predict_run(K):
    K.utils.clear_session()
    model = classifier(K)
    model.set_weights(initial_weights(model))
    _, _, xv, yv = data()
    ev, _ = capture(lambda: model.evaluate(xv, yv, batch_size=8, verbose=1))
    pr, _ = capture(lambda: model.predict(xv, batch_size=8, verbose=1))
    return ev, pr


def callbacks_run(K, tmp):
    """3 silent epochs with ModelCheckpoint (save_best_only, one improving, one in mode max
    that stops improving), EarlyStopping (restore_best_weights) and ReduceLROnPlateau."""
    K.utils.clear_session()
    model = classifier(K, lr=0.05)
    model.set_weights(initial_weights(model))
    x, y, xv, yv = data()
    cbs = [K.callbacks.ModelCheckpoint(os.path.join(tmp, "best.keras"), save_best_only=True,
                                       verbose=1),
           K.callbacks.ModelCheckpoint(os.path.join(tmp, "w.weights.h5"), monitor="val_accuracy",
                                       mode="min", save_best_only=True, save_weights_only=True,
                                       verbose=1),
           K.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=1, factor=0.5,
                                         verbose=1),
           K.callbacks.EarlyStopping(monitor="val_loss", mode="max", patience=2, verbose=1,
                                     restore_best_weights=True)]
    text, history = capture(lambda: model.fit(x, y, batch_size=8, epochs=6, verbose=0,
                                              shuffle=False, validation_data=(xv, yv),
                                              callbacks=cbs))
    return text, history


def hooks_run(K):
    """The hooks fit calls (validation included) with the sorted keys of their logs."""
    K.utils.clear_session()
    model = classifier(K)
    model.set_weights(initial_weights(model))
    x, y, xv, yv = data()
    calls = []

    class Recorder(K.callbacks.Callback):
        pass

    def make(hook):
        def method(self, *args, logs=None):
            if logs is None and args and isinstance(args[-1], dict):
                args, logs = args[:-1], args[-1]   # Keras passes some logs by position
            calls.append([hook] + list(args) + [None if logs is None else sorted(logs)])
        return method

    for hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                 "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
                 "on_test_batch_begin", "on_test_batch_end"):
        setattr(Recorder, hook, make(hook))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
              validation_data=(xv, yv), callbacks=[Recorder()])
    return calls


def main():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    OUT.mkdir(exist_ok=True)
    keras.config.set_floatx("float32")
    for name, build in SUMMARIES.items():
        for columns in (80, 200):
            text = summary_text(keras, build, columns)
            (OUT / f"summary_{name}_{columns}.txt").write_text(normalise(text), encoding="utf-8")
    for name, (build, kwargs) in SUMMARY_OPTIONS.items():
        text = summary_text(keras, build, 200, **kwargs)
        (OUT / f"summary_{name}.txt").write_text(normalise(text), encoding="utf-8")
    os.environ["COLUMNS"] = "200"
    keras.config.set_floatx("float64")
    keras.utils.clear_session()
    text = summary_text(keras, fitted, 200)
    (OUT / "summary_fitted_200.txt").write_text(normalise(text), encoding="utf-8")
    for verbose in (1, 2):
        (OUT / f"fit_verbose{verbose}.txt").write_text(normalise(fit_run(keras, verbose)),
                                                       encoding="utf-8")
    for verbose, text in zip((1, 2), generator_run(keras)):
        (OUT / f"fit_generator_verbose{verbose}.txt").write_text(normalise(text), encoding="utf-8")
    ev, pr = evaluate_predict_run(keras)
    (OUT / "evaluate.txt").write_text(normalise(ev), encoding="utf-8")
    (OUT / "predict.txt").write_text(normalise(pr), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        text, history = callbacks_run(keras, tmp)
        (OUT / "callbacks.txt").write_text(normalise(text, tmp), encoding="utf-8")
        (OUT / "callbacks_history.json").write_text(
            json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()},
                       indent=1, sort_keys=True), encoding="utf-8")
    (OUT / "fit_hooks.json").write_text(json.dumps(hooks_run(keras)), encoding="utf-8")
    print("keras", keras.__version__, "->", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
