"""Symbolic tensors: what ``pn.Input`` returns and what layers return when called on one.

Calling a layer on a ``KerasTensor`` builds the layer for that shape and records a
``Node`` (layer, input tensors, output tensors). ``pn.Model(inputs, outputs)`` walks
these nodes back from its outputs to find the graph it runs.
"""

from .. import ops as _ops_module
from . import traced as _traced


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

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"

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


def _ops():
    return _ops_module


class Node:
    """One call of a layer on symbolic tensors."""

    def __init__(self, layer, inputs, outputs, kwargs=None):
        self.layer = layer
        self.inputs = inputs          # a KerasTensor or a list of them, as the layer took
        self.outputs = outputs        # a list of KerasTensors
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
    if kwargs:
        _check_call_kwargs(layer, kwargs)
    layer._maybe_build(shapes)
    if kwargs and not _own_output_shape(layer):
        # call() takes more than its inputs (an endpoint layer's targets): probe it with all.
        out_shape = _traced.infer_output_shape(layer, shapes, kwargs)
    else:
        out_shape = layer.compute_output_shape(shapes)
    # A floating layer's outputs are in its compute dtype (float16 under "mixed_float16").
    compute = getattr(layer, "_autocast_dtype", None) or layer.dtype
    out_dtype = getattr(layer, "output_dtype", None) or (compute if "float" in str(compute) else dtype)
    node = Node(layer, inputs, [], kwargs)
    multi = isinstance(out_shape, list)
    shapes_out = out_shape if multi else [out_shape]
    for i, s in enumerate(shapes_out):
        node.outputs.append(KerasTensor(s, out_dtype, name=layer.name, node=node, index=i))
    layer._inbound_nodes.append(node)
    return node.outputs if multi else node.outputs[0]


def _check_call_kwargs(layer, kwargs):
    """Arguments of a functional call besides the inputs: a ``call()`` layer takes them
    (symbolic tensors become inputs of the node; other values are passed as given)."""
    if not _traced.uses_call(layer):
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
