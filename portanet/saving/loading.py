"""``load_model``, ``load_weights`` and ``restore_training_state``: nothing named in a file
is imported or run; shapes and dtypes are checked before any weight is assigned."""

import io
import warnings
import zipfile
import zlib

from ..backend import host_io as _host_io

from .. import layers as _layers
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..naming import custom_object_scope
from ._archive import _weight_dtype_name, _array_dtype_name, _is_model, _Archive, _check_metadata, _resolve_path


def _expected_weights(model):
    return {f"w{i:05d}": (v.shape, _weight_dtype_name(v), f"weight {v.path!r}")
            for i, v in enumerate(model.weights)}


def _assign_all(model, arrays):
    """Assign after every array has passed its checks, so a bad file changes nothing."""
    for i, v in enumerate(model.weights):
        v.assign(arrays[f"w{i:05d}"])


def _build_model(archive, config):
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise archive.error("config.json must hold a dict with 'class_name' and 'config'")
    try:
        model = _layers.deserialize({"class_name": config["class_name"], "config": config.get("config")})
    except Exception as exc:  # any failure to rebuild means the file does not describe a valid model
        raise archive.error(f"config.json describes an architecture portanet cannot rebuild: {exc}") from exc
    if not _is_model(model):
        raise archive.error(f"config.json describes a {type(model).__name__}, not a model")
    shapes = config.get("build_input_shapes")
    if not model.built:
        if not shapes:
            raise archive.error("config.json holds an unbuilt model without build_input_shapes")
        try:
            shapes = [tuple(s) for s in shapes]
            model.build(shapes[0] if len(shapes) == 1 else shapes)
        except Exception as exc:
            raise archive.error(f"the architecture cannot be built for input shapes {shapes}: {exc}") from exc
    return model


def _deserialize_spec(spec, module):
    """Compile specs from compile.json back to objects; a {"class_name", "config"} dict is
    one object, any other dict maps output names to specs."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if "class_name" in spec and "config" in spec:
            return module.deserialize(spec)
        return {k: _deserialize_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_deserialize_spec(v, module) for v in spec]
    raise ValueError(f"cannot read compile setting {spec!r}")


def _compile_from(archive, model, info):
    cc = info.get("compile_config") or {}
    if not isinstance(cc, dict):
        raise archive.error("compile.json: compile_config must be a dict")
    try:
        optimizer = _optimizers.deserialize(info.get("optimizer") or cc.get("optimizer"))
        model.compile(optimizer=optimizer,
                      loss=_deserialize_spec(cc.get("loss"), _losses),
                      loss_weights=cc.get("loss_weights"),
                      metrics=_deserialize_spec(cc.get("metrics"), _metrics),
                      weighted_metrics=_deserialize_spec(cc.get("weighted_metrics"), _metrics))
    except Exception as exc:
        raise archive.error(f"compile.json cannot be applied: {exc}") from exc


def _read_optimizer_state(archive, model, state):
    """Checked optimizer state for ``model.optimizer`` (host arrays), or None if the file has none."""
    if not state:
        return None
    if not isinstance(state, dict):
        raise archive.error("compile.json: optimizer_state must be a dict")
    weights = model.weights
    indices = state.get("variables", [])
    slot_names = state.get("slots", [])
    iterations = state.get("iterations", 0)
    if (not isinstance(indices, list) or not isinstance(slot_names, list) or len(indices) != len(slot_names)
            or not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0):
        raise archive.error("compile.json: optimizer_state is malformed")
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(weights):
            raise archive.error(f"compile.json: optimizer variable index {i!r} is not a weight of the model")
    variables = [weights[i] for i in indices]
    result = {"iterations": iterations, "variables": variables, "slots": [], "extra": state.get("extra") or {}}
    if not variables:
        return result
    opt = model.optimizer
    # Fresh slots give the shapes and dtypes the file must match (without touching ``opt``,
    # which must stay as it is if the file is refused).
    make = getattr(opt, "_new_slots", None) or opt._make_slots
    expected = {}
    for i, (v, names) in enumerate(zip(variables, slot_names)):
        fresh = make(v)
        if not isinstance(names, list) or sorted(names) != sorted(fresh):
            raise archive.error(f"compile.json: the optimizer state of {v.path!r} has slots {names}; "
                                f"{type(opt).__name__} keeps {sorted(fresh)}")
        for name in names:
            expected[f"s{i:05d}_{name}"] = (tuple(fresh[name].shape), _array_dtype_name(fresh[name]),
                                           f"slot {name!r} of {v.path!r}")
    # Optimizers without slots (plain SGD) leave nothing to read.
    arrays = archive.arrays("optimizer.npz", expected) if expected else {}
    result["slots"] = [{name: arrays[f"s{i:05d}_{name}"] for name in names}
                       for i, names in enumerate(slot_names)]
    return result


def _apply_optimizer_state(model, state):
    if state is None:
        return
    opt = model.optimizer
    full = dict(state["extra"]) if isinstance(state["extra"], dict) else {}
    full.update({"iterations": state["iterations"], "slots": state["slots"]})
    if state["variables"]:
        opt.set_state(full, state["variables"])
    else:
        opt.iterations = state["iterations"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved by ``model.save``/``save_model``, on the active backend.

    Args:
        filepath: the file.
        custom_objects: ``{name: class or function}`` for user classes named in the file
            (besides those registered with ``register_serializable``).
        compile: recompile with the saved settings and restore the optimizer state, so
            training continues exactly as the saved model would have.
        safe_mode: accepted for Keras compatibility; loading is always safe (nothing named in
            the file is imported or evaluated).

    Returns:
        The model. Raises ValueError naming the file if it is missing, truncated, corrupted
        or inconsistent with its own architecture.
    """
    path = _resolve_path(filepath, "load_model")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: custom_objects={custom_objects!r}; expected a dict")
    with _Archive(path) as archive:
        _check_metadata(archive, ("model",))
        config = archive.json("config.json")
        info = archive.json("compile.json") if "compile.json" in archive.names else None
        if info is not None and not isinstance(info, dict):
            raise archive.error("compile.json must hold a dict or null")
        with custom_object_scope(custom_objects or {}):
            model = _build_model(archive, config)
            arrays = archive.arrays("weights.npz", _expected_weights(model))
            state = None
            if compile and info and info.get("compile_config") is not None:
                _compile_from(archive, model, info)
                state = _read_optimizer_state(archive, model, info.get("optimizer_state"))
        _assign_all(model, arrays)
        _apply_optimizer_state(model, state)
    return model


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights saved by ``save_weights`` (or taken from a model file) into ``model``.

    Weights are matched by position (``model.weights`` order) and must have the same shapes;
    float weights are cast to the model's dtype. With ``skip_mismatch=True`` (as Keras) the
    weights are matched layer by layer and a layer whose weights do not fit is left
    unchanged with a warning instead of raising.
    """
    path = _resolve_path(filepath, "load_weights")
    if not model.built:
        raise ValueError(f"load_weights: build model {model.name!r} first (call it on data or give it "
                         "a pn.Input) so its weights exist")
    with _Archive(path) as archive:
        meta = _check_metadata(archive, ("weights", "model"))
        manifest = meta.get("weights")
        if not isinstance(manifest, list) or not all(isinstance(m, dict) for m in manifest):
            raise archive.error("metadata.json has no valid weights manifest")
        weights = model.weights
        if not skip_mismatch:
            if len(manifest) != len(weights):
                raise archive.error(f"it holds {len(manifest)} weights; model {model.name!r} has "
                                    f"{len(weights)} (use skip_mismatch=True to load what fits)")
            expected = {f"w{i:05d}": (v.shape, _weight_dtype_name(v), f"weight {v.path!r}")
                        for i, v in enumerate(weights)}
            arrays = archive.arrays("weights.npz", expected, exact_dtype=False)
            _assign_all(model, arrays)
            return
        _load_matching(archive, model, manifest, meta.get("layers"))


def _load_matching(archive, model, manifest, layer_counts=None):
    """skip_mismatch: match the file's weights to the model's layer by layer, in order."""
    shapes = []
    for m in manifest:
        shape, key = m.get("shape"), m.get("key")
        if not isinstance(shape, list) or not isinstance(key, str):
            raise archive.error("metadata.json: malformed weights manifest entry")
        shapes.append((key, tuple(shape), m.get("dtype"), m.get("path", key)))
    # The file's weights grouped as its layers held them: by the saved per-layer counts, or
    # else by the "layer/..." prefixes of the weight paths.
    groups = []
    counts = None
    if isinstance(layer_counts, list) and all(isinstance(c, dict) and isinstance(c.get("count"), int)
                                              for c in layer_counts):
        counts = [(str(c.get("name")), c["count"]) for c in layer_counts if c["count"] > 0]
        if sum(n for _, n in counts) != len(shapes) or any(n < 0 for _, n in counts):
            counts = None
    if counts is not None:
        start = 0
        for layer, n in counts:
            groups.append((layer, shapes[start:start + n]))
            start += n
    else:
        for key, shape, dtype, wpath in shapes:
            layer = str(wpath).split("/")[0]
            if groups and groups[-1][0] == layer:
                groups[-1][1].append((key, shape, dtype, wpath))
            else:
                groups.append((layer, [(key, shape, dtype, wpath)]))
    targets = [layer for layer in model.layers if layer.weights]
    expected, pairs = {}, []
    for i, layer in enumerate(targets):
        if i >= len(groups):
            warnings.warn(f"load_weights: the file has no weights for layer {layer.name!r}; it is left "
                          "unchanged", stacklevel=3)
            continue
        _, group = groups[i]
        mine = layer.weights
        if len(group) != len(mine) or any(s != v.shape for (_, s, _, _), v in zip(group, mine)):
            warnings.warn(f"load_weights: skipping layer {layer.name!r}: the file has weights of shapes "
                          f"{[s for _, s, _, _ in group]}, the layer {[v.shape for v in mine]}", stacklevel=3)
            continue
        for (key, shape, _, wpath), v in zip(group, mine):
            expected[key] = (shape, _weight_dtype_name(v), f"weight {wpath!r}")
            pairs.append((key, v))
    if len(groups) > len(targets):
        warnings.warn(f"load_weights: the file has {len(groups) - len(targets)} more layer(s) with "
                      "weights than the model; they are ignored", stacklevel=3)
    if not expected:
        return
    # Read only the arrays that are used; the others need not be checked against the model.
    arrays = _read_subset(archive, expected)
    for key, v in pairs:
        v.assign(arrays[key])


def _read_subset(archive, expected):
    try:
        inner = zipfile.ZipFile(io.BytesIO(archive.read("weights.npz")), "r")
    except zipfile.BadZipFile as exc:
        raise archive.error(f"member 'weights.npz' is not a valid .npz archive ({exc})") from None
    with inner:
        out = {}
        present = {n[:-4] for n in inner.namelist() if n.endswith(".npy")}
        for key, (shape, dtype, label) in expected.items():
            if key not in present:
                raise archive.error(f"weights.npz lacks array {key!r} ({label})")
            hs, hd = archive._header(inner, "weights.npz", key)
            archive._check_array("weights.npz", key, label, hs, hd, shape, dtype, False)
            try:
                with inner.open(key + ".npy") as f:
                    out[key] = _host_io.read_npy(f)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise archive.error(f"weights.npz: array {key!r} cannot be read ({exc})") from None
        return out


def restore_training_state(model, filepath):
    """Load weights and optimizer state (slots, iterations) from a model file into an
    existing compiled model of the same architecture, e.g. to resume after a crash.

    Returns the file's metadata dict. Raises ValueError naming the file if it does not
    fit the model (weight shapes, dtypes or optimizer slots).
    """
    path = _resolve_path(filepath, "restore_training_state")
    if not getattr(model, "compiled", False):
        raise ValueError(f"restore_training_state: compile model {model.name!r} first; the optimizer "
                         "state is restored into its optimizer")
    if not model.built:
        raise ValueError(f"restore_training_state: build model {model.name!r} first")
    with _Archive(path) as archive:
        meta = _check_metadata(archive, ("model",))
        info = archive.json("compile.json") if "compile.json" in archive.names else None
        arrays = archive.arrays("weights.npz", _expected_weights(model))
        state = None
        if isinstance(info, dict) and info.get("optimizer_state"):
            saved_class = (info.get("optimizer") or {}).get("class_name")
            if saved_class is not None and saved_class != type(model.optimizer).__name__:
                raise archive.error(f"its optimizer state is for {saved_class}; the model uses "
                                    f"{type(model.optimizer).__name__}")
            state = _read_optimizer_state(archive, model, info["optimizer_state"])
        _assign_all(model, arrays)
        _apply_optimizer_state(model, state)
        # A rate changed during training (ReduceLROnPlateau...) is optimizer state, as in Keras.
        saved_lr = _saved_learning_rate(info)
        if (state is not None and isinstance(saved_lr, (int, float)) and not isinstance(saved_lr, bool)
                and not callable(model.optimizer._learning_rate)):
            model.optimizer.learning_rate = float(saved_lr)
    return meta


def _saved_learning_rate(info):
    optimizer = info.get("optimizer") if isinstance(info, dict) else None
    config = optimizer.get("config") if isinstance(optimizer, dict) else None
    return config.get("learning_rate") if isinstance(config, dict) else None
