"""Ops on symbolic tensors: ``x + y``, ``ops.mean(x, axis=-1)``... with ``x`` from ``pn.Input``.

As in Keras 3, an op called on a ``KerasTensor`` records a node of the functional graph
whose operation is named after the op (``x + y`` gives an ``Add`` named ``add``,
``ops.expand_dims`` an ``ExpandDims``). Here that operation is an ``OpLayer``: a weightless
``call()`` layer whose ``call`` runs the op on the node's input tensors, so the op is
differentiated on the tape like any ``call()`` layer. ``Functional.layers`` leaves these
out (Keras lists only Layers there); the summary shows them, as Keras's does.
"""

import re

from .. import backend as _backend
from .. import ops as _ops
from .. import dtype_policies as _dtype_policies
from ..ops import symbolic_hook as _hook
from . import symbolic
from .base import Layer


class _Slot:
    """Where the i-th symbolic tensor goes in an op's arguments."""

    def __init__(self, index):
        self.index = index


def _template(value, tensors):
    if isinstance(value, symbolic.KerasTensor):
        tensors.append(value)
        return _Slot(len(tensors) - 1)
    if type(value) in (list, tuple):
        return type(value)(_template(e, tensors) for e in value)
    return value


def _fill(value, inputs):
    if isinstance(value, _Slot):
        return inputs[value.index]
    if type(value) in (list, tuple):
        return type(value)(_fill(e, inputs) for e in value)
    return value


def _class_name(op_name):
    return "".join(part.capitalize() for part in op_name.split("_"))


class OpLayer(Layer):
    """One op on symbolic tensors (see the module docstring); made by ``symbolic_op``."""

    _is_op_layer = True

    def __init__(self, op_name, fn, args, kwargs, name=None):
        super().__init__(name=name)
        self.op_name = op_name
        self._fn = fn
        self._args = args        # the op's arguments, symbolic tensors replaced by _Slot
        self._kwargs = kwargs
        self._out_dtype = None

    def call(self, inputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return self._fn(*_fill(self._args, inputs), **_fill(self._kwargs, inputs))

    @property
    def output_dtype(self):
        return self._out_dtype

    def compute_output_shape(self, input_shape):
        """Runs the op on zeros of the node's shapes and dtypes (unknown axes at two sizes;
        an axis that follows the probe is None), as Keras's ``compute_output_spec``."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        backend = self.backend or _backend.current()
        unknown = any(s is None for shape in shapes for s in shape)
        results = []
        for size in ((2, 3) if unknown else (None,)):
            arrays = [backend.xp.zeros(tuple(size if s is None else int(s) for s in shape),
                                       dtype=backend.dtype(t_dtype), device=backend.device)
                      for shape, t_dtype in zip(shapes, self._input_dtypes)]
            try:
                out = self.call(arrays)
            except Exception as e:
                raise ValueError(f"ops.{self.op_name} on symbolic tensors of shapes {shapes}: "
                                 f"{type(e).__name__}: {e}") from e
            results.append(out)
        first = results[0]
        if isinstance(first, (list, tuple)):
            self._out_dtype = _dtype_name(first[0].dtype)
            return [_merge(tuple(a.shape), tuple(b.shape)) for a, b in zip(first, results[-1])]
        if not hasattr(first, "shape"):
            raise TypeError(f"ops.{self.op_name} on symbolic tensors returned "
                            f"{type(first).__name__}; expected a tensor")
        self._out_dtype = _dtype_name(first.dtype)
        return _merge(tuple(first.shape), tuple(results[-1].shape))

    def get_config(self):
        return {"name": self.name}

    def keras_entry(self, tensor_configs):
        """This operation's entry in a functional config, as Keras writes an op's: its
        module and class, ``{"name"}``, and one inbound node whose ``args``/``kwargs`` are
        the op's arguments (``tensor_configs[i]`` for the i-th symbolic tensor; slices and
        Ellipsis in Keras's ``__slice__``/``__ellipsis__`` form)."""
        cls = type(self).__name__
        node = {"args": list(_encode(self._args, tensor_configs, self)),
                "kwargs": {k: _encode(v, tensor_configs, self) for k, v in self._kwargs.items()}}
        return {"module": keras_module(self.op_name), "class_name": cls,
                "config": {"name": self.name}, "registered_name": cls, "name": self.name,
                "inbound_nodes": [node]}


def _merge(a, b):
    return tuple(x if x == y else None for x, y in zip(a, b))


def _dtype_name(dtype):
    return _dtype_policies.standardize_dtype(dtype)


def _encode(value, tensor_configs, layer):
    if isinstance(value, _Slot):
        return tensor_configs[value.index]
    if type(value) in (list, tuple):
        return [_encode(e, tensor_configs, layer) for e in value]
    if isinstance(value, slice):
        return {"class_name": "__slice__",
                "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()           # a NumPy scalar
    raise ValueError(f"cannot write the config of operation {layer.name!r} (ops.{layer.op_name}): "
                     f"its argument {type(value).__name__} {str(value)[:60]} has no config form "
                     "(numbers, strings, None, slices and lists of them have)")


def decode_argument(value, resolve):
    """An op argument read from a config: ``resolve`` maps a ``__keras_tensor__`` entry to
    its tensor; ``__slice__`` and ``__ellipsis__`` entries become slice and Ellipsis."""
    if isinstance(value, dict):
        kind = value.get("class_name")
        if kind == "__keras_tensor__":
            return resolve(value)
        if kind == "__slice__":
            c = value.get("config") or {}
            return slice(c.get("start"), c.get("stop"), c.get("step"))
        if kind == "__ellipsis__":
            return Ellipsis
        raise ValueError(f"Functional.from_config: cannot read operation argument {str(value)[:200]}")
    if isinstance(value, list):
        return [decode_argument(e, resolve) for e in value]
    return value


# Keras's modules of the ops that are not in keras.src.ops.numpy (from Keras 3's sources).
_KERAS_OP_MODULES = {
    "keras.src.ops.nn": frozenset(
        "adaptive_average_pool adaptive_max_pool average_pool batch_normalization "
        "binary_crossentropy categorical_crossentropy celu conv conv_transpose ctc_decode "
        "ctc_loss depth_to_space depthwise_conv dot_product_attention elu fold gelu glu "
        "hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh layer_normalization leaky_relu "
        "log_sigmoid log_softmax max_pool moments multi_hot normalize one_hot polar psnr relu "
        "relu6 rms_normalization selu separable_conv sigmoid silu soft_shrink softmax softplus "
        "softsign space_to_depth sparse_categorical_crossentropy sparse_plus sparse_sigmoid "
        "sparsemax squareplus swish tanh_shrink threshold unfold".split()),
    "keras.src.ops.math": frozenset(
        "cdist erf erfc erfinv extract_sequences fft fft2 ifft2 in_top_k irfft istft logdet "
        "logsumexp rfft rsqrt segment_max segment_min segment_prod segment_sum stft top_k "
        "view_as_complex view_as_real".split()),
    "keras.src.ops.core": frozenset(
        "associative_scan cast cond convert_to_numpy convert_to_tensor custom_gradient dtype "
        "fori_loop is_tensor map saturate_cast scan scatter scatter_update shape slice "
        "slice_update stop_gradient switch unstack vectorized_map while_loop".split()),
    "keras.src.ops.linalg": frozenset(
        "cholesky cholesky_inverse det eig eigh inv jvp lstsq lu_factor matrix_rank norm pinv "
        "qr solve solve_triangular svd".split()),
    "keras.src.ops.image": frozenset(_ops.image.__all__),
}


def keras_module(op_name):
    """The Keras module that defines op ``op_name``'s operation class."""
    for module, names in _KERAS_OP_MODULES.items():
        if op_name in names:
            return module
    return "keras.src.ops.numpy"


def is_op_entry(entry):
    """Whether a functional config's layer entry is an operation (``x + y``), not a layer."""
    module = entry.get("module") if isinstance(entry, dict) else None
    return isinstance(module, str) and module.startswith("keras.src.ops.")


def op_function(entry):
    """(op name, the portanet op, the config's other arguments) of an operation entry."""
    cls = entry.get("class_name")
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", str(cls)).lower()
    namespace, names = (_ops.image, _ops.image.__all__) if entry.get("module") == "keras.src.ops.image" \
        else (_ops, _ops.ALL)
    fn = getattr(namespace, name, None) if name in names else None   # the public ops only
    if not isinstance(cls, str) or fn is None:
        raise ValueError(f"Functional.from_config: unknown operation {cls!r} "
                         f"(module {entry.get('module')!r}): no op ops.{name}")
    extra = {k: v for k, v in (entry.get("config") or {}).items() if k != "name"}
    return name, fn, extra


_classes = {}


def op_class(op_name):
    """The OpLayer subclass named as Keras names the op's operation (``add`` -> ``Add``)."""
    cls = _classes.get(op_name)
    if cls is None:
        cls = _classes[op_name] = type(_class_name(op_name), (OpLayer,), {"__module__": __name__})
    return cls


def symbolic_op(op_name, fn, args, kwargs):
    """The symbolic result of ``fn(*args, **kwargs)``: a node of the functional graph."""
    if op_name == "shape" and len(args) == 1 and not kwargs:
        return args[0].shape           # as Keras: a KerasTensor's static shape
    tensors = []
    targs = _template(tuple(args), tensors)
    tkwargs = {k: _template(v, tensors) for k, v in kwargs.items()}
    layer = op_class(op_name)(op_name, fn, targs, tkwargs)
    layer._input_dtypes = [t.dtype for t in tensors]
    out = layer(tensors)
    return tuple(out) if isinstance(out, list) else out


_hook.set_handler(symbolic_op, (symbolic.KerasTensor,))
