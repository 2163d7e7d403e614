"""``save_model`` and ``save_weights``: portanet's zip file, written atomically."""

import datetime
import warnings

from ..backend import host_io as _host_io

from ..version import __version__
from .. import layers as _layers
from .. import optimizers as _optimizers
from ._archive import FORMAT_NAME, FORMAT_VERSION, _dumps, _npz_bytes, _check_target, _atomic_write, _is_model


def _collect_weights(model):
    arrays, manifest = {}, []
    for i, v in enumerate(model.weights):
        key = f"w{i:05d}"
        host = _host_io.contiguous(v.numpy())
        arrays[key] = host
        manifest.append({"key": key, "path": v.path, "shape": list(host.shape), "dtype": host.dtype.name})
    return arrays, manifest


def _metadata(model, kind, manifest):
    backend = getattr(model, "backend", None)
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind,
            "portanet_version": __version__,
            "backend": getattr(backend, "name", None),
            "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model_class": type(model).__name__, "weights": manifest,
            "layers": [{"name": layer.name, "count": len(layer.weights)} for layer in model.layers]}


def _optimizer_payload(model):
    """(compile.json dict or None, optimizer arrays) for a compiled model."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None, {}
    opt = model.optimizer
    info = {"compile_config": model.get_compile_config(), "optimizer": _optimizers.serialize(opt),
            "optimizer_state": None}
    state = opt.get_state()
    index_of = {id(v): i for i, v in enumerate(model.weights)}
    variables = list(opt.variables)
    if any(id(v) not in index_of for v in variables):
        warnings.warn(f"save_model: the optimizer of {model.name!r} tracks variables that are not the "
                      "model's weights; its state (slots) is not saved, only its configuration",
                      stacklevel=3)
        return info, {}
    arrays = {}
    slot_names = []
    for i, slots in enumerate(state.get("slots", [])):
        names = sorted(slots)
        slot_names.append(names)
        for name in names:
            arrays[f"s{i:05d}_{name}"] = _host_io.contiguous(slots[name])
    extra = {k: v for k, v in state.items() if k not in ("slots", "iterations")}
    info["optimizer_state"] = {"iterations": int(state.get("iterations", 0)),
                               "variables": [index_of[id(v)] for v in variables],
                               "slots": slot_names, "extra": extra}
    return info, arrays



def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save architecture, weights, compile configuration and optimizer state to one file.

    Args:
        model: a built Sequential or functional model.
        filepath: the file to write (any extension; ".portanet" by convention).
        overwrite: replace an existing file (False raises FileExistsError).
        include_optimizer: also save the optimizer's slots and iteration count, so that a
            loaded model continues training exactly where this one stops.
    """
    if not _is_model(model):
        raise TypeError(f"save_model: expected a portanet Model; got {type(model).__name__}")
    path = _check_target(filepath, overwrite, "save_model")
    if not model.built:
        raise ValueError(f"save_model: model {model.name!r} is not built yet; call it on data, "
                         "build(input_shape) it or give it a pn.Input first")
    config = _layers.serialize(model)
    try:
        config["build_input_shapes"] = [list(s) for s in model.input_shapes]
    except (ValueError, NotImplementedError):
        config["build_input_shapes"] = None
    weights, manifest = _collect_weights(model)
    members = {"metadata.json": _dumps(_metadata(model, "model", manifest), "metadata", path),
               "config.json": _dumps(config, "model configuration", path)}
    opt_info, opt_arrays = (_optimizer_payload(model) if include_optimizer
                            else (None, {}))
    if opt_info is None and getattr(model, "compiled", False):
            opt_info = {"compile_config": model.get_compile_config(),
                    "optimizer": _optimizers.serialize(model.optimizer), "optimizer_state": None}
    members["compile.json"] = _dumps(opt_info, "compile configuration", path)
    members["weights.npz"] = _npz_bytes(weights)
    if opt_arrays:
        members["optimizer.npz"] = _npz_bytes(opt_arrays)
    _atomic_write(path, members)


def save_weights(model, filepath, overwrite=True):
    """Save only the weights (``model.weights`` order) to one file, atomically."""
    path = _check_target(filepath, overwrite, "save_weights")
    if not model.built:
        raise ValueError(f"save_weights: model {model.name!r} is not built yet; it has no weights")
    weights, manifest = _collect_weights(model)
    meta = _metadata(model, "weights", manifest)
    _atomic_write(path, {"metadata.json": _dumps(meta, "metadata", path),
                         "weights.npz": _npz_bytes(weights)})


# ---------------------------------------------------------------------- reading
