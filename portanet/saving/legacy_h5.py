"""Keras 2's legacy ``.h5`` files (and Keras 3's ``legacy_h5_format``), read and written.

A full-model file holds the architecture as JSON in the root attribute ``model_config``,
the compile settings in ``training_config``, the weights under ``model_weights/<layer
name>/<weight name>`` (the layer order in ``model_weights.attrs["layer_names"]``, each
layer's weight order in its ``weight_names``) and, when compiled, the optimizer's
variables under ``optimizer_weights``. A weights-only file has the ``model_weights``
layout at its root. Layers are matched in order among those that have weights (as Keras's
``load_weights_from_hdf5_group``); each layer's weights are its trainable then its
non-trainable ones.

The same rules as for ``.keras`` files apply (``safety.check_config``): nothing named in
the file is imported or run, and every array is checked before the first is assigned.
"""

import json
import warnings

from ..backend import host_h5 as _h5
from ..serialization import deserialize_keras_object, serialize_keras_object
from ._archive import ModelFileError, _atomic_write, _is_model
from .keras_format import (KERAS_VERSION, _apply_optimizer, _compile_from, _compile_config,
                           expected_optimizer_layout, optimizer_arrays)
from .safety import check_config


def _error(path, what):
    return ModelFileError(f"cannot load {path!r}: {what}")


def _legacy_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _weighted_layers(model):
    return [layer for layer in model.layers if _legacy_weights(layer)]


def _plan(model, reader, root, path, skip_mismatch=False):
    attrs = reader.attrs(root)
    names = attrs.get("layer_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _error(path, f"{root or '/'!r} has no valid 'layer_names' attribute; not a Keras .h5 "
                           "weights layout")
    file_layers = []
    for name in names:
        gpath = f"{root}/{name}" if root else name
        if not reader.is_group(gpath):
            raise _error(path, f"layer group {gpath!r} listed in layer_names is missing")
        wnames = reader.attrs(gpath).get("weight_names", [])
        if not isinstance(wnames, list) or not all(isinstance(w, str) for w in wnames):
            raise _error(path, f"layer group {gpath!r} has no valid 'weight_names'")
        if wnames:
            file_layers.append((name, [f"{gpath}/{w}" for w in wnames]))
    targets = _weighted_layers(model)
    if len(file_layers) != len(targets) and not skip_mismatch:
        raise _error(path, f"it holds weights for {len(file_layers)} layers; model {model.name!r} has "
                           f"{len(targets)} layers with weights")
    pairs = []
    for (name, dpaths), layer in zip(file_layers, targets):
        mine = _legacy_weights(layer)
        problem = None
        if len(dpaths) != len(mine):
            problem = f"the file's layer {name!r} has {len(dpaths)} weights; layer {layer.name!r} has {len(mine)}"
        else:
            for d, v in zip(dpaths, mine):
                if not reader.is_dataset(d):
                    raise _error(path, f"weight {d!r} listed in weight_names is missing")
                shape, _ = reader.info(d)
                if tuple(shape) != tuple(v.shape):
                    problem = (f"weight {d!r} has shape {tuple(shape)}; layer {layer.name!r} expects "
                               f"{tuple(v.shape)} for {v.name!r}")
                    break
        if problem:
            if skip_mismatch:
                warnings.warn(f"load_weights: skipping layer {layer.name!r}: {problem}", stacklevel=4)
                continue
            raise _error(path, problem)
        pairs.extend((v, reader.read(d, shape=v.shape)) for d, v in zip(dpaths, mine))
    return pairs


def _plan_optimizer(model, reader, path):
    opt = getattr(model, "optimizer", None)
    if opt is None or not reader.is_group("optimizer_weights"):
        return None
    names = reader.attrs("optimizer_weights").get("weight_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _error(path, "optimizer_weights has no valid 'weight_names'")
    version = str(reader.attrs().get("keras_version", ""))
    variables = model.trainable_weights
    layout = expected_optimizer_layout(opt, variables)
    if not version.startswith("3.") or len(names) != len(layout):
        warnings.warn(f"load_model: the optimizer state in {path!r} (Keras {version or '?'}, "
                      f"{len(names)} variables) does not match {type(opt).__name__}'s Keras 3 layout "
                      f"({len(layout)} variables); the optimizer starts fresh", stacklevel=4)
        return None
    state = {"iterations": 0, "lr": None, "slots": [dict() for _ in variables], "scalars": {},
             "variables": variables}
    for name, (kind, detail, shape) in zip(names, layout):
        dpath = f"optimizer_weights/{name}"
        if not reader.is_dataset(dpath):
            raise _error(path, f"optimizer weight {dpath!r} is missing")
        array = reader.read(dpath, shape=shape)
        if kind == "iterations":
            state["iterations"] = max(0, int(array.item()))
        elif kind == "learning_rate":
            state["lr"] = float(array.item())
        elif kind == "slot":
            state["slots"][detail[0]][detail[1]] = array
        else:
            state["scalars"][detail] = float(array.item())
    return state


def _json_attr(reader, name, path):
    raw = reader.attrs().get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _error(path, f"root attribute {name!r} is not a JSON string")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _error(path, f"root attribute {name!r} is not valid JSON ({exc})") from None


def load_legacy(path, custom_objects=None, compile=True):
    """Read a legacy full-model ``.h5`` file."""
    from ..naming import custom_object_scope
    with _h5.H5Reader(path, repr(path)) as reader:
        config = _json_attr(reader, "model_config", path)
        if config is None:
            raise _error(path, "it has no 'model_config': it is a weights-only .h5 file; build the "
                               "model and call model.load_weights instead")
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
            raise _error(path, "model_config must be a dict with 'class_name' and 'config'")
        check_config(config, path)
        training = _json_attr(reader, "training_config", path)
        with custom_object_scope(custom_objects or {}):
            try:
                model = deserialize_keras_object(config)
            except Exception as exc:  # any failure to rebuild: portanet cannot build this architecture
                raise _error(path, f"model_config describes an architecture portanet cannot rebuild: "
                                   f"{type(exc).__name__}: {exc}") from exc
            if not _is_model(model) or not model.built:
                raise _error(path, "model_config does not describe a built model")
            state = None
            if compile and isinstance(training, dict):
                cc = {k: v for k, v in training.items() if k in (
                    "loss", "loss_weights", "metrics", "weighted_metrics")}
                opt_config = training.get("optimizer_config")
                if opt_config is not None:
                    cc["optimizer"] = opt_config
                _compile_from(model, cc, path)
        root = "model_weights" if reader.is_group("model_weights") else ""
        pairs = _plan(model, reader, root, path)
        if compile and isinstance(training, dict):
            state = _plan_optimizer(model, reader, path)
    for v, array in pairs:
        v.assign(array)
    _apply_optimizer(model, state)
    return model


def load_weights_legacy(model, path, skip_mismatch=False):
    """Read a legacy ``.h5`` weights (or full-model) file into ``model``."""
    with _h5.H5Reader(path, repr(path)) as reader:
        root = "model_weights" if reader.is_group("model_weights") else ""
        pairs = _plan(model, reader, root, path, skip_mismatch=skip_mismatch)
    for v, array in pairs:
        v.assign(array)


def _weight_groups(model, prefix):
    names, groups = [], []
    for layer in model.layers:
        weights = _legacy_weights(layer)
        names.append(layer.name)
        wnames, seen = [], set()
        for i, v in enumerate(weights):
            wname = str(getattr(v, "path", None) or getattr(v, "name", None) or f"variable_{i}")
            wname = "/".join(p for p in wname.split("/") if p not in ("", ".", ".."))
            if not wname or wname in seen:
                wname = f"{wname}_{i}"
            seen.add(wname)
            wnames.append(wname)
        groups.append((f"{prefix}{layer.name}", {"weight_names": wnames}, []))
        for wname, v in zip(wnames, weights):
            folder, leaf = wname.rsplit("/", 1) if "/" in wname else ("", wname)
            gpath = f"{prefix}{layer.name}" + (f"/{folder}" if folder else "")
            groups.append((gpath, {}, [(leaf, _h5.host_array(v.numpy()))]))
    return names, groups


def save_legacy(model, path, include_optimizer=True):
    """Write ``model`` as Keras 3's legacy ``.h5`` (``legacy_h5_format``), atomically."""
    config = serialize_keras_object(model)
    model_config = {"class_name": config["class_name"], "config": config["config"]}
    root_attrs = {"keras_version": KERAS_VERSION, "backend": "portanet",
                  "model_config": json.dumps(model_config)}
    cc = _compile_config(model)
    if cc is not None:
        training = {k: v for k, v in cc.items() if k != "optimizer"}
        # Keras's legacy form of the optimizer: {"class_name", "config"} only.
        training["optimizer_config"] = {"class_name": cc["optimizer"]["class_name"],
                                        "config": cc["optimizer"]["config"]}
        root_attrs["training_config"] = json.dumps(training)
    names, groups = _weight_groups(model, "model_weights/")
    groups.insert(0, ("model_weights", {"layer_names": names, "backend": "portanet",
                                        "keras_version": KERAS_VERSION}, []))
    if include_optimizer and cc is not None and model.optimizer is not None:
        arrays = optimizer_arrays(model.optimizer, model.trainable_weights)
        opt_names = [f"{model.optimizer.name}/v{i}" for i in range(len(arrays))]
        groups.append(("optimizer_weights", {"weight_names": opt_names}, []))
        groups.append((f"optimizer_weights/{model.optimizer.name}", {},
                       [(f"v{i}", a) for i, a in enumerate(arrays)]))
    _atomic_write(path, _h5.h5_bytes(groups, root_attrs=root_attrs), raw=True)
