"""Small ``keras.utils`` functions: ``is_keras_tensor``, ``get_source_inputs`` (the ``Input``
tensors a symbolic tensor depends on) and ``standardize_dtype`` (a dtype's canonical name)."""

from ..config import floatx
from ..layers.symbolic import KerasTensor

# Keras's dtypes.ALLOWED_DTYPES.
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64",
                  "int8", "int16", "int32", "int64", "bfloat16", "bool", "string",
                  "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
# Keras's PYTHON_DTYPES_MAP outside TensorFlow.
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32",
                  complex: "complex64"}


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor (what ``pn.Input`` and layers called on it return)."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The list of ``Input`` tensors that ``tensor`` is computed from, in first-seen order
    (Keras's ``get_source_inputs``); a value that is not a symbolic tensor is returned as is.
    """
    if not isinstance(tensor, KerasTensor):
        return tensor
    node = tensor.node
    if node is None or not node.layer._inbound_nodes:
        return [tensor]
    if node.is_input:
        return list(node.outputs)
    sources = []
    for t in node.input_tensors:
        for x in get_source_inputs(t):
            if all(x is not s for s in sources):
                sources.append(x)
    return sources


def standardize_dtype(dtype):
    """A dtype's canonical name, as ``keras.utils.standardize_dtype``: None is floatx;
    Python ``int``/``float``/``bool`` are "int32"/"float32"/"bool"; NumPy, array-API and
    torch dtypes (and strings) give their name; anything else raises ``ValueError``."""
    if dtype is None:
        return floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype) if isinstance(dtype, (type, str)) else dtype
    if hasattr(dtype, "name") and isinstance(dtype.name, str):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif not isinstance(dtype, str):
        dtype = str(dtype)
        if "torch" in dtype or "jax.numpy" in dtype or "array_api_strict" in dtype:
            dtype = dtype.split(".")[-1].strip("'>)")
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype
