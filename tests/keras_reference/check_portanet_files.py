"""Evidence that Keras 3 opens the files portanet writes (stored in portanet_to_keras.log).

Step 1, with portanet (any Python where it imports):
    PYTHONPATH=. python tests/keras_reference/check_portanet_files.py write OUT
  For every case of keras_file_cases.py portanet builds the model, loads Keras's weights
  from files/, trains the TRAINED cases two steps on fixed data, and writes OUT/NAME.keras,
  OUT/NAME.weights.h5 (and OUT/NAME.h5 for the legacy cases) with its predictions and, for
  the trained cases, its weights after one more step.
Step 2, with Keras 3:
    KERAS_BACKEND=jax python tests/keras_reference/check_portanet_files.py read OUT
  Keras loads each file (keras.saving.load_model; load_weights into a Keras-built model for
  .weights.h5) and prints the largest difference of its predictions from portanet's and,
  for the compiled .keras files, of its weights after one more train_on_batch.
"""

import os
import pathlib
import sys
import warnings

import numpy as np

HERE = pathlib.Path(__file__).parent
FILES = HERE / "files"
sys.path.insert(0, str(HERE))
import keras_file_cases as cases  # noqa: E402


def _one(xs):
    return xs if len(xs) > 1 else xs[0]


def _inputs(name):
    ref = np.load(FILES / f"{name}.npz")
    keys = sorted(k for k in ref.files if k == "x" or (k[0] == "x" and k[1:].isdigit()))
    return _one([ref[k] for k in keys])


def _targets(model, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3,) + tuple(o.shape[1:])).astype("float32") for o in model.outputs]


def all_cases():
    return [(n, n) for n in cases.BUILDERS] + [(n, cases.TRAINED[n][0]) for n in cases.TRAINED]


def write(out):
    import portanet as pn
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, arch) in enumerate(all_cases()):
        model = cases.BUILDERS[arch](pn)
        model.load_weights(FILES / f"{arch}.weights.h5")
        x = _inputs(name)
        if name in cases.TRAINED:
            model.compile(optimizer=cases.make_optimizer(pn, name), loss=cases.TRAINED[name][2])
            ys = _targets(model, i)
            for _ in range(2):
                model.train_on_batch(x, _one(ys))
            np.savez(out / f"{name}_train.npz", *ys)
        y = model.predict(x, verbose=0)
        np.savez(out / f"{name}_pred.npz", *[np.asarray(a) for a in (y if isinstance(y, list) else [y])])
        if arch not in cases.INPUT_SHAPES:
            model.save(out / f"{name}.keras")
        model.save_weights(out / f"{name}.weights.h5")
        if name in cases.LEGACY:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.save(out / f"{name}.h5")
        if name in cases.TRAINED:
            model.train_on_batch(x, _one(ys))
            np.savez(out / f"{name}_after.npz", *[np.asarray(w.numpy()) for w in model.weights])


def _diff(got, want):
    got = got if isinstance(got, list) else [got]
    return max(float(np.abs(np.asarray(a) - b).max()) for a, b in zip(got, want))


def read(out):
    import keras
    print(f"keras {keras.__version__} ({keras.backend.backend()}) reading portanet's files")
    for name, arch in all_cases():
        x = _inputs(name)
        want = [v for _, v in sorted(np.load(out / f"{name}_pred.npz").items())]
        m = cases.BUILDERS[arch](keras)
        m.load_weights(out / f"{name}.weights.h5")
        print(f"{name:20s} .weights.h5 -> Keras load_weights: max |dy| = {_diff(m.predict(x, verbose=0), want):.2e}")
        for ext in (".keras", ".h5"):
            path = out / f"{name}{ext}"
            if not path.exists():
                continue
            try:
                m = keras.saving.load_model(path, compile=(ext == ".keras"))
                line = f"{name:20s} {ext:11s} -> Keras load_model: max |dy| = {_diff(m.predict(x, verbose=0), want):.2e}"
                if ext == ".keras" and name in cases.TRAINED:
                    ys = [v for _, v in sorted(np.load(out / f"{name}_train.npz").items())]
                    m.train_on_batch(x, _one(ys))
                    after = np.load(out / f"{name}_after.npz")
                    after = [after[f"arr_{j}"] for j in range(len(after.files))]
                    d = max(float(np.abs(np.asarray(w.numpy()) - a).max()) for w, a in zip(m.weights, after))
                    line += f"; one more step in Keras vs portanet: max |dw| = {d:.2e} (iterations {int(m.optimizer.iterations.numpy())})"
                print(line)
            except Exception as exc:  # report and go on: this is a survey
                print(f"{name:20s} {ext:11s} -> Keras FAILS: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


if __name__ == "__main__":
    mode, out = sys.argv[1], pathlib.Path(sys.argv[2])
    write(out) if mode == "write" else read(out)
