"""Generate tests/keras_reference/objects.npz (+ objects.json): Keras 3.15.1's numbers for the
losses, metrics, activations and optimizers of issue 16, in float64.

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_objects_reference.py

Stored per case:
- losses: the reduced value and its gradient w.r.t. y_pred (``loss/<case>/value``, ``/grad``);
- metrics: the result after two ``update_state`` calls with sample weights;
- activations: the value and the vector-Jacobian product with a fixed cotangent;
- optimizers: every weight and slot after three steps from fixed weights and gradients.
objects.json holds Keras's get_config of each object and Keras's public names of
losses, metrics, optimizers, activations and callbacks. The inputs are drawn here from
seeds fixed per case; the tests (test_*_extra.py) import this module for them, so this
module imports Keras only inside ``main``.
"""

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent


def _rng(kind, name):
    # A seed from the case's name (stable across runs, unlike hash()).
    return np.random.default_rng(sum(ord(c) * (i + 1) for i, c in enumerate(kind + "/" + name)))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _onehot(ids, n):
    return np.eye(n)[ids]


# ----------------------------------------------------------------------------- losses
# name: (class, kwargs, input kind, with sample_weight)
LOSS_CASES = {
    "cfce": ("CategoricalFocalCrossentropy", {}, "probs", True),
    "cfce_logits": ("CategoricalFocalCrossentropy",
                    {"from_logits": True, "label_smoothing": 0.1, "alpha": [0.2, 0.3, 0.5],
                     "gamma": 1.5}, "logits", False),
    "cfce_gamma0_sum": ("CategoricalFocalCrossentropy", {"gamma": 0.0, "reduction": "sum"}, "probs", True),
    "dice": ("Dice", {}, "seg", False),
    "dice_weighted": ("Dice", {}, "seg", True),
    "tversky_sum_weighted": ("Tversky", {"reduction": "sum"}, "seg", True),
    "dice_axis": ("Dice", {"axis": (1, 2, 3)}, "seg", True),
    "tversky": ("Tversky", {}, "seg", False),
    "tversky_axis": ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2, 3)}, "seg", True),
    "circle": ("Circle", {}, "emb", True),
    "circle_params": ("Circle", {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False}, "emb", False),
    "circle_sum": ("Circle", {"gamma": 20.0, "reduction": "sum"}, "emb", False),
    "ctc": ("CTC", {}, "ctc", True),
    "cgce": ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}, "sparse", True),
    "cgce_default": ("CategoricalGeneralizedCrossEntropy", {}, "sparse", False),
}


def loss_inputs(name):
    """(y_true, y_pred, sample_weight or None) of a loss case."""
    _, _, kind, weighted = LOSS_CASES[name]
    rng = _rng("loss", name)
    if kind == "probs":
        y, p = _onehot(rng.integers(0, 3, 4), 3), _softmax(rng.normal(size=(4, 3)))
    elif kind == "logits":
        y, p = _onehot(rng.integers(0, 3, 4), 3), 2.0 * rng.normal(size=(4, 3))
    elif kind == "seg":
        y = (rng.random((2, 3, 3, 1)) > 0.5).astype(np.float64)
        p = rng.uniform(0.05, 0.95, size=(2, 3, 3, 1))
    elif kind == "emb":
        y = np.array([0, 1, 0, 2, 1, 3, 0])
        e = rng.normal(size=(7, 4))
        p = e / np.linalg.norm(e, axis=1, keepdims=True)
    elif kind == "ctc":
        y = np.array([[1, 2, 2, 0], [3, 1, 4, 2], [4, 0, 0, 0]])
        p = rng.normal(size=(3, 8, 5))
    else:  # sparse
        y = rng.integers(0, 4, 5)
        p = _softmax(rng.normal(size=(5, 4)))
    sw = rng.uniform(0.5, 1.5, size=(y.shape[0],)) if weighted else None
    return y, p, sw


# ----------------------------------------------------------------------------- metrics
# name: (class, kwargs, input kind)
METRIC_CASES = {
    "iou": ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, "ids"),
    "iou_float": ("IoU", {"num_classes": 3, "target_class_ids": [1, 2], "dtype": "float64"}, "ids"),
    "mean_iou": ("MeanIoU", {"num_classes": 3}, "ids"),
    "mean_iou_ignore": ("MeanIoU", {"num_classes": 3, "ignore_class": 1, "dtype": "float64"}, "ids"),
    "binary_iou": ("BinaryIoU", {"threshold": 0.4, "dtype": "float64"}, "binary"),
    "binary_iou_one": ("BinaryIoU", {"target_class_ids": [1]}, "binary"),
    "one_hot_iou": ("OneHotIoU", {"num_classes": 3, "target_class_ids": [0, 1], "dtype": "float64"},
                    "onehot"),
    "one_hot_mean_iou": ("OneHotMeanIoU", {"num_classes": 3}, "onehot"),
    "pearson": ("PearsonCorrelation", {}, "real"),
    "concordance": ("ConcordanceCorrelation", {}, "real"),
    "precision_at_recall": ("PrecisionAtRecall", {"recall": 0.6}, "scores"),
    "recall_at_precision": ("RecallAtPrecision", {"precision": 0.7, "num_thresholds": 50}, "scores"),
    "sensitivity_at_specificity": ("SensitivityAtSpecificity", {"specificity": 0.5, "class_id": 1},
                                   "multilabel"),
    "specificity_at_sensitivity": ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 1},
                                   "scores"),
    "specificity_at_sensitivity_200": ("SpecificityAtSensitivity", {"sensitivity": 0.8}, "scores"),
    "sum": ("Sum", {}, "values"),
}


def metric_inputs(name):
    """Two (args, sample_weight) batches of a metric case."""
    _, _, kind = METRIC_CASES[name]
    rng = _rng("metric", name)
    out = []
    for _ in range(2):
        if kind == "ids":
            args = (rng.integers(0, 3, 8), rng.integers(0, 3, 8))
            sw = rng.integers(1, 4, 8).astype(np.float64)
        elif kind == "binary":
            args = (rng.integers(0, 2, 8), rng.uniform(0.01, 0.99, 8))
            sw = rng.integers(1, 3, 8).astype(np.float64)
        elif kind == "onehot":
            args = (_onehot(rng.integers(0, 3, 6), 3), _softmax(rng.normal(size=(6, 3))))
            sw = rng.integers(1, 3, 6).astype(np.float64)
        elif kind == "real":
            y = rng.normal(size=(4, 5))
            args = (y, y + 0.5 * rng.normal(size=(4, 5)))
            sw = rng.uniform(0.5, 1.5, 4)
        elif kind == "scores":
            y = rng.integers(0, 2, 20)
            args = (y, np.clip(0.3 * y + rng.uniform(0.01, 0.7, 20), 0.01, 0.99))
            sw = rng.uniform(0.5, 1.5, 20)
        elif kind == "multilabel":
            y = rng.integers(0, 2, (10, 3))
            args = (y, np.clip(0.3 * y + rng.uniform(0.01, 0.7, (10, 3)), 0.01, 0.99))
            sw = rng.uniform(0.5, 1.5, 10)
        else:  # values
            args = (rng.normal(size=(3, 2)),)
            sw = rng.uniform(0.5, 1.5, 3)
        out.append((args, sw))
    return out


# ----------------------------------------------------------------------------- activations
# name: (module, function, kwargs, input shape)  module: "activations" or "ops"
ACTIVATION_CASES = {
    "glu": ("activations", "glu", {}, (3, 4)),
    "glu_axis0": ("activations", "glu", {"axis": 0}, (4, 3)),
    "sparse_sigmoid": ("activations", "sparse_sigmoid", {}, (3, 4)),
    "sparsemax": ("activations", "sparsemax", {}, (3, 5)),
    "sparsemax_axis0": ("activations", "sparsemax", {"axis": 0}, (5, 3)),
    "threshold": ("activations", "threshold", {"threshold": 0.3, "default_value": -1.0}, (3, 4)),
    "ops_glu": ("ops", "glu", {}, (3, 4)),
    "ops_sparse_sigmoid": ("ops", "sparse_sigmoid", {}, (3, 4)),
    "ops_sparsemax": ("ops", "sparsemax", {}, (3, 5)),
    "ops_threshold": ("ops", "threshold", {"threshold": -0.2, "default_value": 0.5}, (3, 4)),
    "ops_soft_shrink": ("ops", "soft_shrink", {"threshold": 0.4}, (3, 4)),
    "ops_hard_shrink": ("ops", "hard_shrink", {}, (3, 4)),
    "ops_tanh_shrink": ("ops", "tanh_shrink", {}, (3, 4)),
    "ops_squareplus": ("ops", "squareplus", {"b": 2}, (3, 4)),
    "ops_sparse_plus": ("ops", "sparse_plus", {}, (3, 4)),
    "ops_hard_tanh": ("ops", "hard_tanh", {}, (3, 4)),
}


def activation_inputs(name):
    """(x, cotangent) of an activation case; x keeps away from the kinks."""
    _, fn, kwargs, shape = ACTIVATION_CASES[name]
    rng = _rng("activation", name)
    x = 1.6 * rng.normal(size=shape)
    for kink in (-1.0, 1.0, 0.5, -0.5, 0.4, -0.4, 0.3, -0.2):
        x = np.where(np.abs(x - kink) < 0.02, x + 0.05, x)
    out_shape = list(shape)
    if fn == "glu":
        out_shape[kwargs.get("axis", -1)] //= 2
    return x, rng.normal(size=tuple(out_shape))


# ----------------------------------------------------------------------------- CTC ops
def ctc_ops_inputs():
    """(target, logits, target_length, output_length) for ops.ctc_loss/ctc_decode, with
    sequences shorter than the padded length and a repeated label."""
    rng = _rng("ops", "ctc")
    target = np.array([[1, 1, 3, 0], [2, 4, 0, 0], [3, 2, 1, 4]])
    return target, 1.5 * rng.normal(size=(3, 9, 5)), np.array([3, 2, 4]), np.array([9, 6, 8])


# name: ops.ctc_decode kwargs
DECODE_CASES = {
    "greedy": {},
    "greedy_no_merge": {"merge_repeated": False},
    "greedy_mask_last": {"mask_index": None},
    "beam": {"strategy": "beam_search", "beam_width": 4, "top_paths": 3},
    "beam_mask2": {"strategy": "beam_search", "beam_width": 6, "top_paths": 2, "mask_index": 2},
}


# ----------------------------------------------------------------------------- optimizers
# Weights: name -> shape; three steps of fixed gradients each.
OPT_WEIGHTS = {"kernel": (4, 3), "bias": (3,), "token_embedding": (5, 2)}
# name: (class, kwargs); "multi" is built in code (MultiOptimizer + OptimizerMap).
OPT_CASES = {
    "lamb": ("Lamb", {"learning_rate": 0.01}),
    "lamb_wd": ("Lamb", {"learning_rate": 0.05, "beta_1": 0.8, "weight_decay": 0.1}),
    "adafactor": ("Adafactor", {"learning_rate": 0.01}),
    "adafactor_abs": ("Adafactor", {"learning_rate": 0.5, "relative_step": False, "clip_threshold": 0.5,
                                    "beta_2_decay": -0.5}),
    "muon": ("Muon", {"learning_rate": 0.01}),
    "muon_plain": ("Muon", {"learning_rate": 0.02, "nesterov": False, "rms_rate": None,
                            "exclude_layers": ["bias"], "exclude_embeddings": False,
                            "adam_lr_ratio": 0.5, "weight_decay": 0.1, "ns_steps": 3}),
    "schedule_free_adamw": ("ScheduleFreeAdamW", {"learning_rate": 0.01}),
    "schedule_free_adamw_warmup": ("ScheduleFreeAdamW", {"learning_rate": 0.05, "warmup_steps": 2,
                                                         "weight_decay": 0.01}),
    "adam_ema": ("Adam", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.9}),
    "multi": ("MultiOptimizer", {}),
}
# Slot names per optimizer, portanet's (and Keras's variable) names, in Keras's order.
OPT_SLOTS = {"Lamb": ("momentum", "velocity"), "Adafactor": ("r", "c", "velocity"),
             "Muon": ("momentum", "velocity"), "ScheduleFreeAdamW": ("momentum", "velocity"),
             "Adam": ("momentum", "velocity", "average"), "MultiOptimizer": ()}


def optimizer_inputs(name):
    """({weight: initial value}, [{weight: gradient} for 3 steps])."""
    rng = _rng("optimizer", name)
    w0 = {k: rng.normal(size=s) for k, s in OPT_WEIGHTS.items()}
    grads = [{k: rng.normal(size=s) for k, s in OPT_WEIGHTS.items()} for _ in range(3)]
    return w0, grads


# ----------------------------------------------------------------------------- Keras run
def main():
    import jax
    import keras

    keras.config.set_floatx("float64")
    arrays, configs = {}, {"loss": {}, "metric": {}, "optimizer": {}}
    # Keras's public names of the five families this issue completes.
    configs["names"] = {m: sorted(n for n in dir(getattr(keras, m)) if not n.startswith("_"))
                        for m in ("losses", "metrics", "optimizers", "activations", "callbacks")}

    for name, (cls, kwargs, _, _) in LOSS_CASES.items():
        y, p, sw = loss_inputs(name)
        loss = getattr(keras.losses, cls)(**kwargs)
        configs["loss"][name] = loss.get_config()

        def f(pp, loss=loss, y=y, sw=sw):
            return loss(y, pp, sample_weight=sw)
        value, grad = jax.value_and_grad(f)(p)
        arrays[f"loss/{name}/value"] = np.asarray(value, dtype=np.float64)
        arrays[f"loss/{name}/grad"] = np.asarray(grad, dtype=np.float64)

    for name, (cls, kwargs, _) in METRIC_CASES.items():
        metric = getattr(keras.metrics, cls)(**kwargs)
        configs["metric"][name] = metric.get_config()
        for args, sw in metric_inputs(name):
            metric.update_state(*args, sample_weight=sw)
        arrays[f"metric/{name}"] = np.asarray(metric.result(), dtype=np.float64)

    for name, (module, fn_name, kwargs, _) in ACTIVATION_CASES.items():
        x, ct = activation_inputs(name)
        fn = getattr(getattr(keras, module), fn_name)
        y, vjp = jax.vjp(lambda v, fn=fn, kwargs=kwargs: fn(v, **kwargs), x)
        arrays[f"activation/{name}/value"] = np.asarray(y, dtype=np.float64)
        arrays[f"activation/{name}/grad"] = np.asarray(vjp(ct)[0], dtype=np.float64)

    # Keras's JAX ctc_loss computes in float32 even under floatx float64 (the tests allow 1e-5).
    target, logits, tl, ol = ctc_ops_inputs()
    value, vjp = jax.vjp(lambda x: keras.ops.ctc_loss(target, x, tl, ol, mask_index=0), logits)
    arrays["ops/ctc_loss/value"] = np.asarray(value, dtype=np.float64)
    arrays["ops/ctc_loss/grad"] = np.asarray(vjp(np.ones(3, dtype=value.dtype))[0], dtype=np.float64)
    for name, kwargs in DECODE_CASES.items():
        paths, scores = keras.ops.ctc_decode(logits, ol, **kwargs)
        arrays[f"ops/ctc_decode/{name}/paths"] = np.asarray(paths)
        arrays[f"ops/ctc_decode/{name}/scores"] = np.asarray(scores, dtype=np.float64)

    for name, (cls, kwargs) in OPT_CASES.items():
        w0, grads = optimizer_inputs(name)
        variables = [keras.Variable(w0[k], name=k, dtype="float64") for k in OPT_WEIGHTS]
        if cls == "MultiOptimizer":
            opt = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
                keras.optimizers.Adam(learning_rate=0.1),
                {"kernel": keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)}))
        else:
            opt = getattr(keras.optimizers, cls)(**kwargs)
        configs["optimizer"][name] = keras.optimizers.serialize(opt)
        for g in grads:
            opt.apply([g[k] for k in OPT_WEIGHTS], variables)
        for k, v in zip(OPT_WEIGHTS, variables):
            arrays[f"optimizer/{name}/{k}"] = np.asarray(v.value, dtype=np.float64)
        for i, k in enumerate(OPT_WEIGHTS):
            slots = {}
            if cls in ("Lamb", "ScheduleFreeAdamW"):
                slots = {"momentum": opt._momentums[i], "velocity": opt._velocities[i]}
            elif cls == "Adafactor":
                slots = {"r": opt._r[i], "c": opt._c[i], "velocity": opt._v[i]}
            elif cls == "Muon":
                slots = {"momentum": opt.momentums[i], "velocity": opt.adam_velocities[i]}
            elif cls == "Adam":
                slots = {"momentum": opt._momentums[i], "velocity": opt._velocities[i],
                         "average": opt._model_variables_moving_average[i]}
            for s, var in slots.items():
                if var is not None:
                    arrays[f"optimizer/{name}/{k}/{s}"] = np.asarray(var.value, dtype=np.float64)

    np.savez_compressed(HERE / "objects.npz", **arrays)
    with open(HERE / "objects.json", "w") as f:
        json.dump(configs, f, indent=1, sort_keys=True, default=lambda o: list(o) if isinstance(
            o, tuple) else str(o))
    print(f"wrote {len(arrays)} arrays")


if __name__ == "__main__":
    main()
