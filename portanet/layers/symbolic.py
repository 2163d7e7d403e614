"""Symbolic tensors: what ``pn.Input`` returns and what layers return when called on one.

Calling a layer on a ``KerasTensor`` builds the layer for that shape and records a
``Node`` (layer, input tensors, output tensors). ``pn.Model(inputs, outputs)`` walks
these nodes back from its outputs to find the graph it runs.

A symbolic tensor's ``_keras_mask`` (Keras's attribute) is the mask it carries: found on
first use by running the producing layer's ``compute_mask`` on probe arrays of the input
shapes (and masks), as Keras computes it symbolically in ``Layer.__call__``.
"""

import contextvars

from .. import backend as _backend
from .. import ops as _ops_module

# The symbolic inputs of the layer call in progress, so a call() layer's output-shape probe
# can pass their masks to a call() that takes ``mask`` (Keras's compute_output_spec does).
CALL_INPUTS = contextvars.ContextVar("portanet_symbolic_call_inputs", default=None)


class KerasTensor:
    """A placeholder with a shape (batch axis first, None for unknown) and a dtype."""

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node      # the Node that produced this tensor
        self.index = index    # which output of that node

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node index in the layer's inbound nodes, output index), as Keras."""
        layer = self.node.layer
        nodes = layer._inbound_nodes
        index = next((i for i, n in enumerate(nodes) if n is self.node), 0)
        return layer, index, self.index

    @property
    def _keras_mask(self):
        """The mask this tensor carries, as Keras: a bool KerasTensor, or None."""
        if "_mask" not in self.__dict__:
            self._mask = _symbolic_mask(self)
        return self._mask

    def __repr__(self):
        # Keras's form (portanet has no sparse or ragged tensors).
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, "
                f"ragged=False, name={self.name}>")

    # Operators build op nodes, as Keras 3's KerasTensor (``x + y`` is ``ops.add(x, y)``);
    # portanet.layers.op_layer handles ops on symbolic tensors. == and != stay identity.
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):
        return _ops().true_divide(self, other)

    def __rtruediv__(self, other):
        return _ops().true_divide(other, self)

    def __floordiv__(self, other):
        return _ops().floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops().floor_divide(other, self)

    def __mod__(self, other):
        return _ops().mod(self, other)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().absolute(self)

    def __lt__(self, other):
        return _ops().less(self, other)

    def __le__(self, other):
        return _ops().less_equal(self, other)

    def __gt__(self, other):
        return _ops().greater(self, other)

    def __ge__(self, other):
        return _ops().greater_equal(self, other)

    def __getitem__(self, key):
        return _ops().get_item(self, key)

    def __iter__(self):
        # Without this, Python would iterate through __getitem__(0), (1), ... (Keras refuses too).
        raise TypeError("Iterating over a symbolic KerasTensor is not supported; index it "
                        "(x[:, 0]) or use ops.unstack(x)")

    __hash__ = object.__hash__


_PROBE_SIZES = (2, 3)


def probe_arrays(backend, tensors, size, dtype=None):
    """Zeros for KerasTensors (or ones of bool for masks when ``dtype="bool"``), each unknown
    axis of length ``size``."""
    xp = backend.xp
    out = []
    for t in tensors:
        shape = tuple(size if s is None else int(s) for s in t.shape)
        if dtype == "bool":
            out.append(xp.ones(shape, dtype=xp.bool, device=backend.device))
        else:
            out.append(xp.zeros(shape, dtype=backend.dtype(str(t.dtype)), device=backend.device))
    return out


def input_masks(tensors):
    """The masks the symbolic ``tensors`` carry (a list, None where none), or None if none."""
    masks = [t._keras_mask if isinstance(t, KerasTensor) else None for t in tensors]
    return masks if any(m is not None for m in masks) else None


def _symbolic_mask(tensor):
    node = tensor.node
    if node is None or node.is_input:
        return None
    layer = node.layer
    inputs = node.primary_tensors      # a call() layer's other tensor arguments carry no mask
    masks = input_masks(inputs)
    backend = layer.backend or _backend.current()
    shapes = []
    for size in _PROBE_SIZES:
        arrays = probe_arrays(backend, inputs, size)
        probe_masks = None
        if masks is not None:
            probe_masks = [None if m is None else probe_arrays(backend, [m], size, "bool")[0]
                           for m in masks]
        if not node.multi_input:
            arrays = arrays[0]
            probe_masks = None if probe_masks is None else probe_masks[0]
        if hasattr(layer, "_last_masks"):
            # A model's output masks are those its inner graph produced when it ran.
            layer.run(arrays, training=False, mask=probe_masks)
        out = layer.compute_mask(arrays, probe_masks)
        if isinstance(out, (list, tuple)):
            out = out[tensor.index] if tensor.index < len(out) else None
        if out is None:
            return None
        shapes.append(tuple(out.shape))
    shape = tuple(a if a == b else None for a, b in zip(*shapes))
    return KerasTensor(shape, "bool", name=f"{tensor.name}_mask")


def _ops():
    return _ops_module


class Node:
    """One call of a layer on symbolic tensors."""

    def __init__(self, layer, inputs, outputs, kwargs=None):
        self.layer = layer
        self.inputs = inputs          # a KerasTensor or a list of them, as the layer took
        self.outputs = outputs        # a list of KerasTensors
        # Call arguments besides the inputs: a built-in layer's _node_call_kwargs (its run
        # takes them), a call() layer's other arguments (tensors among them are node inputs).
        self.kwargs = kwargs or {}
        self.positional = ()          # the kwargs names that were given by position

    @property
    def input_tensors(self):
        """Every symbolic tensor the call took: the inputs, then those given as arguments
        of ``call()`` (``targets=...``), as Keras's ``Node.input_tensors``."""
        return self.primary_tensors + self.kwarg_tensors

    @property
    def primary_tensors(self):
        """The tensors of the ``inputs`` argument."""
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]

    @property
    def kwarg_tensors(self):
        return [v for v in self.kwargs.values() if isinstance(v, KerasTensor)]

    @property
    def is_input(self):
        """True for the node of an InputLayer (it has no inbound tensors)."""
        return isinstance(self.inputs, (list, tuple)) and not self.inputs

    @property
    def multi_input(self):
        """Whether the layer was called on a list (merge layers, multi-input models)."""
        return isinstance(self.inputs, (list, tuple))


def is_symbolic(x):
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)) and x and all(isinstance(t, KerasTensor) for t in x):
        return True
    if isinstance(x, dict) and x and all(isinstance(t, KerasTensor) for t in x.values()):
        return True
    return False


def call_symbolic(layer, inputs, training=None, mask=None, **kwargs):
    """Build ``layer`` for the symbolic inputs' shapes and return symbolic outputs."""
    if isinstance(inputs, dict):
        # A model with named inputs takes them in its own order, whatever the dict's order.
        keys = getattr(layer, "_input_keys", None)
        if keys:
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(f"{layer.name}: missing input(s) {missing}; expected keys {list(keys)}")
            inputs = [inputs[k] for k in keys]
        else:
            inputs = list(inputs.values())
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    if isinstance(inputs, (list, tuple)):
        shapes = [t.shape for t in inputs]
        dtype = inputs[0].dtype
    else:
        shapes = inputs.shape
        dtype = inputs.dtype
    # Call arguments that choose what a call computes (ReversibleEmbedding's reverse=True):
    # kept in the node (its config's "kwargs") and given to compute_output_shape and run.
    call_kwargs = {k: kwargs.pop(k) for k in getattr(layer, "_node_call_kwargs", ()) if kwargs.get(k)}
    if kwargs:
        _check_call_kwargs(layer, kwargs)
    layer._maybe_build(shapes)
    token = CALL_INPUTS.set(inputs)
    try:
        out_shape = layer._symbolic_output_shape(shapes, kwargs, call_kwargs)
    finally:
        CALL_INPUTS.reset(token)
    # A floating layer's outputs are in its compute dtype (float16 under "mixed_float16").
    compute = getattr(layer, "_autocast_dtype", None) or layer.dtype
    out_dtype = getattr(layer, "output_dtype", None) or (compute if "float" in str(compute) else dtype)
    node = Node(layer, inputs, [], {**call_kwargs, **kwargs})
    multi = isinstance(out_shape, list)
    shapes_out = out_shape if multi else [out_shape]
    for i, s in enumerate(shapes_out):
        node.outputs.append(KerasTensor(s, out_dtype, name=layer.name, node=node, index=i))
    layer._inbound_nodes.append(node)
    return node.outputs if multi else node.outputs[0]


def _check_call_kwargs(layer, kwargs):
    """Arguments of a functional call besides the inputs: a ``call()`` layer takes them
    (symbolic tensors become inputs of the node; other values are passed as given)."""
    if not layer._uses_call():
        raise TypeError(f"{layer.name}: unexpected keyword argument(s) {sorted(kwargs)}")
    for name, value in kwargs.items():
        if isinstance(value, (list, tuple, dict)) and is_symbolic(value):
            raise TypeError(f"layer {layer.name!r}: argument {name}= holds a list of symbolic "
                            "tensors; pass each tensor as its own argument")


def _own_output_shape(layer):
    """Whether the layer's class defines compute_output_shape (Layer's is not counted)."""
    for klass in type(layer).__mro__:
        if "_is_layer_base" in klass.__dict__:
            return False
        if "compute_output_shape" in klass.__dict__:
            return True
    return False
