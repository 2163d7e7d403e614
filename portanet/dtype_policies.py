"""Dtype policies (``keras.dtype_policies``), as Keras 3.15.1's ``keras/src/dtype_policies/``.

A policy names two dtypes: ``variable_dtype`` (what a layer's weights are stored in) and
``compute_dtype`` (what its inputs are cast to and its arithmetic runs in). ``"float32"``
or ``"float64"`` set both; ``"mixed_float16"`` computes in float16 with float32 weights,
``"mixed_bfloat16"`` in bfloat16 (only on a backend whose array library has bfloat16:
NumPy and array_api_strict have none, and array_api_strict has no float16 either; a
layer then raises a ValueError naming the backend when it is built).

The global policy (``pn.config.set_dtype_policy`` / ``pn.mixed_precision.set_global_policy``)
is what a layer created without ``dtype=`` gets. Until one is set it follows
``pn.config.floatx()`` (Keras fixes it at floatx's value on first use; portanet keeps
following ``set_floatx``, which its float64 gradient checks rely on).

The quantized policies (``QuantizedDTypePolicy``, ``QuantizedFloat8DTypePolicy``,
``Int4DTypePolicy``, ``GPTQDTypePolicy``, ``AWQDTypePolicy``) have Keras's constructors,
names, equality and configs, so Keras configs that name them parse; portanet has no
quantized kernels, so a layer given one raises a ValueError saying so.

This module sits at the bottom of the import levels (it imports only ``config``); layers
read the policy of each layer from here. ``config.dtype_policy`` / ``set_dtype_policy``
are the functions below (registered into ``config`` at import).
"""

import contextlib
import re
from collections.abc import MutableMapping

from . import config as _config

QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")

# Keras's ALLOWED_DTYPES (keras/src/backend/common/dtypes.py).
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64",
                  "int8", "int16", "int32", "int64", "bfloat16", "bool", "string",
                  "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32",
                  complex: "complex64"}
_FLOAT_DTYPES = ("float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2")

# The global policy; None means "DTypePolicy(config.floatx())".
_GLOBAL_POLICY = None


def standardize_dtype(dtype):
    """A dtype name in Keras's spelling ("float32", "int64", "string"...) from a name, a
    Python type or an array library's dtype object; ValueError for anything else."""
    if dtype is None:
        return _config.floatx()
    try:
        dtype = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:  # unhashable
        pass
    if not isinstance(dtype, str):
        if hasattr(dtype, "name") and isinstance(dtype.name, str):
            dtype = dtype.name
        elif hasattr(dtype, "__name__"):
            dtype = dtype.__name__
        else:
            dtype = str(dtype).split(".")[-1].strip("'>")
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}; expected one of {ALLOWED_DTYPES}")
    return dtype


def is_float_dtype(dtype):
    return standardize_dtype(dtype) in _FLOAT_DTYPES


class DTypePolicy:
    """A dtype policy for a layer: its compute dtype and its variable dtype.

    Args:
        name: the policy name. A dtype name (``"float32"``, ``"float64"``...) sets both
            dtypes; ``"mixed_float16"`` / ``"mixed_bfloat16"`` compute in float16 /
            bfloat16 with float32 variables. None: the global policy's name.

    >>> pn.DTypePolicy("mixed_float16")
    <DTypePolicy "mixed_float16">
    """

    def __init__(self, name=None):
        if name is None:
            name = dtype_policy().name
        self._name = name
        self._compute_dtype, self._variable_dtype = self._parse_name(name)
        self._quantization_mode = None

    def _parse_name(self, name):
        """``(compute_dtype, variable_dtype)`` of a policy name."""
        if not isinstance(name, str):
            raise TypeError("'name' must be a string, such as 'mixed_float16'. "
                            f"Received: name={name} (of type {type(name)})")
        if name == "mixed_float16":
            return "float16", "float32"
        if name == "mixed_bfloat16":
            return "bfloat16", "float32"
        try:
            dtype = standardize_dtype(name)
        except ValueError:
            raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid "
                             "policies include 'mixed_float16', 'mixed_bfloat16', and the name of "
                             "any float dtype such as 'float32'.") from None
        return dtype, dtype

    @property
    def variable_dtype(self):
        """The dtype layers create their variables in."""
        return self._variable_dtype

    @property
    def compute_dtype(self):
        """The dtype layers cast their floating inputs to and compute in."""
        return self._compute_dtype

    @property
    def name(self):
        return self._name

    @property
    def quantization_mode(self):
        """The quantization mode ("int8", ...) or None for a float policy."""
        return self._quantization_mode

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        class_name = type(self).__name__
        if class_name == "FloatDTypePolicy":
            class_name = "DTypePolicy"
        return f'<{class_name} "{self._name}">'

    def __eq__(self, other):
        if type(self) in (DTypePolicy, FloatDTypePolicy):
            if type(other) not in (DTypePolicy, FloatDTypePolicy):
                return False
        elif type(other) is not type(self):
            return False
        return self._name == other._name

    def __hash__(self):
        return hash((type(self).__name__, self._name))


class FloatDTypePolicy(DTypePolicy):
    """An alias of ``DTypePolicy`` (Keras keeps the name for old configs)."""


class QuantizedDTypePolicy(DTypePolicy):
    """A quantized policy ``f"{mode}_from_{source_name}"`` (e.g. ``"int8_from_float32"``).

    Keras's constructor, name, equality and config, so configs naming it load; portanet
    has no quantized kernels, so a layer refuses it (ValueError) rather than compute
    something else.
    """

    def __init__(self, mode, source_name=None):
        if source_name is None:
            source_name = dtype_policy().name
        name = f"{mode}_from_{source_name}"
        self._compute_dtype, self._variable_dtype = self._parse_name(source_name)
        self._check_quantization_mode(mode, self._compute_dtype)
        self._name = name
        self._source_name = source_name
        self._quantization_mode = mode

    def __eq__(self, other):
        if super().__eq__(other) is False:
            return False
        return (self._quantization_mode == other._quantization_mode
                and self._source_name == other._source_name)

    __hash__ = DTypePolicy.__hash__

    def get_config(self):
        return {"mode": self._quantization_mode, "source_name": self._source_name}

    def _check_quantization_mode(self, mode, compute_dtype):
        if mode not in QUANTIZATION_MODES:
            raise ValueError(f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. "
                             f"Received: mode={mode}")
        if compute_dtype == "float16" and mode == "int8":
            raise ValueError(f"Quantization mode='{mode}' doesn't work well with "
                             "compute_dtype='float16'.")


class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    """Keras's float8 training policy (``"float8_from_<source>"``); see QuantizedDTypePolicy."""

    default_amax_history_length = 1024

    def __init__(self, mode, source_name=None, amax_history_length=1024):
        super().__init__(mode=mode, source_name=source_name)
        if not isinstance(amax_history_length, int) or isinstance(amax_history_length, bool):
            raise TypeError("`amax_history_length` must be an integer. "
                            f"Received: amax_history_length={amax_history_length}")
        self._amax_history_length = amax_history_length

    @property
    def amax_history_length(self):
        return self._amax_history_length

    def __eq__(self, other):
        if super().__eq__(other) is False:
            return False
        return self._amax_history_length == other._amax_history_length

    __hash__ = DTypePolicy.__hash__

    def get_config(self):
        config = super().get_config()
        config.update({"amax_history_length": self.amax_history_length})
        return config


def _mode_parts(cls_name, mode, expected_format, count):
    parts = mode.split("/") if isinstance(mode, str) else []
    if len(parts) != count or parts[0] != expected_format[1:].split("/")[0]:
        raise ValueError(f"Invalid mode for {cls_name}. Expected format {expected_format}, but "
                         f"got '{mode}'.")
    try:
        return [int(p) for p in parts[1:]]
    except ValueError:
        raise ValueError(f"Invalid mode for {cls_name}. The sizes must be integers. Expected "
                         f"format {expected_format}, but got '{mode}'.") from None


class Int4DTypePolicy(QuantizedDTypePolicy):
    """int4 sub-channel quantization, ``mode="int4/<block_size>"`` (-1: per channel)."""

    def __init__(self, mode, source_name=None):
        (block_size,) = _mode_parts("Int4DTypePolicy", mode, "'int4/<block_size>'", 2)
        if block_size < -1 or block_size == 0:
            raise ValueError("Invalid block_size in mode. Supported values are -1 (per-channel) or "
                             f"a positive integer (sub-channel), but got {block_size} from '{mode}'.")
        super().__init__(mode="int4", source_name=source_name)
        self._name = f"{mode}_from_{source_name}"
        self.mode = "int4"
        self.block_size = block_size

    def __eq__(self, other):
        if super().__eq__(other) is False:
            return False
        return self.block_size == other.block_size

    __hash__ = DTypePolicy.__hash__

    def get_config(self):
        config = super().get_config()
        config.update({"mode": f"{self.mode}/{self.block_size}"})
        return config


class _BitsGroupPolicy(QuantizedDTypePolicy):
    """GPTQ/AWQ: ``mode="<method>/<weight_bits>/<group_size>"``, the two share parsing,
    equality and config (their Keras classes repeat them)."""

    _METHOD = None
    _PER = None

    def __init__(self, mode, source_name=None):
        cls = type(self).__name__
        weight_bits, group_size = _mode_parts(cls, mode, f"'{self._METHOD}/<weight_bits>/<group_size>'", 3)
        self._check_bits(weight_bits, mode)
        if group_size < -1 or group_size == 0:
            raise ValueError(f"Invalid group_size in mode. Supported values are -1 ({self._PER}) "
                             f"or a positive integer, but got {group_size} from '{mode}'.")
        super().__init__(mode=self._METHOD, source_name=source_name)
        self._name = f"{mode}_from_{source_name}"
        self.mode = self._METHOD
        self.weight_bits = weight_bits
        self.group_size = group_size

    def __eq__(self, other):
        if super().__eq__(other) is False:
            return False
        return self.weight_bits == other.weight_bits and self.group_size == other.group_size

    __hash__ = DTypePolicy.__hash__

    def get_config(self):
        config = super().get_config()
        config.update({"mode": f"{self.mode}/{self.weight_bits}/{self.group_size}"})
        return config


class GPTQDTypePolicy(_BitsGroupPolicy):
    """GPTQ quantization, ``mode="gptq/<weight_bits>/<group_size>"``."""

    _METHOD, _PER = "gptq", "whole-tensor"

    @staticmethod
    def _check_bits(weight_bits, mode):
        if weight_bits not in (2, 3, 4, 8):
            raise ValueError("Invalid weight_bits in mode. Supported values are 2, 3, 4, and 8, "
                             f"but got {weight_bits} from '{mode}'.")


class AWQDTypePolicy(_BitsGroupPolicy):
    """AWQ quantization, ``mode="awq/4/<group_size>"`` (AWQ supports 4 bits only)."""

    _METHOD, _PER = "awq", "per-channel"

    @staticmethod
    def _check_bits(weight_bits, mode):
        if weight_bits != 4:
            raise ValueError("Invalid weight_bits in mode. AWQ only supports 4-bit quantization, "
                             f"but got {weight_bits} from '{mode}'.")


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """A mapping of layer paths (or regular expressions matched in full) to policies.

    Lookup: an exact key first, then the one key that ``re.fullmatch``es the path (two
    matching keys are a ValueError), else ``default_policy``. Its own dtypes are the
    default policy's.

    Args:
        default_policy: the policy of unmatched paths; None: the global policy.
        policy_map: an optional dict of path -> policy.
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. "
                            f"Received: policy_map={policy_map} of type {type(policy_map)}")
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy)
        self._policy_map = policy_map or dict()

    @property
    def name(self):
        return f"map_{self.default_policy._name}"

    @property
    def default_policy(self):
        return get(self._default_policy)

    @property
    def variable_dtype(self):
        return self.default_policy.variable_dtype

    @property
    def compute_dtype(self):
        return self.default_policy.compute_dtype

    @property
    def quantization_mode(self):
        return self.default_policy.quantization_mode

    def __getitem__(self, key):
        if key in self._policy_map:
            return self._policy_map[key]
        matching = [p for p in self._policy_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(f"Path '{key}' matches multiple dtype policy specification keys: "
                             f"{matching}. Please make sure each path only matches at most one "
                             "dtype policy specification key in the DTypePolicyMap.")
        if matching:
            return self._policy_map[matching[0]]
        return self.default_policy

    def __setitem__(self, key, policy):
        if key in self._policy_map:
            raise ValueError(f"{key} already exist in the DTypePolicyMap with value "
                             f"{self._policy_map[key]}. Please make sure to not use duplicated keys.")
        try:
            policy = get(policy)
        except Exception:
            raise ValueError("Cannot interpret the assigned value by `keras.dtype_policies.get`. "
                             f"Received: {policy} of type {type(policy)}") from None
        self._policy_map[key] = policy

    def __delitem__(self, key):
        return self._policy_map.pop(key)

    def __contains__(self, key):
        return key in self._policy_map

    def __len__(self):
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def get_config(self):
        # As Keras: with default_policy=None the entries are written without their source
        # name (None), so they follow the global policy when loaded.
        entries = {}
        for key, policy in self._policy_map.items():
            entry = serialize(policy)
            if self._default_policy_arg is None:
                entry = dict(entry, config=dict(entry["config"]))
                if isinstance(policy, QuantizedDTypePolicy):
                    entry["config"]["source_name"] = None
                else:
                    entry["config"]["name"] = None
            entries[key] = entry
        return {"default_policy": self._default_policy_arg, "policy_map": entries}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        entries = config.get("policy_map") or {}
        config["policy_map"] = {k: deserialize(v, custom_objects) for k, v in entries.items()}
        return cls(**config)

    def __repr__(self):
        default = self._default_policy.name if self._default_policy is not None else None
        mapping = [(k, v.name) for k, v in self._policy_map.items()]
        return (f"<DTypePolicyMap at {hex(id(self))} default_policy={default}, "
                f"mapping={mapping}>")


ALL_OBJECTS = (AWQDTypePolicy, DTypePolicy, FloatDTypePolicy, QuantizedDTypePolicy,
               QuantizedFloat8DTypePolicy, DTypePolicyMap, GPTQDTypePolicy, Int4DTypePolicy)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}


def serialize(dtype_policy):
    """Keras's serialized form: ``{"module", "class_name", "config", "registered_name"}``
    (module "keras" for DTypePolicy / FloatDTypePolicy, "keras.dtype_policies" otherwise)."""
    if not isinstance(dtype_policy, DTypePolicy):
        raise TypeError(f"serialize: dtype_policy={dtype_policy!r}; expected a DTypePolicy")
    cls = type(dtype_policy)
    module = "keras" if cls in (DTypePolicy, FloatDTypePolicy) else "keras.dtype_policies"
    config = dtype_policy.get_config()
    if isinstance(config.get("policy_map"), dict) or isinstance(config.get("default_policy"), DTypePolicy):
        config = dict(config)
        if isinstance(config.get("default_policy"), DTypePolicy):
            config["default_policy"] = serialize(config["default_policy"])
    return {"module": module, "class_name": cls.__name__, "config": config,
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """A policy from ``serialize``'s form (or the short ``{"class_name", "config"}``)."""
    if isinstance(config, DTypePolicy):
        return config
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: config={config!r}; expected a dict with 'class_name' and "
                         "'config' (as dtype_policies.serialize writes)")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(name)
    if cls is None:
        raise ValueError(f"deserialize: unknown dtype policy class_name={name!r}; expected one of "
                         f"{sorted(ALL_OBJECTS_DICT)}")
    inner = dict(config.get("config") or {})
    if cls is DTypePolicyMap:
        if isinstance(inner.get("default_policy"), dict):
            inner["default_policy"] = deserialize(inner["default_policy"], custom_objects)
        return DTypePolicyMap.from_config(inner, custom_objects)
    return cls.from_config(inner)


def get(identifier):
    """A policy from None (the global policy), a name (``"mixed_float16"``,
    ``"int8_from_float32"``), a config dict or a DTypePolicy (returned as is)."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.startswith(QUANTIZATION_MODES):
            return _get_quantized_dtype_policy_by_str(identifier)
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(standardize_dtype(identifier))
    except (ValueError, TypeError):
        raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance of "
                         f"DTypePolicy. Received: dtype={identifier}") from None


def set_dtype_policy(policy):
    """Set the global dtype policy (a name such as ``"mixed_float16"`` or a DTypePolicy).

    Layers created afterwards without ``dtype=`` use it."""
    global _GLOBAL_POLICY
    if not isinstance(policy, DTypePolicy):
        if isinstance(policy, str):
            if policy.startswith(QUANTIZATION_MODES):
                policy = _get_quantized_dtype_policy_by_str(policy)
            else:
                policy = DTypePolicy(policy)
        else:
            raise ValueError("Invalid `policy` argument. Expected the string name of a policy "
                             "(such as 'mixed_float16') or a `DTypePolicy` instance. "
                             f"Received: policy={policy} (of type {type(policy)})")
    _GLOBAL_POLICY = policy


def clear_global_policy():
    """Forget the global policy (``pn.utils.clear_session`` calls this, as Keras's resets it):
    layers again follow ``floatx()``."""
    global _GLOBAL_POLICY
    _GLOBAL_POLICY = None


def dtype_policy():
    """The global dtype policy (``DTypePolicy(floatx())`` until one is set)."""
    policy = _GLOBAL_POLICY
    if policy is None:
        return _floatx_policy(_config.floatx())
    return policy


_FLOATX_POLICIES = {}


def _floatx_policy(name):
    policy = _FLOATX_POLICIES.get(name)
    if policy is None:
        policy = _FLOATX_POLICIES[name] = DTypePolicy(name)
    return policy


def _get_quantized_dtype_policy_by_str(policy):
    if not isinstance(policy, str):
        raise TypeError(f"`policy` must be a string. Received: policy={policy}")
    if not policy.startswith(QUANTIZATION_MODES):
        raise ValueError("`policy` is incompatible with the current supported quantization.")
    split_name = policy.split("_from_")
    if len(split_name) != 2:
        raise ValueError("Cannot convert `policy` into a valid pair (`mode`, `source_name`) to "
                         f"instantiate `QuantizedDTypePolicy`. Received: policy={policy}")
    mode, source_name = split_name
    if policy.startswith("int8"):
        return QuantizedDTypePolicy(mode, source_name)
    if policy.startswith("int4"):
        if "/" in mode:
            return Int4DTypePolicy(mode, source_name)
        return QuantizedDTypePolicy(mode, source_name)
    if policy.startswith("gptq"):
        return GPTQDTypePolicy(mode, source_name)
    if policy.startswith("awq"):
        return AWQDTypePolicy(mode, source_name)
    return QuantizedFloat8DTypePolicy(mode, source_name)


__all__ = ["DTypePolicy", "FloatDTypePolicy", "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
           "Int4DTypePolicy", "GPTQDTypePolicy", "AWQDTypePolicy", "DTypePolicyMap", "get",
           "serialize", "deserialize"]


# The loss scale of the backward pass running now (the built-in training step with a
# LossScaleOptimizer or a loss_scale_factor), None otherwise. The closures that add a loss
# term's own gradient (activity regularization, a call() layer's add_loss) multiply it in,
# so that every part of the objective's gradient carries the scale the optimizer divides.
_LOSS_SCALE = None


def loss_scale():
    """The loss scale of the running backward pass, or None."""
    return _LOSS_SCALE


@contextlib.contextmanager
def loss_scale_scope(scale):
    """Run a backward pass of the loss multiplied by ``scale``."""
    global _LOSS_SCALE
    previous = _LOSS_SCALE
    _LOSS_SCALE = scale
    try:
        yield
    finally:
        _LOSS_SCALE = previous


_config._register_dtype_policy_functions(dtype_policy, set_dtype_policy)
