"""Write tests/keras_reference/files/normalization_*: Keras 3's files of models with a
Normalization layer, adapted (weights mean, variance, count) and given its statistics (no
weights), with Keras's weights and predictions, for tests/test_normalization_files.py.

Run with Keras 3 (3.15.1 was used) and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax python tests/keras_reference/make_normalization_files.py

For each case NAME it writes NAME.keras (model.save), NAME.weights.h5 (model.save_weights)
and NAME.npz: "x", Keras's predictions "y", and "w0", "w1", ... (model.get_weights())."""

import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import keras

HERE = pathlib.Path(__file__).parent / "files"
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from keras_file_cases import NORMALIZATION_BUILDERS, NORMALIZATION_ADAPT  # noqa: E402


def main():
    for i, (name, build) in enumerate(sorted(NORMALIZATION_BUILDERS.items())):
        keras.utils.set_random_seed(500 + i)
        rng = np.random.default_rng(500 + i)
        model = build(keras)
        adapt = NORMALIZATION_ADAPT.get(name)
        if adapt is not None:
            model.get_layer("norm").adapt(np.asarray(adapt, "float32"))
        x = rng.normal(3.0, 2.0, size=(4,) + tuple(model.inputs[0].shape[1:])).astype("float32")
        y = model.predict(x, verbose=0)
        model.save(HERE / f"{name}.keras")
        model.save_weights(HERE / f"{name}.weights.h5")
        out = {"x": x, "y": np.asarray(y)}
        for j, w in enumerate(model.get_weights()):
            out[f"w{j}"] = np.asarray(w)
        np.savez(HERE / f"{name}.npz", **out)


if __name__ == "__main__":
    main()
