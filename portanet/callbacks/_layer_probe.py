"""Helpers shared by TrainingDiagnostics and TerminateOnNaN: the model's leaf layers, one
forward pass recording each layer's input and output, a safe norm, number formatting.
They reach the model through its public API: ``layers``, calling it, ``backend``.
"""

import functools
import math

from .. import activations


def _leaf_layers(model):
    """The model's layers, nested models opened, in the order the model lists them."""
    out = []
    for layer in getattr(model, "layers", None) or []:
        # Nested models (they have Model.get_layer) are opened; wrappers (layers owning
        # sub-layers) count as one layer.
        if callable(getattr(layer, "get_layer", None)) and getattr(layer, "layers", None):
            out.extend(_leaf_layers(layer))
        else:
            out.append(layer)
    return out


def _capture_outputs(model, layers, xs, training=False):
    """Run the model once on ``xs`` and return ``(records, outputs)``.

    ``records`` lists ``(layer, input, output)`` for each call of a layer in ``layers``, in
    execution order (so "the first layer that produced X" is well defined for any graph),
    and ``outputs`` is the list of the model's outputs. The layers' ``forward`` is wrapped
    only for this one pass, which calls the model like a user does (``model(x)``).
    """
    records = []
    patched = []
    for layer in layers:
        original = layer.forward

        @functools.wraps(original)
        def wrapper(*args, __layer=layer, __original=original, **kwargs):
            y, backward = __original(*args, **kwargs)
            records.append((__layer, args[0] if args else kwargs.get("inputs"), y))
            return y, backward
        layer.forward = wrapper
        patched.append(layer)
    try:
        outputs = model(xs[0] if len(xs) == 1 else list(xs), training=training)
    finally:
        for layer in patched:
            try:
                del layer.forward
            except AttributeError:
                pass
    return records, (list(outputs) if isinstance(outputs, (list, tuple)) else [outputs])


def _norm(xp, a):
    """L2 norm as a float64 device scalar, scaled so float32 squares cannot overflow."""
    a = xp.astype(a, xp.float64) if a.dtype != xp.float64 else a
    m = xp.max(xp.abs(a)) if a.ndim else xp.abs(a)
    safe = xp.where(m > 0, m, xp.ones_like(m))
    return m * xp.sqrt(xp.sum((a / safe) ** 2))


def _activation_kind(layer):
    act = getattr(layer, "activation", None)
    if act is activations.sigmoid:
        return "sigmoid"
    if act is activations.tanh:
        return "tanh"
    if act is activations.relu:
        return "relu"
    return None


def _fmt(value):
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"
