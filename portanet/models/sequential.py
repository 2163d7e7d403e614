"""``Sequential``: a plain stack of layers, each with one input and one output."""

from .. import backend as _backend
from .. import layers as _layers
from ..layers.base import Layer, unique_name
from ..layers.core import InputLayer
from ..layers.symbolic import KerasTensor
from ..naming import custom_object_scope
from ..training.inputs import adjusted_shape, rank_adjustment
from .model import Model


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: list of layers; the first may be ``pn.Input(shape)`` (or an InputLayer),
            else the model is built on the first data it sees.
        name: model name.

    Example:
        >>> model = pn.Sequential([pn.Input((64,)), pn.layers.Dense(10, activation="softmax")])
    """

    _adjusts_input_rank = True   # as Keras's (its Sequential runs a Functional once built)

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._input_layer = None
        # As Keras: the layers are added first and the model is built once (one functional
        # graph, one "functional" name taken), not once per layer.
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._input_layer is not None and self._layers:
            self.build(self._input_layer.batch_shape)

    def add(self, layer, rebuild=True):
        """Append a layer (or set the input with ``pn.Input``)."""
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layers:
                raise ValueError(f"Sequential.add: an Input must come first; {self.name!r} already "
                                 "has layers or an input")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}: {layer!r}")
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in the model")
        names = {l.name for l in self._layers}
        if layer.name in names:
            raise ValueError(f"Sequential.add: all layers need unique names; {layer.name!r} is taken")
        self._layers.append(layer)
        if self._input_layer is None and len(self._layers) == 1 and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
        self.built = False
        if self._input_layer is not None and rebuild:
            self.build(self._input_layer.batch_shape)

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError("Sequential.pop: the model has no layers")
        layer = self._layers.pop()
        self.built = False
        if self._input_layer is not None and self._layers:
            self.build(self._input_layer.batch_shape)
        return layer

    @property
    def layers(self):
        return list(self._layers)

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential {self.name!r}: build() needs an input shape; add "
                                 "pn.Input(shape) first or call build((None, features))")
            input_shape = self._input_layer.batch_shape
        input_shape = tuple(input_shape)
        if self.backend is None:
            self.backend = _backend.current()
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=input_shape)
        shape = input_shape
        for layer in self._layers:
            self._adopt_layer_backend(layer)
            layer._maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        self._output_shape = shape
        self._symbolic_output = self._symbolic_chain()
        self.built = True

    def _symbolic_chain(self):
        """Call the layers on the input's symbolic tensor, as Keras's Sequential builds its
        functional graph, so ``model.outputs`` and every ``layer.output`` exist. A layer
        already called on this very tensor keeps its node (rebuilds add none)."""
        # Keras's Sequential builds an unnamed Functional here, which takes the next
        # "functional" name: a functional model made after it is "functional_1".
        unique_name("functional")
        x = self._input_layer.output
        for layer in self._layers:
            node = next((n for n in layer._inbound_nodes if n.inputs is x), None)
            x = node.outputs[0] if node is not None else layer(x)
        return x

    @property
    def input_shape(self):
        """Keras's: the input's shape (batch axis first), once it is known."""
        if self._input_layer is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined input shape yet.")
        return tuple(self._input_layer.batch_shape)

    @property
    def output_shape(self):
        """Keras's: the output's shape (batch axis first), once the model is built."""
        if not self.built or self._input_layer is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined output shape yet.")
        return tuple(self._output_shape)

    @property
    def inputs(self):
        """The symbolic inputs (a list of one ``KerasTensor``), once the input shape is known."""
        if self._input_layer is None:
            raise ValueError(f"Sequential model '{self.name}' has no defined inputs yet.")
        return [self._input_layer.output]

    @property
    def outputs(self):
        """The symbolic outputs (a list of one ``KerasTensor``), once the model is built."""
        if not self.built:
            raise ValueError(f"Sequential model '{self.name}' has no defined outputs yet.")
        return [self._symbolic_output]

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    def _maybe_build(self, input_shape):
        if not self.built:
            self._build_input_shape = input_shape
            self.build(input_shape)

    @property
    def input_shapes(self):
        if self._input_layer is None:
            raise ValueError(f"Sequential {self.name!r} has no input shape yet")
        return [self._input_layer.batch_shape]

    @property
    def output_names(self):
        return [self._layers[-1].name] if self._layers else ["output"]

    def _input_fed_layer(self):
        # The first layer reads the model's input and nothing reads its input gradient.
        return self._layers[0] if self._layers else None

    def _output_layer(self):
        # The last layer's output is the model's output and nothing else reads it.
        return self._layers[-1] if self._layers else None

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape) if not isinstance(input_shape, list) else input_shape
        if self._input_layer is not None and isinstance(shape, tuple):
            shape = adjusted_shape(shape, rank_adjustment(shape, self._input_layer.batch_shape) or 0)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _forward_graph(self, xs, training=False):
        if len(xs) != 1:
            raise ValueError(f"Sequential {self.name!r} takes one input; got {len(xs)}")
        xs, restore = self._adjust_input_ranks(xs)
        x = xs[0]
        mask = None
        backwards = []
        extras = []
        for layer in self._layers:
            x, back, mask, extra = layer.run(x, training=training, mask=mask)
            backwards.append(back)
            self._collect_extra(layer, extra, extras)
        self._output_masks = [mask]     # the compiled loss and metrics apply it (as Keras)

        def backward(dys):
            d = dys[0]
            for back in reversed(backwards):
                d = back(d)
            return [d] if restore is None else restore([d])
        return [x], backward, extras

    def get_config(self):
        """Keras 3's Sequential config: the base layer config (name, trainable, dtype policy),
        ``layers`` (the InputLayer first when the input is known, each in Keras's serialized
        form) and ``build_input_shape`` once the input shape is known."""
        config = Layer.get_config(self)
        config["layers"] = []
        if self._input_layer is not None:
            config["layers"].append(_layers.serialize(self._input_layer))
        config["layers"] += [_layers.serialize(l) for l in self._layers]
        if self._input_layer is not None:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    def get_build_config(self):
        if not self.built or self._input_layer is None:
            return None
        return {"input_shape": list(self._input_layer.batch_shape)}

    def build_from_config(self, config):
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            self.build(tuple(shape))

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from ``get_config``'s dict (Keras 3's, Keras 2's or portanet's older form)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Sequential.from_config: expected a dict with 'name' and a list 'layers'; "
                             f"got {str(config)[:200]}")
        with custom_object_scope(custom_objects or {}):
            model = cls(name=config.get("name"), trainable=config.get("trainable", True),
                        dtype=config.get("dtype"))
            for lc in config["layers"]:
                model.add(_layers.deserialize(lc), rebuild=False)
        if model._input_layer is not None:
            model.build(model._input_layer.batch_shape)
        elif isinstance(config.get("build_input_shape"), (list, tuple)):
            model.build(tuple(config["build_input_shape"]))
        return model
