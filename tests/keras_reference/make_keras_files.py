"""Write tests/keras_reference/files/: small model files written by Keras 3 itself, with
Keras's predictions on fixed inputs, for tests/test_keras_files.py.

Run with Keras 3 (3.15.1 was used) and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_keras_files.py

For each case NAME it writes:
    NAME.keras          model.save (Keras 3 zip: metadata.json, config.json, model.weights.h5)
    NAME.weights.h5     model.save_weights (Keras 3 weights-only h5)
    NAME.h5             legacy Keras 2 h5 (keras's legacy_h5_format), for some cases
    NAME.npz            "x" (or "x0", "x1", ...) inputs, "y0", "y1", ... Keras's predictions;
                        for trained cases also "tx", "ty" (one more training batch) and
                        "after_0", "after_1", ... the model's weights after Keras's next
                        train_on_batch(tx, ty) from the saved state.
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import keras
from keras import layers

HERE = pathlib.Path(__file__).parent / "files"


def seq(*ls, name=None):
    return keras.Sequential(list(ls), name=name)


def dense():
    return seq(keras.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3))


def conv1d():
    return seq(keras.Input((10, 3)), layers.Conv1D(4, 3, activation="relu"), layers.MaxPooling1D(2),
               layers.Conv1D(2, 2, padding="same"), layers.GlobalAveragePooling1D(), layers.Dense(2))


def conv2d():
    return seq(keras.Input((8, 8, 2)), layers.Conv2D(3, 3, activation="relu"),
               layers.BatchNormalization(), layers.AveragePooling2D(2), layers.MaxPooling2D(1),
               layers.Flatten(), layers.Dense(2))


def embedding():
    return seq(keras.Input((5,), dtype="int32"), layers.Embedding(10, 4), layers.LayerNormalization(),
               layers.GlobalMaxPooling1D(), layers.Dense(2))


def simple_rnn():
    return seq(keras.Input((5, 3)), layers.SimpleRNN(4, return_sequences=True), layers.SimpleRNN(2))


def lstm():
    return seq(keras.Input((5, 3)), layers.LSTM(4), layers.Dense(2))


def gru():
    return seq(keras.Input((5, 3)), layers.GRU(4, return_sequences=True), layers.GRU(3))


def bidirectional():
    return seq(keras.Input((5, 3)), layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
               layers.Bidirectional(layers.GRU(2), merge_mode="sum"), layers.Dense(2))


def functional():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = layers.Concatenate()([layers.Dense(5, activation="tanh")(a), b])
    h = layers.Dense(6, activation="relu")(h)
    out1 = layers.Dense(2, name="out1")(h)
    out2 = layers.Dense(1, activation="sigmoid", name="out2")(layers.Add()([h, layers.Dense(6)(b)]))
    return keras.Model([a, b], [out1, out2], name="two_heads")


def nested():
    inner = seq(keras.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(3), name="inner")
    x = keras.Input((4,))
    h = inner(x)
    h = layers.BatchNormalization()(h)
    return keras.Model(x, layers.Dense(2)(h), name="outer")


def nested_seq():
    inner = seq(keras.Input((4,)), layers.Dense(5, activation="relu"), name="block")
    return seq(keras.Input((4,)), inner, layers.Dense(3))


def inputs_for(model, rng):
    xs = []
    for t in model.inputs:
        shape = (3,) + tuple(t.shape[1:])
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 10, size=shape).astype("int32"))
        else:
            xs.append(rng.normal(size=shape).astype("float32"))
    return xs


def targets_for(model, rng, n=3):
    return [rng.normal(size=(n,) + tuple(o.shape[1:])).astype("float32") for o in model.outputs]


# name: (builder, compile kwargs or None, write legacy .h5)
CASES = {
    "dense": (dense, None, True),
    "conv1d": (conv1d, None, False),
    "conv2d": (conv2d, None, True),
    "embedding": (embedding, None, False),
    "simple_rnn": (simple_rnn, None, False),
    "lstm": (lstm, None, True),
    "gru": (gru, None, False),
    "bidirectional": (bidirectional, None, False),
    "functional": (functional, None, False),
    "nested": (nested, None, False),
    "nested_seq": (nested_seq, None, False),
    "dense_adam": (dense, dict(optimizer=lambda: keras.optimizers.Adam(0.01), loss="mse",
                               metrics=["mae"]), True),
    "conv2d_sgd": (conv2d, dict(optimizer=lambda: keras.optimizers.SGD(0.05, momentum=0.9),
                                loss="mse"), False),
    "lstm_adam": (lstm, dict(optimizer=lambda: keras.optimizers.Adam(0.01, amsgrad=True),
                             loss="mse"), False),
    "gru_rmsprop": (gru, dict(optimizer=lambda: keras.optimizers.RMSprop(0.01, momentum=0.5),
                              loss="mse"), False),
    "functional_nadam": (functional, dict(optimizer=lambda: keras.optimizers.Nadam(0.01),
                                          loss=["mse", "binary_crossentropy"]), False),
}


def main():
    HERE.mkdir(exist_ok=True)
    for i, (name, (build, compile_kw, legacy)) in enumerate(CASES.items()):
        keras.utils.set_random_seed(100 + i)
        rng = np.random.default_rng(100 + i)
        model = build()
        xs = inputs_for(model, rng)
        out = {}
        if compile_kw:
            kw = dict(compile_kw)
            kw["optimizer"] = kw["optimizer"]()
            model.compile(**kw)
            for _ in range(3):
                model.train_on_batch(inputs_for(model, rng), targets_for(model, rng))
            tx, ty = inputs_for(model, rng), targets_for(model, rng)
        preds = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        preds = preds if isinstance(preds, list) else [preds]
        model.save(HERE / f"{name}.keras")
        model.save_weights(HERE / f"{name}.weights.h5")
        if legacy:
            model.save(HERE / f"{name}.h5")
        for j, x in enumerate(xs):
            out["x" if len(xs) == 1 else f"x{j}"] = x
        for j, y in enumerate(preds):
            out[f"y{j}"] = np.asarray(y)
        if compile_kw:
            for j, x in enumerate(tx):
                out["tx" if len(tx) == 1 else f"tx{j}"] = x
            for j, y in enumerate(ty):
                out["ty" if len(ty) == 1 else f"ty{j}"] = y
            model.train_on_batch(tx if len(tx) > 1 else tx[0], ty if len(ty) > 1 else ty[0])
            for j, w in enumerate(model.weights):
                out[f"after_{j}"] = np.asarray(w.numpy())
            out["after_iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))
        np.savez(HERE / f"{name}.npz", **out)
    (HERE / "versions.json").write_text(json.dumps({"keras": keras.__version__,
                                                    "backend": keras.backend.backend()}))


if __name__ == "__main__":
    main()
