"""Generate tests/keras_reference/masked_loss.npz: Keras 3's losses and metrics of models
whose output carries a mask (Embedding(mask_zero=True) -> LSTM(return_sequences=True) ->
Dense), which Keras applies to the compiled loss and to the mean metrics
(keras/src/losses/loss.py ``apply_mask``, metrics/reduction_metrics.py).

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_masked_loss_reference.py
tests/test_masked_loss.py compares portanet with the stored arrays.

Cases (the inputs are functions of this module, shared with the test), each run on the
weights of ``weights(kind)`` in float32:
- "mse": Dense(1) output, loss "mse", metrics ["mae"]; built as a Sequential and as a
  functional model.
- "sce": Dense(3, softmax) output, loss "sparse_categorical_crossentropy", metrics
  ["accuracy"] (the fused softmax/cross-entropy shortcut must not skip the mask).
For each: ``evaluate`` (loss, metric), the same with per-step ``sample_weight``, one
``train_on_batch`` (loss, metric) and the weights after it, then one epoch of ``fit``
(batch_size=2, no shuffling) from the initial weights: its loss, its metric and the
weights after (the training metrics as ``masked_metric`` computes them).
"""

import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
VOCAB, STEPS, UNITS = 6, 5, 4


def data(kind):
    rng = np.random.default_rng(31)
    x = rng.integers(1, VOCAB, size=(4, STEPS))
    for row, keep in enumerate((5, 3, 2, 4)):     # trailing padding: zeros are masked
        x[row, keep:] = 0
    if kind == "mse":
        y = rng.normal(size=(4, STEPS, 1))
    else:
        y = rng.integers(0, 3, size=(4, STEPS))
    # Per-step weights: Keras 3.15.1 cannot combine (N,) weights with an (N, T) mask
    # (apply_mask multiplies (N,) by (N, T)).
    sample_weight = rng.uniform(0.25, 2.0, size=(4, STEPS))
    return x.astype("int32"), y.astype("float32" if kind == "mse" else "int32"), sample_weight


def weights(kind):
    rng = np.random.default_rng(32)
    out = [rng.normal(size=(VOCAB, 3)) * 0.5,                  # embedding
           rng.normal(size=(3, 4 * UNITS)) * 0.4,              # LSTM kernel
           rng.normal(size=(UNITS, 4 * UNITS)) * 0.4,          # recurrent kernel
           rng.normal(size=(4 * UNITS,)) * 0.1]                # bias
    units = 1 if kind == "mse" else 3
    out += [rng.normal(size=(UNITS, units)) * 0.5, rng.normal(size=(units,)) * 0.1]
    return [w.astype("float32") for w in out]


def compile_args(kind):
    if kind == "mse":
        return {"loss": "mse", "metrics": ["mae"]}
    return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def build(keras, kind, functional):
    units, activation = (1, None) if kind == "mse" else (3, "softmax")
    layers = [keras.layers.Embedding(VOCAB, 3, mask_zero=True),
              keras.layers.LSTM(UNITS, return_sequences=True),
              keras.layers.Dense(units, activation=activation)]
    if functional:
        inputs = keras.Input((STEPS,), dtype="int32")
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((STEPS,), dtype="int32")] + layers)
    model.set_weights(weights(kind))
    model.compile(optimizer=keras.optimizers.SGD(0.5), **compile_args(kind))
    return model


def masked_metric(keras, model, kind, batches, train=False):
    """The compiled metric as Keras's MeanMetricWrapper computes it from outputs carrying
    their mask (an eager ``model(x)``): with the JAX backend, Keras's own train step loses
    the mask of the outputs it hands to the metrics (jax.value_and_grad's aux output keeps no
    tensor attribute), so its training metrics are unmasked there; its evaluate, and its
    other backends, mask them. ``train``: one train_on_batch after each batch's update."""
    metric = keras.metrics.MeanAbsoluteError() if kind == "mse" else \
        keras.metrics.SparseCategoricalAccuracy()
    for xb, yb in batches:
        pred = model(xb)
        assert getattr(pred, "_keras_mask", None) is not None
        metric.update_state(yb, pred)
        if train:
            model.train_on_batch(xb, yb)
    return float(metric.result())


def flat(model):
    return np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float64)


def main():
    import keras

    out = {}
    for kind in ("mse", "sce"):
        x, y, sw = data(kind)
        for functional in (False, True):
            tag = f"{kind}_{'functional' if functional else 'sequential'}"
            model = build(keras, kind, functional)
            out[f"{tag}_evaluate"] = np.array(model.evaluate(x, y, batch_size=4, verbose=0))
            out[f"{tag}_evaluate_weighted"] = np.array(
                model.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0))
            metric = masked_metric(keras, model, kind, [(x, y)])
            out[f"{tag}_train_on_batch"] = np.array([model.train_on_batch(x, y)[0], metric])
            out[f"{tag}_train_on_batch_weights"] = flat(model)
            model = build(keras, kind, functional)
            history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
            out[f"{tag}_fit_loss"] = np.array(history.history["loss"][0])
            out[f"{tag}_fit_weights"] = flat(model)
            # The epoch's metric over the two batches, each on the outputs before its step.
            model = build(keras, kind, functional)
            out[f"{tag}_fit_metric"] = np.array(masked_metric(
                keras, model, kind, [(x[:2], y[:2]), (x[2:], y[2:])], train=True))
            np.testing.assert_allclose(flat(model), out[f"{tag}_fit_weights"], rtol=1e-6)
    np.savez(HERE / "masked_loss.npz", **out)
    print("wrote", HERE / "masked_loss.npz", sorted(out))


if __name__ == "__main__":
    main()
