"""Generate tests/keras_reference/mixed.npz: Keras 3's LossScaleOptimizer and mixed-precision
numbers, from weights, data and gradients drawn here.

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_mixed_reference.py
tests/test_mixed_precision.py compares portanet with the stored arrays.

Cases (the inputs are functions of this module, shared with the test):
- "apply_sgd" / "apply_adam": ``LossScaleOptimizer(inner, initial_scale=8,
  dynamic_growth_steps=2).apply(grads, [w])`` for the four gradients of ``apply_grads()``
  (the third holds an inf): the weight, dynamic_scale, step_counter and iterations after
  each call.
- "fit64": a float64 model (Dense(3, relu) -> Dense(1); relu, as XLA's float64 tanh is
  only float32-accurate) compiled with
  ``LossScaleOptimizer(SGD(0.125), initial_scale=2**15, dynamic_growth_steps=2)`` (a
  learning rate exact in float32, which Keras keeps it in); three
  ``train_on_batch`` calls from the weights of ``model_weights()``: the losses, the weights
  and the scale after each (exact in float64: the scale is a power of two).
- "mixed16": the same network under the "mixed_float16" policy compiled with SGD(0.1)
  (Keras wraps it in a LossScaleOptimizer); its float16 outputs before training, three
  ``train_on_batch`` losses, the float32 weights after them and the optimizer's config.
"""

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent


def apply_grads():
    rng = np.random.default_rng(16)
    grads = [rng.normal(size=(3, 2)) for _ in range(4)]
    grads[2][1, 0] = np.inf
    return grads


def apply_weight():
    return np.random.default_rng(17).normal(size=(3, 2))


def model_data():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(8, 4))
    y = rng.normal(size=(8, 1))
    return x, y


def model_weights():
    rng = np.random.default_rng(19)
    return [rng.normal(size=(4, 3)) * 0.5, rng.normal(size=(3,)) * 0.1,
            rng.normal(size=(3, 1)) * 0.5, rng.normal(size=(1,)) * 0.1]


def main():
    import keras

    out = {}
    keras.config.set_floatx("float32")
    for name, make_inner in (("apply_sgd", lambda: keras.optimizers.SGD(0.1)),
                             ("apply_adam", lambda: keras.optimizers.Adam(0.01))):
        w = keras.Variable(apply_weight().astype("float32"))
        opt = keras.optimizers.LossScaleOptimizer(make_inner(), initial_scale=8.0,
                                                  dynamic_growth_steps=2)
        ws, scales, counters, its = [], [], [], []
        opt.build([w])
        for g in apply_grads():
            # JAX's stateful apply cannot run the cond eagerly; stateless_apply is the same step.
            new_w, new_opt = opt.stateless_apply([v.value for v in opt.variables],
                                                 [keras.ops.convert_to_tensor(g.astype("float32"))],
                                                 [w.value])
            w.assign(new_w[0])
            for v, value in zip(opt.variables, new_opt):
                v.assign(value)
            ws.append(np.asarray(w.numpy()))
            scales.append(float(opt.dynamic_scale.numpy()))
            counters.append(int(opt.step_counter.numpy()))
            its.append(int(opt.iterations.numpy()))
        out[f"{name}_w"] = np.stack(ws)
        out[f"{name}_scale"] = np.array(scales)
        out[f"{name}_counter"] = np.array(counters)
        out[f"{name}_iterations"] = np.array(its)

    x, y = model_data()

    def network(dtype=None):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", dtype=dtype),
                                 keras.layers.Dense(1, dtype=dtype)])

    keras.config.set_floatx("float64")
    # Keras fixed the global policy at float32 on first use: set it, or the layers stay float32.
    keras.config.set_dtype_policy("float64")
    model = network()
    model.set_weights(model_weights())
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.125), initial_scale=2.0 ** 15,
                                                      dynamic_growth_steps=2), loss="mse")
    losses, weights, scales = [], [], []
    for _ in range(3):
        losses.append(float(model.train_on_batch(x, y)))
        weights.append(np.concatenate([np.ravel(w) for w in model.get_weights()]))
        scales.append(float(model.optimizer.dynamic_scale.numpy()))
    out["fit64_losses"] = np.array(losses)
    out["fit64_weights"] = np.stack(weights)
    out["fit64_scale"] = np.array(scales)
    # The same steps with the plain SGD: a power-of-two scale is undone exactly.
    model = network()
    model.set_weights(model_weights())
    model.compile(keras.optimizers.SGD(0.125), loss="mse")
    out["fit64_plain_weights"] = np.stack([
        (model.train_on_batch(x, y), np.concatenate([np.ravel(w) for w in model.get_weights()]))[1]
        for _ in range(3)])

    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("mixed_float16")
    model = network()
    model.set_weights([w.astype("float32") for w in model_weights()])
    out["mixed16_predict"] = np.asarray(model(x.astype("float32")), dtype=np.float64)
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    losses, weights = [], []
    for _ in range(3):
        losses.append(float(model.train_on_batch(x.astype("float32"), y.astype("float32"))))
        weights.append(np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float64))
    out["mixed16_losses"] = np.array(losses)
    out["mixed16_weights"] = np.stack(weights)
    out["mixed16_scale"] = np.array([float(model.optimizer.dynamic_scale.numpy())])
    config = model.optimizer.get_config()
    out["mixed16_optimizer_config"] = np.array(json.dumps(
        {"class_name": type(model.optimizer).__name__, "name": config["name"],
         "initial_scale": config["initial_scale"], "dynamic_growth_steps": config["dynamic_growth_steps"],
         "inner_class_name": config["inner_optimizer"]["class_name"],
         "inner_module": config["inner_optimizer"]["module"]}))
    out["mixed16_layer_dtypes"] = np.array(json.dumps(
        [[layer.dtype_policy.name, layer.dtype, layer.compute_dtype] for layer in model.layers]))
    keras.config.set_dtype_policy("float32")
    np.savez(HERE / "mixed.npz", **out)
    print("wrote", HERE / "mixed.npz", sorted(out))


if __name__ == "__main__":
    main()
