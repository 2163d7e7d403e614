"""Models: ``Model`` (functional when given inputs/outputs), ``Sequential``, ``clone_model``."""

from .. import layers as _layers
from .. import saving as _saving
from .functional import Functional, clone_functional
from .json_io import model_from_json
from .model import Model
from .sequential import Sequential

# Models are layers too: a config (or a file) may nest them, so the layer registry knows them.
_layers._registry.register(Sequential)
_layers._registry.register(Functional, "Model")


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same architecture and freshly initialized weights (as Keras).

    Layers are recreated from their configs (same names, new weights); a layer shared
    between several calls stays shared in the clone. The clone is not compiled.

    Args:
        model: a Sequential or functional model.
        input_tensors: (functional models) symbolic inputs from ``pn.Input`` to build the
            clone on, one per model input; default new ones of the same shapes.
        clone_function: ``f(layer) -> new layer`` used instead of ``from_config(get_config())``
            (e.g. ``lambda layer: layer`` shares a layer with the original).
    """
    if clone_function is not None and not callable(clone_function):
        raise TypeError(f"clone_model: clone_function={clone_function!r}; expected a callable")
    if isinstance(model, Sequential):
        fn = clone_function or (lambda layer: type(layer).from_config(layer.get_config()))
        clone = Sequential(name=model.name, trainable=model.trainable)
        if input_tensors is not None:
            t = input_tensors[0] if isinstance(input_tensors, (list, tuple)) else input_tensors
            clone.add(t)
        elif model._input_layer is not None:
            clone.add(_layers.deserialize(_layers.serialize(model._input_layer)), rebuild=False)
        for layer in model.layers:
            clone.add(fn(layer), rebuild=False)
        if clone._input_layer is not None:
            clone.build(clone._input_layer.batch_shape)
        return clone
    if isinstance(model, Functional):
        return clone_functional(model, clone_function=clone_function, input_tensors=input_tensors)
    raise TypeError(f"clone_model: expected a Sequential or functional model; got {type(model).__name__}")


load_model = _saving.load_model
save_model = _saving.save_model

__all__ = ["Model", "Sequential", "Functional", "clone_model", "model_from_json", "load_model"]
__all__ += ["save_model"]
