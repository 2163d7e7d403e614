"""Write tests/keras_reference/files/: small model files written by Keras 3 itself, with
Keras's predictions on fixed inputs, for tests/test_keras_files.py.

Run with Keras 3 (3.15.1 was used) and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax python tests/keras_reference/make_keras_files.py

For each case NAME it writes:
    NAME.keras          model.save (Keras 3 zip: metadata.json, config.json, model.weights.h5)
    NAME.weights.h5     model.save_weights (Keras 3 weights-only h5), untrained cases
    NAME.h5             legacy Keras 2 h5 (keras's legacy_h5_format), for some cases
    NAME.npz            "x" (or "x0", "x1", ...) inputs, "y0", "y1", ... Keras's predictions;
                        for trained cases also "tx", "ty" (one more training batch) and
                        "after_0", "after_1", ... the model's weights after Keras's next
                        train_on_batch(tx, ty) from the saved state.
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import keras

HERE = pathlib.Path(__file__).parent / "files"
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from keras_file_cases import BUILDERS, INPUT_SHAPES, LEGACY, TRAINED, make_optimizer  # noqa: E402


def inputs_for(model, rng, name=None):
    xs = []
    specs = [(s, "float32") for s in INPUT_SHAPES[name]] if name in INPUT_SHAPES else \
        [(tuple(t.shape[1:]), str(t.dtype)) for t in model.inputs]
    for inner, dtype in specs:
        shape = (3,) + tuple(inner)
        if "int" in dtype:
            xs.append(rng.integers(0, 10, size=shape).astype("int32"))
        else:
            xs.append(rng.normal(size=shape).astype("float32"))
    return xs


def targets_for(model, rng, n=3):
    return [rng.normal(size=(n,) + tuple(o.shape[1:])).astype("float32") for o in model.outputs]


def _one(xs):
    return xs if len(xs) > 1 else xs[0]


def main():
    HERE.mkdir(exist_ok=True)
    cases = [(n, n, False) for n in BUILDERS] + [(n, TRAINED[n][0], True) for n in TRAINED]
    for i, (name, arch, trained) in enumerate(cases):
        keras.utils.set_random_seed(100 + i)
        rng = np.random.default_rng(100 + i)
        model = BUILDERS[arch](keras)
        xs = inputs_for(model, rng, arch)
        out = {}
        if trained:
            model.compile(optimizer=make_optimizer(keras, name), loss=TRAINED[name][2])
            for _ in range(3):
                model.train_on_batch(_one(inputs_for(model, rng)), _one(targets_for(model, rng)))
            tx, ty = inputs_for(model, rng), targets_for(model, rng)
        preds = model.predict(_one(xs), verbose=0)
        preds = preds if isinstance(preds, list) else [preds]
        if arch not in INPUT_SHAPES:   # (a subclassed model needs its class to be rebuilt)
            model.save(HERE / f"{name}.keras")
        if not trained:   # (a trained case's weights are inside its .keras file)
            model.save_weights(HERE / f"{name}.weights.h5")
        if name in LEGACY:
            model.save(HERE / f"{name}.h5")
        for j, x in enumerate(xs):
            out["x" if len(xs) == 1 else f"x{j}"] = x
        for j, y in enumerate(preds):
            out[f"y{j}"] = np.asarray(y)
        if trained:
            for j, x in enumerate(tx):
                out["tx" if len(tx) == 1 else f"tx{j}"] = x
            for j, y in enumerate(ty):
                out["ty" if len(ty) == 1 else f"ty{j}"] = y
            model.train_on_batch(_one(tx), _one(ty))
            for j, w in enumerate(model.weights):
                out[f"after_{j}"] = np.asarray(w.numpy())
            out["after_iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))
        np.savez(HERE / f"{name}.npz", **out)
    (HERE / "versions.json").write_text(json.dumps({"keras": keras.__version__,
                                                    "backend": keras.backend.backend()}))


if __name__ == "__main__":
    main()
