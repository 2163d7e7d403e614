"""Symbolic tensors: what ``pn.Input`` returns and what layers return when called on one.

Calling a layer on a ``KerasTensor`` builds the layer for that shape and records a
``Node`` (layer, input tensors, output tensors). ``pn.Model(inputs, outputs)`` walks
these nodes back from its outputs to find the graph it runs.
"""

from .. import ops as _ops_module


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

    @property
    def input_tensors(self):
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]

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
        raise TypeError(f"{layer.name}: unexpected keyword argument(s) {sorted(kwargs)}")
    layer._maybe_build(shapes)
    out_shape = layer.compute_output_shape(shapes)
    # A floating layer's outputs are in its compute dtype (float16 under "mixed_float16").
    compute = getattr(layer, "_autocast_dtype", None) or layer.dtype
    out_dtype = getattr(layer, "output_dtype", None) or (compute if "float" in str(compute) else dtype)
    node = Node(layer, inputs, [])
    multi = isinstance(out_shape, list)
    shapes_out = out_shape if multi else [out_shape]
    for i, s in enumerate(shapes_out):
        node.outputs.append(KerasTensor(s, out_dtype, name=layer.name, node=node, index=i))
    layer._inbound_nodes.append(node)
    return node.outputs if multi else node.outputs[0]
