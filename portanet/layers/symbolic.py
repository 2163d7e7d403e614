"""Symbolic tensors: what ``pn.Input`` returns and what layers return when called on one.

Calling a layer on a ``KerasTensor`` builds the layer for that shape and records a
``Node`` (layer, input tensors, output tensors). ``pn.Model(inputs, outputs)`` walks
these nodes back from its outputs to find the graph it runs.
"""


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

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"


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
        inputs = list(inputs.values())
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
    out_dtype = getattr(layer, "output_dtype", None) or (layer.dtype if "float" in str(layer.dtype) else dtype)
    node = Node(layer, inputs, [])
    multi = isinstance(out_shape, list)
    shapes_out = out_shape if multi else [out_shape]
    for i, s in enumerate(shapes_out):
        node.outputs.append(KerasTensor(s, out_dtype, name=layer.name, node=node, index=i))
    layer._inbound_nodes.append(node)
    return node.outputs if multi else node.outputs[0]
