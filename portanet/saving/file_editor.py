"""``KerasFileEditor`` (keras.saving.KerasFileEditor): inspect, compare, edit and resave the
weights of a ``.keras`` or ``.weights.h5`` file, e.g. to adapt an old file to a changed model.

The file is read through the same checked HDF5 reader and zip reader as ``load_model``
(no links, no external storage, bounded zip members); weights are plain host arrays in a
nested dict shaped like the file (``editor.weights_dict["layers"]["dense"]["0"]``, the
``vars`` groups folded away, as Keras's editor does). ``save`` writes a ``.weights.h5`` file
atomically.
"""

import collections
import pprint

from ..backend import host_h5 as _h5
from . import keras_format as _kf
from ._archive import _atomic_write
from .safety import SafeZip


class KerasFileEditor:
    """Inspect and edit the weights of a Keras file.

    Args:
        filepath: a ``.keras`` or ``.weights.h5`` file.

    Example::

        editor = pn.saving.KerasFileEditor("my_model.weights.h5")
        editor.summary()                                  # the weights' structure
        editor.compare(model)                             # what does not fit the model
        editor.delete_object("layers/dense_2")
        editor.add_object("layers/einsum_dense", weights={"0": kernel, "1": bias})
        editor.resave_weights("edited.weights.h5")
    """

    def __init__(self, filepath):
        filepath = str(filepath)
        self.filepath = filepath
        self.metadata = None
        self.config = None
        self.model = None
        if filepath.endswith(".keras"):
            with SafeZip(filepath) as zf:
                self.config = zf.json(_kf._CONFIG)
                if _kf._METADATA in zf.names:
                    self.metadata = zf.json(_kf._METADATA)
                if _kf._WEIGHTS not in zf.names:
                    raise ValueError(f"KerasFileEditor: {filepath!r} has no {_kf._WEIGHTS!r}")
                source = zf.read(_kf._WEIGHTS)
            label = f"{filepath!r} ({_kf._WEIGHTS})"
        elif filepath.endswith(".weights.h5"):
            source, label = filepath, repr(filepath)
        else:
            raise ValueError("Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        with _h5.H5Reader(source, label) as reader:
            self.object_metadata = {}
            self.weights_dict = self._extract(reader, "", "")
        print(self._generate_filepath_info())
        if self.metadata is not None:
            print(self._generate_metadata_info())

    # ------------------------------------------------------------------ reading
    def _extract(self, reader, group, inner_path):
        attrs = reader.attrs(group)
        if attrs:
            self.object_metadata[inner_path] = attrs
        result = collections.OrderedDict()
        for key in reader.children(group):
            path = f"{group}/{key}" if group else key
            current = f"{inner_path}/{key}"
            if reader.is_group(path):
                children = reader.children(path)
                if not children:
                    continue
                if "vars" in children:
                    vars_path = f"{path}/vars"
                    if not reader.children(vars_path):
                        continue
                    result[key] = self._extract(reader, vars_path, current)
                else:
                    result[key] = self._extract(reader, path, current)
            elif reader.is_dataset(path):
                result[key] = reader.read(path)
        return result

    # ------------------------------------------------------------------ inspecting
    def summary(self):
        """Print the weight structure of the opened file."""
        self.weights_summary()

    def weights_summary(self):
        """Print the weight structure of the opened file (objects, weight shapes and dtypes)."""
        print("Weights structure")
        self._print_weights_structure(self.weights_dict, prefix=" " * 2)

    def _print_weights_structure(self, weights_dict, prefix="", inner_path="", is_first=True):
        items = list(weights_dict.items())
        for idx, (key, value) in enumerate(items):
            path = f"{inner_path}/{key}" if inner_path else key
            is_last = idx == len(items) - 1
            if is_first:
                is_first = False
                connector = "> "
            elif is_last:
                connector = "└─ "
            else:
                connector = "├─ "
            if isinstance(value, dict):
                label = f"{prefix}{connector}{key}"
                name = self.object_metadata.get(f"/{path}", {}).get("name")
                if name is not None:
                    label += f" ('{name}')"
                print(label)
                self._print_weights_structure(value, prefix + ("    " if is_last else "│   "), path,
                                              is_first=is_first)
            elif hasattr(value, "shape"):
                print(f"{prefix}{connector}{key}: shape={tuple(value.shape)}, dtype={value.dtype}")
            else:
                print(f"{prefix}{connector}{key}: {value}")

    def _generate_filepath_info(self):
        return f"Keras model file '{self.filepath}'"

    def _generate_config_info(self):
        return pprint.pformat(self.config)

    def _generate_metadata_info(self):
        return (f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                f"{self.metadata.get('date_saved')}")

    def compare(self, reference_model):
        """List every mismatch between the file and ``reference_model`` (objects or weights
        missing on either side, shapes that differ).

        Returns:
            ``{"status": "success" or "error", "error_count", "match_count"}``, as Keras.
        """
        print("Running comparison")
        ref_spec = _weight_spec(reference_model)
        checked = set()
        errors, matches = _compare(self.weights_dict, ref_spec, "", "saved file", "reference model", checked)
        more, _ = _compare(ref_spec, self.weights_dict, "", "reference model", "saved file", checked)
        errors += more
        print("─────────────────────")
        if errors == 0:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {matches} matching weight{'' if matches == 1 else 's'}")
        else:
            print(f"Found {errors} error{'' if errors == 1 else 's'}: saved file is not compatible with "
                  "the reference model")
        return {"status": "success" if errors == 0 else "error", "error_count": errors,
                "match_count": matches}

    # ------------------------------------------------------------------ editing
    def _edit_object(self, edit_fn, source_name, target_name=None):
        if target_name is not None and "/" in target_name:
            raise ValueError("Argument `target_name` should be a leaf name, not a full path name. "
                             f"Received: target_name='{target_name}'")
        if "/" in source_name:
            elements = source_name.split("/")
            node = self.weights_dict
            for e in elements[:-1]:
                if e not in node or not isinstance(node[e], dict):
                    raise ValueError(f"Path '{source_name}' not found in model.")
                node = node[e]
            if elements[-1] not in node:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit_fn(node, elements[-1], target_name)
            return
        occurrences = _count(self.weights_dict, source_name)
        if occurrences > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try passing a "
                             "complete path")
        if occurrences == 0:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             "`editor.weights_summary()` to list all objects.")

        def visit(node):
            for key in list(node):
                if isinstance(node.get(key), dict):
                    visit(node[key])
            if source_name in node:
                edit_fn(node, source_name, target_name)
        visit(self.weights_dict)

    def rename_object(self, object_name, new_name):
        """Rename an object (e.g. a layer): ``object_name`` a name or a path ("layers/dense_2")."""
        def rename(node, source, target):
            node[target] = node.pop(source)
        self._edit_object(rename, object_name, new_name)

    def delete_object(self, object_name):
        """Remove an object (e.g. a layer) and its weights."""
        def delete(node, source, target=None):
            node.pop(source)
        self._edit_object(delete, object_name)

    def add_object(self, object_path, weights):
        """Add an object at ``object_path`` (e.g. "layers/dense_2") with ``weights``
        ({"0": kernel, "1": bias}: host arrays)."""
        _check_weights(weights)
        if "/" in object_path:
            elements = object_path.split("/")
            node = self.weights_dict
            for e in elements[:-1]:
                if e not in node or not isinstance(node[e], dict):
                    raise ValueError(f"Path '{'/'.join(elements[:-1])}' not found in model.")
                node = node[e]
            node[elements[-1]] = dict(weights)
        else:
            self.weights_dict[object_path] = dict(weights)

    def delete_weight(self, object_name, weight_name):
        """Remove the weight ``weight_name`` (e.g. "0") from an object."""
        def delete_weight(node, source, target=None):
            if weight_name not in node[source]:
                raise ValueError(f"Weight {weight_name} not found in object {object_name}. Weights found: "
                                 f"{list(node[source].keys())}")
            node[source].pop(weight_name)
        self._edit_object(delete_weight, object_name)

    def add_weights(self, object_name, weights):
        """Add weights ({"2": array, ...}) to an existing object."""
        _check_weights(weights)

        def add(node, source, target=None):
            node[source].update(weights)
        self._edit_object(add, object_name)

    # ------------------------------------------------------------------ writing
    def save(self, filepath):
        """Write the edited weights to ``filepath`` (a ``.weights.h5`` file), atomically."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError("Invalid `filepath` argument: expected a `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        groups = []

        def collect(node, path):
            arrays = []
            for name, value in node.items():
                if isinstance(value, dict):
                    if value:
                        collect(value, f"{path}/{name}" if path else name)
                else:
                    arrays.append((name, _h5.host_array(value)))
            if arrays:
                groups.append((f"{path}/vars" if path else "vars", {}, arrays))
        collect(self.weights_dict, "")
        _atomic_write(filepath, _h5.h5_bytes(groups), raw=True)

    def resave_weights(self, filepath):
        """``save(filepath)``."""
        self.save(filepath)


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names (usually '0', "
                         "'1', etc.) and values are NumPy arrays. "
                         f"Received: type(weights)={type(weights)}")


def _count(node, name):
    total = 1 if name in node else 0
    for value in node.values():
        if isinstance(value, dict):
            total += _count(value, name)
    return total


def _weight_spec(model):
    """The nested {name: {weight name: array}} a model's ``.weights.h5`` would hold (the file
    portanet writes for it, ``vars`` folded away; the optimizer's too when compiled)."""
    spec = collections.OrderedDict()
    for path, _attrs, arrays in _kf._weights_groups(model, include_optimizer=True):
        if not arrays:
            continue
        parts = [p for p in path.split("/") if p and p != "vars"]
        node = spec
        for p in parts:
            node = node.setdefault(p, collections.OrderedDict())
        for name, array in arrays:
            node[name] = array
    return spec


def _compare(target, ref, inner_path, target_name, ref_name, checked):
    errors = matches = 0
    for key, ref_val in ref.items():
        path = f"{inner_path}/{key}"
        if path in checked:
            continue
        if key not in target:
            errors += 1
            checked.add(path)
            if isinstance(ref_val, dict):
                print(f"...Object {path} present in {ref_name}, missing from {target_name}")
                print(f"    In {ref_name}, {path} contains the following keys: {list(ref_val.keys())}")
            else:
                print(f"...Weight {path} present in {ref_name}, missing from {target_name}")
        elif isinstance(ref_val, dict):
            if not isinstance(target[key], dict):
                errors += 1
                checked.add(path)
                print(f"...Object {path} is an object in {ref_name} but a weight in {target_name}")
                continue
            e, m = _compare(target[key], ref_val, path, target_name, ref_name, checked)
            errors += e
            matches += m
        elif tuple(getattr(target[key], "shape", ())) != tuple(ref_val.shape):
            errors += 1
            checked.add(path)
            print(f"...Weight shape mismatch for {path}\n    In {ref_name}: shape={tuple(ref_val.shape)}\n"
                  f"    In {target_name}: shape={tuple(getattr(target[key], 'shape', ()))}")
        else:
            matches += 1
    return errors, matches
