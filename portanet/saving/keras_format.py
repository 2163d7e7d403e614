"""Keras 3's own files: ``.keras`` (zip) and ``.weights.h5``, written and read as Keras's
``saving_lib`` writes and reads them.

A ``.keras`` file is a zip of ``metadata.json`` (``keras_version``, ``date_saved``),
``config.json`` (``serialize_keras_object(model)`` plus ``compile_config``),
``model.weights.h5`` and ``assets/`` (when a layer has assets). The weights file is laid out
by Keras's ``_save_state`` walk: the model's own ``vars``, then for Sequential and
Functional models the ``layers`` container (each layer named by its snake-cased class,
``dense``, ``dense_1``, ...), then each object's attributes that hold layers, public names
first (``layers/bidirectional/forward_layer/cell/vars/0``); inside a ``vars`` group the
layer's own variables, trainable then non-trainable, as ``0``, ``1``, ...; the optimizer's
variables as ``optimizer/vars/0..``: iterations, learning rate (unless it is a schedule),
then its slots in the order its Keras ``build()`` creates them.

Weights are matched by walking the model in Keras's order, never by names. Every array is
checked (shape, numeric dtype) before the first one is assigned.
"""

import datetime
import json
import os
import re
import shutil
import tempfile
import warnings

from ..backend import host_h5 as _h5
from ..backend import host_io as _host_io
from ..layers.base import Layer
from ..serialization import deserialize_keras_object, serialize_keras_object
from ..version import __version__
from ._archive import ModelFileError, _atomic_write, _is_model
from .safety import SafeZip, check_config

KERAS_VERSION = "3.15.1"   # the Keras 3 file format written here
_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_ASSETS = "assets"


# ---------------------------------------------------------------------- the walk

def _snake(name):
    """Keras's ``naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def _name_key(name):
    return f"~{name}" if name.startswith("_") else name


# Attributes of portanet's layers that point at layers Keras reaches under other names (or
# not at all): the walk never enters a layer through them.
_SKIP = {"_layers", "_inbound_nodes", "_outbound_nodes", "_input_layers", "_output_layers",
         "_nodes", "_operations", "_tracked_attributes", "_functional", "_graph", "_owner",
         "_parent", "_input_layer", "_output_layer", "_first_layer"}


def _is_graph_model(obj):
    return _is_model(obj) and any(c.__name__ in ("Sequential", "Functional") for c in type(obj).__mro__)


def _own_trainable(v):
    return getattr(v, "_own_trainable", True) and getattr(v, "trainable", True)


def _own_variables(layer):
    own = list(layer.__dict__.get("_weights", ()))
    trainable = [v for v in own if getattr(v, "_own_trainable", True)]
    return trainable + [v for v in own if not getattr(v, "_own_trainable", True)]


_BASE_NAMES = None


def _base_names():
    """What Keras's ``get_attr_skipset("Layer")`` is to Keras: the attributes every layer
    has (a bare Layer's and its class's), which the walk never enters."""
    global _BASE_NAMES
    if _BASE_NAMES is None:
        _BASE_NAMES = frozenset(dir(Layer)) | frozenset(vars(Layer()))
    return _BASE_NAMES


# Public properties Keras's classes have (and its walk reaches first) where portanet's class
# keeps only the private attribute; and properties a portanet class inherits that the Keras
# class lacks (Keras's GroupedQueryAttention is no MultiHeadAttention).
_MHA_DENSE = {"query_dense": "_query_dense", "key_dense": "_key_dense",
              "value_dense": "_value_dense", "output_dense": "_output_dense"}
_KERAS_PROPERTIES = {"MultiHeadAttention": _MHA_DENSE}
_NOT_KERAS_PROPERTIES = {"GroupedQueryAttention": set(_MHA_DENSE)}


def _attribute_names(obj):
    """The instance attributes and the public properties of ``obj``'s class (Keras walks
    ``dir(obj)``, so ``MultiHeadAttention.query_dense`` is reached by its property)."""
    names = set(vars(obj))
    cls_name = type(obj).__name__
    not_keras = _NOT_KERAS_PROPERTIES.get(cls_name, ())
    for name in dir(type(obj)):
        if not name.startswith("_") and isinstance(getattr(type(obj), name, None), property) \
                and name not in not_keras:
            names.add(name)
    names.update(_KERAS_PROPERTIES.get(cls_name, {}))
    base = _base_names()
    return sorted((n for n in names if not n.startswith("__") and n not in _SKIP and n not in base),
                  key=_name_key)


def _children(obj):
    """(attribute name, layer or container) pairs in Keras's walk order."""
    if _is_graph_model(obj):
        yield "layers", list(obj.layers)
        return
    aliases = _KERAS_PROPERTIES.get(type(obj).__name__, {})
    for name in _attribute_names(obj):
        if name == "layers" and _is_model(obj):
            # A subclassed Keras model's ``layers`` is its tracker's list: every layer
            # assigned to an attribute (private ones too, lists flattened), in the order
            # of assignment.
            yield name, _tracked_layers(obj)
            continue
        if name in vars(obj):
            value = vars(obj)[name]
        elif name in aliases and aliases[name] in vars(obj) and not isinstance(
                getattr(type(obj), name, None), property):
            value = vars(obj)[aliases[name]]
        else:
            try:
                value = getattr(obj, name)
            except Exception:  # noqa: BLE001 - as Keras's walk: an attribute that fails is not state
                continue
        if isinstance(value, Layer) and value is not obj:
            yield name, value
        elif isinstance(value, (list, tuple, dict)) and _holds_layers(value):
            yield name, value


def _tracked_layers(obj):
    out, seen = [], set()
    base = _base_names()

    def add(value, depth=0):
        if isinstance(value, Layer) and value is not obj:
            if id(value) not in seen:
                seen.add(id(value))
                out.append(value)
        elif depth < 4 and isinstance(value, (list, tuple, dict)):
            for item in (value.values() if isinstance(value, dict) else value):
                add(item, depth + 1)
    for name, value in vars(obj).items():
        if not name.startswith("__") and name not in base and name not in _SKIP:
            add(value)
    return out


def _holds_layers(container, depth=0):
    items = container.values() if isinstance(container, dict) else container
    for item in items:
        if isinstance(item, Layer):
            return True
        if depth < 4 and isinstance(item, (list, tuple, dict)) and _holds_layers(item, depth + 1):
            return True
    return False


def walk(model):
    """``[(h5 group path, layer, [own variables])]`` for every layer reached, in Keras's
    order ("" is the model itself)."""
    out, visited = [], set()
    _walk_layer(model, "", visited, out)
    return out


def _join(a, b):
    return f"{a}/{b}" if a else b


def _walk_layer(layer, path, visited, out):
    if id(layer) in visited:
        return
    visited.add(id(layer))
    out.append((path, layer, _own_variables(layer)))
    for name, child in _children(layer):
        if isinstance(child, Layer):
            _walk_layer(child, _join(path, name), visited, out)
        else:
            _walk_container(child, _join(path, name), visited, out, set())


def _walk_container(container, path, visited, out, seen_containers):
    if id(container) in seen_containers:
        return
    seen_containers.add(id(container))
    used = {}
    items = list(container.values()) if isinstance(container, dict) else list(container)
    for item in items:
        if isinstance(item, Layer):
            name = _unique(_snake(type(item).__name__), used)
            _walk_layer(item, _join(path, name), visited, out)
        elif isinstance(item, (list, tuple, dict)):
            name = _unique("container", used)
            _walk_container(item, _join(path, name), visited, out, seen_containers)


def _unique(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


# ---------------------------------------------------------------------- optimizer layout

# How Keras's build() lays out each optimizer's slots, by portanet's slot names: a list of
# groups; the slots of one group are interleaved variable by variable ("each"), groups
# follow one another. Scalars (Nadam's u_product) follow the slots.
_LAYOUTS = {
    "Adam": [["momentum", "velocity"], ["velocity_hat"]],
    "AdamW": [["momentum", "velocity"], ["velocity_hat"]],
    "Nadam": [["momentum", "velocity"]],
    "RMSprop": [["velocity"], ["momentum"], ["average_gradient"]],
    "Adamax": [["m", "u"]],
    "Adadelta": [["accumulated_grad", "accumulated_delta_var"]],
    "Adagrad": [["accumulator"]],
    "Ftrl": [["accumulator", "linear"]],
    "Lion": [["momentum"]],
    "SGD": [["momentum"]],
}
_SCALARS = {"Nadam": [("u_product", "_u_product", 1.0)]}


def _layout_class(opt):
    for cls in type(opt).__mro__:
        if cls.__name__ in _LAYOUTS:
            return cls.__name__
    return None


def _slot_groups(opt, slot_names):
    """The slot groups of ``opt`` in Keras's order, given the slot names it keeps."""
    groups = []
    if "average" in slot_names:
        groups.append(["average"])
    if "accumulated_gradient" in slot_names:
        groups.append(["accumulated_gradient"])
    base = {"average", "accumulated_gradient"}
    known = _LAYOUTS.get(_layout_class(opt))
    rest = [n for n in slot_names if n not in base]
    if known is None:
        if rest:
            groups.append(rest)
        return groups
    for group in known:
        present = [n for n in group if n in rest]
        if present:
            groups.append(present)
    missing = [n for n in rest if not any(n in g for g in groups)]
    if missing:
        groups.append(missing)
    return groups


def _has_lr_variable(opt):
    return not callable(getattr(opt, "_learning_rate", None))


def optimizer_arrays(opt, variables):
    """Keras's ``optimizer.variables`` for ``opt`` built on ``variables`` (host arrays):
    iterations, learning rate, slots, scalars."""
    slots_by_id = {}
    if opt.built:
        state = opt.get_state()
        for v, s in zip(opt.variables, state.get("slots", [])):
            slots_by_id[id(v)] = s
    per_var = []
    for v in variables:
        s = slots_by_id.get(id(v))
        if s is None:
            s = {k: v.backend.to_numpy(a) for k, a in opt._new_slots(v).items()}
        per_var.append(s)
    names = list(per_var[0]) if per_var else list(opt._new_slots(variables[0])) if variables else []
    arrays = [_as_int64(opt.iterations)]
    if _has_lr_variable(opt):
        arrays.append(_as_float32(opt.learning_rate))
    for group in _slot_groups(opt, names):
        for s in per_var:
            for n in group:
                arrays.append(_h5.host_array(s[n]))
    for _, attr, default in _SCALARS.get(_layout_class(opt), ()):
        arrays.append(_as_float32(getattr(opt, attr, default)))
    return arrays


def _as_int64(value):
    return _h5.scalar(int(value), "int64")


def _as_float32(value):
    return _h5.scalar(float(value), "float32")


def expected_optimizer_layout(opt, variables):
    """``[(kind, detail, shape)]`` of Keras's optimizer variables for ``opt`` on ``variables``:
    kind "iterations", "learning_rate", "slot" (detail (variable index, slot name)) or
    "scalar" (detail attribute name)."""
    fresh = [opt._new_slots(v) for v in variables]
    names = list(fresh[0]) if fresh else []
    layout = [("iterations", None, ())]
    if _has_lr_variable(opt):
        layout.append(("learning_rate", None, ()))
    for group in _slot_groups(opt, names):
        for i, (v, s) in enumerate(zip(variables, fresh)):
            for n in group:
                layout.append(("slot", (i, n), tuple(s[n].shape)))
    for name, attr, _ in _SCALARS.get(_layout_class(opt), ()):
        layout.append(("scalar", (name, attr), ()))
    return layout


# ---------------------------------------------------------------------- writing

def _weights_groups(model, include_optimizer):
    groups = []
    for path, layer, own in walk(model):
        vars_path = _join(path, "vars")
        if _user_method(layer, "save_own_variables"):
            # Keras's hook, overridden by the layer's class: its store is what is written.
            store = {}
            layer.save_own_variables(store)
            items = [(str(k), _h5.host_array(v.numpy() if hasattr(v, "numpy") else v))
                     for k, v in store.items()]
        else:
            items = [(str(i), _h5.host_array(v.numpy())) for i, v in enumerate(own)]
        groups.append((vars_path, {"name": layer.name}, items))
    if include_optimizer and getattr(model, "compiled", False) and model.optimizer is not None:
        opt = model.optimizer
        variables = model.trainable_weights
        arrays = optimizer_arrays(opt, variables)
        groups.append(("optimizer/vars", {"name": opt.name},
                       [(str(i), a) for i, a in enumerate(arrays)]))
    return groups


def weights_h5_bytes(model, include_optimizer=False):
    return _h5.h5_bytes(_weights_groups(model, include_optimizer))


def _compile_config(model):
    if not getattr(model, "compiled", False):
        return None
    cc = dict(model.get_compile_config() or {})
    cc["optimizer"] = serialize_keras_object(model.optimizer)
    return serialize_keras_object(cc)


def model_config(model):
    config = serialize_keras_object(model)
    cc = _compile_config(model)
    if cc is not None and "compile_config" not in config:
        config["compile_config"] = cc
    return config


def _json(obj, path):
    try:
        return json.dumps(obj, default=_json_default).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save {path!r}: the model's configuration is not JSON-serializable "
                         f"({exc})") from None


def _json_default(obj):
    value = _host_io.json_value(obj)
    if _host_io.is_json_value(value):
        return value
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} {obj!r} is not JSON-serializable")


def _asset_members(model):
    """``{zip member: bytes}`` of the layers' assets (``save_assets(dir)``), as Keras lays
    them out (``assets/<walk path>/<file>``)."""
    members = {}
    for path, layer, _ in walk(model):
        save_assets = getattr(layer, "save_assets", None)
        if not callable(save_assets):
            continue
        tmp = tempfile.mkdtemp(prefix="portanet-assets-")
        try:
            save_assets(tmp)
            for root, _, files in os.walk(tmp):
                for fname in files:
                    full = os.path.join(root, fname)
                    rel = os.path.relpath(full, tmp).replace(os.sep, "/")
                    with open(full, "rb") as f:
                        members["/".join(p for p in (_ASSETS, path, rel) if p)] = f.read()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return members


def save_keras(model, path, include_optimizer=True):
    """Write ``model`` to ``path`` as a Keras 3 ``.keras`` zip (atomically)."""
    config = model_config(model)
    meta = {"keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "portanet_version": __version__}
    members = {_METADATA: _json(meta, path), _CONFIG: _json(config, path),
               _WEIGHTS: weights_h5_bytes(model, include_optimizer)}
    members.update(_asset_members(model))
    _atomic_write(path, members)     # JSON deflated, the weights stored (as fast to read as a file)


def save_weights_h5(model, path):
    """Write ``model``'s weights as Keras 3's ``.weights.h5`` (atomically). As Keras's
    ``save_weights`` walks the whole model, a compiled model's file also holds the
    optimizer's variables (``optimizer/vars``)."""
    _atomic_write(path, weights_h5_bytes(model, include_optimizer=True), raw=True)


# ---------------------------------------------------------------------- reading

def _error(path, what):
    return ModelFileError(f"cannot load {path!r}: {what}")


class _LoadOwnVariables:
    """Stands for a layer whose class overrides ``load_own_variables`` in a plan's pairs:
    ``assign(store)`` calls the hook."""

    def __init__(self, layer):
        self.layer = layer

    def assign(self, store):
        self.layer.load_own_variables(store)


class _Plan:
    """Checked arrays for a model's variables, assigned only when everything has passed."""

    def __init__(self):
        self.pairs = []
        self.optimizer = None

    def assign(self):
        for v, array in self.pairs:
            v.assign(array)


def _plan_layers(model, reader, path, skip_mismatch=False, warn=None):
    """Match the model's layers (Keras's walk) to the groups of ``reader``; check every
    array's shape and dtype; return the (variable, array) pairs."""
    pairs = []
    for gpath, layer, own in walk(model):
        vars_path = _join(gpath, "vars")
        keys = [k for k in reader.children(vars_path) if reader.is_dataset(_join(vars_path, k))] \
            if reader.is_group(vars_path) else []
        if _user_method(layer, "load_own_variables"):
            # Keras's hook, overridden by the layer's class: it gets every array of its
            # group (read and checked as numbers now) and assigns them itself, after all
            # other checks have passed.
            store = {}
            for k in keys:
                shape, dtype = reader.info(_join(vars_path, k))
                if _host_io.dtype(dtype).kind not in "fiub":
                    raise _error(path, f"layer {layer.name!r}: variable {k!r} has dtype {dtype}; "
                                       "expected numbers")
                store[k] = reader.read(_join(vars_path, k))
            pairs.append((_LoadOwnVariables(layer), store))
            continue
        if not own and not keys:
            continue
        label = f"layer {layer.name!r} ({type(layer).__name__}, at {vars_path!r})"
        problem = None
        if sorted(keys) != [str(i) for i in range(len(own))] and len(keys) == len(own):
            problem = f"its variables are named {sorted(keys)}; expected 0..{len(own) - 1}"
        elif len(keys) != len(own):
            problem = (f"the file holds {len(keys)} variables there; the layer has {len(own)}"
                       + ("" if keys else " (the file has no weights for it: a different architecture?)"))
        else:
            for i, v in enumerate(own):
                shape, dtype = reader.info(_join(vars_path, str(i)))
                if tuple(shape) != tuple(v.shape):
                    problem = (f"variable {i} ({v.name!r}) has shape {tuple(shape)} in the file; the "
                               f"architecture expects {tuple(v.shape)}")
                    break
                if _host_io.dtype(dtype).kind not in "fiub":
                    problem = f"variable {i} has dtype {dtype}; expected numbers"
                    break
        if problem:
            if skip_mismatch:
                if warn:
                    warn(f"skipping {label}: {problem}")
                continue
            raise _error(path, f"{label}: {problem}")
        for i, v in enumerate(own):
            pairs.append((v, reader.read(_join(vars_path, str(i)), shape=v.shape)))
    return pairs


def _plan_optimizer(model, reader, path, lenient=False):
    """Keras's optimizer variables from ``optimizer/vars`` as portanet's state, checked, or None.
    ``lenient`` (load_weights, as Keras): a different number of variables (another
    optimizer) only warns and leaves the optimizer as it is."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not reader.is_group("optimizer/vars"):
        return None
    variables = model.trainable_weights
    layout = expected_optimizer_layout(opt, variables)
    keys = [k for k in reader.children("optimizer/vars")]
    if len(keys) != len(layout) and lenient:
        warnings.warn(f"load_weights: skipping the optimizer state in {path!r}: it holds {len(keys)} "
                      f"variables, {type(opt).__name__} on this model keeps {len(layout)}", stacklevel=4)
        return None
    if len(keys) != len(layout):
        raise _error(path, f"optimizer/vars holds {len(keys)} variables; {type(opt).__name__} on this "
                           f"model keeps {len(layout)} (iterations, learning rate and its slots, in "
                           "Keras's order): the file's optimizer differs from the compiled one")
    state = {"iterations": 0, "lr": None, "slots": [dict() for _ in variables], "scalars": {}}
    for i, (kind, detail, shape) in enumerate(layout):
        key = f"optimizer/vars/{i}"
        if not reader.is_dataset(key):
            raise _error(path, f"it has no optimizer variable {key!r}")
        got_shape, _ = reader.info(key)
        if tuple(got_shape) != tuple(shape):
            what = kind if kind != "slot" else f"slot {detail[1]!r} of {variables[detail[0]].path!r}"
            raise _error(path, f"optimizer variable {i} ({what}) has shape {tuple(got_shape)}; "
                               f"expected {tuple(shape)}")
        array = reader.read(key, shape=shape)
        if kind == "iterations":
            it = int(array.item())
            if it < 0:
                raise _error(path, f"optimizer iterations = {it}; expected >= 0")
            state["iterations"] = it
        elif kind == "learning_rate":
            state["lr"] = float(array.item())
        elif kind == "slot":
            state["slots"][detail[0]][detail[1]] = array
        else:
            state["scalars"][detail] = float(array.item())
    state["variables"] = variables
    return state


def _apply_optimizer(model, state):
    if state is None:
        return
    opt = model.optimizer
    full = {"iterations": state["iterations"], "slots": state["slots"]}
    for (name, attr), value in state["scalars"].items():
        full[name] = value
    opt.set_state(full, state["variables"])
    for (name, attr), value in state["scalars"].items():
        setattr(opt, attr, value)
    if state["lr"] is not None and _has_lr_variable(opt):
        opt.learning_rate = state["lr"]


def _load_assets(model, zf, path):
    names = [n for n in zf.names if n.startswith(_ASSETS + "/") and not n.endswith("/")]
    for gpath, layer, _ in walk(model):
        load_assets = getattr(layer, "load_assets", None)
        if not callable(load_assets):
            continue
        prefix = "/".join(p for p in (_ASSETS, gpath) if p) + "/"
        mine = [n for n in names if n.startswith(prefix)]
        tmp = tempfile.mkdtemp(prefix="portanet-assets-")
        try:
            for n in mine:
                rel = n[len(prefix):]
                target = os.path.join(tmp, *rel.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(zf.read(n))
            load_assets(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _user_method(obj, name):
    """Whether ``obj``'s ``name`` method is defined by a class outside portanet."""
    for klass in type(obj).__mro__:
        if name in klass.__dict__:
            return not klass.__module__.startswith("portanet.")
    return False


def _compile_from(model, compile_config, path):
    if not isinstance(compile_config, dict):
        raise _error(path, "compile_config must be a dict")
    check_config(compile_config, path)
    own = _user_method(model, "compile_from_config")
    if own or _user_method(model, "compile"):
        # Keras calls the model's compile_from_config: a user's override deserializes its
        # own get_compile_config; the built-in one warns and skips a custom compile().
        try:
            model.compile_from_config(compile_config)
        except Exception as exc:
            raise _error(path, f"its compile_config cannot be applied by "
                               f"{type(model).__name__}.compile_from_config: {exc}") from exc
        return
    try:
        cc = deserialize_keras_object(compile_config)
        allowed = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                   "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")
        model.compile(**{k: v for k, v in cc.items() if k in allowed})
    except ModelFileError:
        raise
    except Exception as exc:  # any failure to compile means the file's settings do not apply
        raise _error(path, f"its compile_config cannot be applied: {exc}") from exc


def _build_from_config(config, path):
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise _error(path, "config.json must hold a dict with 'class_name' and 'config'")
    check_config(config, path)
    try:
        model = deserialize_keras_object(config)
    except ModelFileError:
        raise
    except Exception as exc:  # any failure to rebuild means portanet cannot rebuild this architecture
        raise _error(path, f"config.json describes an architecture portanet cannot rebuild: "
                           f"{type(exc).__name__}: {exc}") from exc
    if not _is_model(model):
        raise _error(path, f"config.json describes a {type(model).__name__}, not a model")
    if not model.built:
        raise _error(path, "config.json describes an unbuilt model (no build_config); its weights "
                           "cannot be matched")
    return model


def load_keras(path, custom_objects=None, compile=True):
    """Read a Keras 3 ``.keras`` file: architecture, weights, compile settings, optimizer."""
    from ..naming import custom_object_scope
    with SafeZip(path) as zf:
        config = zf.json(_CONFIG)
        if _METADATA in zf.names:
            zf.json(_METADATA)
        if _WEIGHTS not in zf.names:
            raise _error(path, f"it has no {_WEIGHTS!r} (members: {sorted(zf.names)[:8]}); "
                               "model.weights.npz files are not supported")
        weights = zf.read(_WEIGHTS)
        with custom_object_scope(custom_objects or {}):
            model = _build_from_config(config, path)
            cc = config.get("compile_config")
            if compile and cc:
                _compile_from(model, cc, path)
        with _h5.H5Reader(weights, f"{path!r} ({_WEIGHTS})") as reader:
            pairs = _plan_layers(model, reader, path)
            opt_state = _plan_optimizer(model, reader, path) if compile and cc else None
        for v, array in pairs:
            v.assign(array)
        _apply_optimizer(model, opt_state)
        _load_assets(model, zf, path)
    return model


def load_weights_h5(model, path, skip_mismatch=False, warn=None):
    """Read Keras 3's ``.weights.h5`` (or the weights of a ``.keras`` file) into ``model``."""
    if str(path).endswith(".keras"):
        with SafeZip(path) as zf:
            data = zf.read(_WEIGHTS)
        source = data
    else:
        source = path
    with _h5.H5Reader(source, repr(path)) as reader:
        if reader.is_group("model_weights") or "layer_names" in reader.attrs():
            raise _error(path, "it is a legacy Keras 2 .h5 file, not a Keras 3 .weights.h5")
        pairs = _plan_layers(model, reader, path, skip_mismatch=skip_mismatch, warn=warn)
        # As Keras's load_weights (its walk reaches model.optimizer): a compiled model also
        # gets the file's optimizer state.
        state = _plan_optimizer(model, reader, path, lenient=True) \
            if getattr(model, "compiled", False) else None
    for v, array in pairs:
        v.assign(array)
    _apply_optimizer(model, state)


def restore_keras(model, path):
    """Weights and optimizer state (iterations, learning rate, slots) of a ``.keras`` file
    into an existing compiled ``model`` of the same architecture; nothing else is read
    from the file's configuration. Returns the file's metadata dict."""
    with SafeZip(path) as zf:
        meta = zf.json(_METADATA) if _METADATA in zf.names else {}
        weights = zf.read(_WEIGHTS)
    with _h5.H5Reader(weights, f"{path!r} ({_WEIGHTS})") as reader:
        pairs = _plan_layers(model, reader, path)
        state = _plan_optimizer(model, reader, path)
        if state is None:
            raise _error(path, "it holds no optimizer state (saved without a compiled optimizer or "
                               "with include_optimizer=False)")
    for v, array in pairs:
        v.assign(array)
    _apply_optimizer(model, state)
    return meta
