"""Subclassed models: ``class M(pn.Model)`` with ``__init__`` and ``call`` (Keras's way).

A model whose class defines ``call`` is a ``call()`` layer with a training loop: its
sub-layers are those assigned to its attributes (directly or in lists and dicts), and its
graph for the trainer is the layer's generated forward, which traces ``call`` on the
tape (``portanet.layers.traced``): built-in sub-layers record one node each with their
own closures, ops record theirs, and ``add_loss`` terms join the objective.

The model is built on its first data (``fit``, ``evaluate``, ``predict``, ``model(x)``
or ``build(input_shape)``): the class's own ``build`` runs if it has one, then ``call``
runs once on a probe input of that shape, which builds every sub-layer (as Keras builds
a subclassed model by calling it). The input shapes are the first data's, batch axis
free; the number of outputs is what ``call`` returns.

``SubclassedGraph`` is a mixin of ``Model``; for Sequential and functional models (no
``call``) every method here defers to theirs.
"""

import contextlib

from ..layers import traced as _traced
from ..layers.base import Layer

# How many model calls / traced model forwards are running: only the outermost model call
# inside a GradientTape resets ``losses`` (a model called twice in one forward keeps both).
call_depth = [0]


@contextlib.contextmanager
def nested_call():
    call_depth[0] += 1
    try:
        yield
    finally:
        call_depth[0] -= 1


def _batch_free(shape):
    return (None,) + tuple(shape[1:])


class SubclassedGraph:
    """The trainer's graph contract (``_forward_graph``, ``input_shapes``,
    ``_num_outputs``, ``layers``) for models written with ``call``."""

    # The traced forward reads this instance flag (fast_paths' unused input gradient):
    # the model's own input is then a constant of the tape.
    _skip_input_grad = False

    def _subclassed(self):
        """A model written by subclassing (``call``, or only a custom ``train_step`` as
        Keras's GAN and VAE examples), not a Sequential / functional graph."""
        cls = type(self)
        cached = cls.__dict__.get("_subclassed_cache")
        if cached is None:
            cached = _traced.uses_call(self) or \
                getattr(cls, "_forward_graph") is SubclassedGraph._forward_graph
            cls._subclassed_cache = cached
        return cached

    # ------------------------------------------------------------------ building
    def _maybe_build(self, input_shape):
        if self.built or not self._subclassed():
            return Layer._maybe_build(self, input_shape)
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self._call_input_shapes = [_batch_free(s) for s in shapes]
        probe_shape = [_batch_free(s) for s in shapes] if isinstance(input_shape, list) \
            else _batch_free(input_shape)
        keys = self.__dict__.get("_call_input_keys")
        if keys is not None:      # call() takes a dict (fit was given one)
            probe_shape = dict(zip(keys, [_batch_free(s) for s in shapes]))
        self._building = True
        try:
            Layer._maybe_build(self, input_shape)      # the class's own build(), if any
            if not _traced.uses_call(self):            # no call(): only a custom train_step
                self._call_output_shapes = None
                return
            out = _traced.infer_output_shape(self, probe_shape)   # builds the sub-layers
        except Exception:
            self.built = False
            raise
        finally:
            self._building = False
        multi = isinstance(out, list)
        self._call_output_shapes = out if multi else [out]
        self._call_multi_output = multi
        for layer in self.layers:
            self._adopt_layer_backend(layer)

    # ------------------------------------------------------------------ graph contract
    def _forward_graph(self, xs, training=False):
        if not self._subclassed():
            raise NotImplementedError(f"{type(self).__name__} defines neither call() nor a graph "
                                      "(subclass pn.Model and define call(self, inputs, "
                                      "training=None), or use Sequential / the functional API)")
        multi_in = len(xs) > 1
        inputs = list(xs) if multi_in else xs[0]
        keys = self.__dict__.get("_call_input_keys")
        if keys is not None:
            inputs = dict(zip(keys, xs))
        with nested_call():
            out, backward = _traced.traced_forward(self, inputs, training=training)
        extra = self.__dict__.get("_call_extra")
        self._call_extra = None
        multi_out = isinstance(out, (list, tuple))
        outs = list(out) if multi_out else [out]
        # The masks the outputs carry (an Embedding(mask_zero=True) called in call()):
        # the compiled loss and metrics apply them, as Keras reads y_pred._keras_mask.
        # (Layer.run reads them again for a call of the model on a tensor.)
        carried = self.__dict__.get("_call_output_masks")
        self._output_masks = list(carried) if carried is not None and \
            len(carried) == len(outs) else None

        def graph_backward(dys):
            d = backward(list(dys) if multi_out else dys[0])
            if d is None:               # the input was a constant (nobody reads its gradient)
                return [None] * len(xs)
            if isinstance(d, dict):     # call() took a dict
                return [d[k] for k in keys]
            return list(d) if multi_in else [d]
        return outs, graph_backward, ([] if extra is None else [extra])

    @property
    def input_shapes(self):
        """Batch-first input shapes, one per input (a subclassed model: its first data's)."""
        if not self._subclassed():
            raise NotImplementedError
        shapes = self.__dict__.get("_call_input_shapes")
        if shapes is None:
            raise ValueError(f"model {self.name!r} is not built yet: call it on data, fit it, "
                             "or call build(input_shape) first")
        return list(shapes)

    def _check_input_shapes(self, shapes, name):
        # A subclassed model marked built by its own __init__ (``self.built = True``, as
        # Keras's GAN example) learns its input shapes from the first data.
        if self._subclassed() and self.__dict__.get("_call_input_shapes") is None:
            self._call_input_shapes = [_batch_free(s) for s in shapes]
            return
        super()._check_input_shapes(shapes, name)

    def _num_outputs(self):
        shapes = self.__dict__.get("_call_output_shapes")
        return 1 if shapes is None else len(shapes)

    def compute_output_shape(self, input_shape):
        if self._subclassed() and self.built and \
                self.__dict__.get("_call_output_shapes") is not None:
            got = input_shape if isinstance(input_shape, list) else [input_shape]
            if [_batch_free(s) for s in got] == self._call_input_shapes:
                shapes = self._call_output_shapes
                return list(shapes) if self._call_multi_output else shapes[0]
        return Layer.compute_output_shape(self, input_shape)

    def build(self, input_shape=None):
        """Create the weights for inputs of ``input_shape``; for a subclassed model, also
        run ``call`` once on a probe of that shape so every sub-layer is built."""
        if self._subclassed() and not self.built and input_shape is not None and \
                not self.__dict__.get("_building"):
            self._maybe_build(input_shape)
            return
        Layer.build(self, input_shape)

    @property
    def layers(self):
        """The model's layers: for a subclassed model, those assigned to its attributes
        (directly, or in lists / dicts), in assignment order."""
        if self._subclassed():
            return _attribute_layers(self)
        return list(self._layers)

    @property
    def weights(self):
        """All Variables: the model's own, then its layers' (for a subclassed model, those
        assigned to its attributes, also when it has no ``call``)."""
        if not self._subclassed() or _traced.uses_call(self):
            return Layer.weights.fget(self)
        out = list(self._weights)
        seen = {id(v) for v in out}
        for layer in _attribute_layers(self):
            for v in layer.weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def losses(self):
        """The losses of the last forward pass: ``add_loss`` terms (this model's and its
        layers') and activity-regularization penalties."""
        if self._subclassed():
            return Layer.losses.fget(self)
        extras = self.__dict__.get("_last_extras")
        return list(extras) if extras else Layer.losses.fget(self)


def _attribute_layers(model):
    """The layers in ``model._layers`` and in its public attributes (directly or in lists,
    tuples and dicts), in order, whether or not the model defines ``call``."""
    if _traced.uses_call(model):
        return _traced.sublayers(model)
    out = list(getattr(model, "_layers", ()))
    seen = {id(x) for x in out}
    for key in model.__dict__.get("_tracked_attributes") or ():
        value = model.__dict__.get(key)
        items = value.values() if isinstance(value, dict) else \
            (value if isinstance(value, (list, tuple)) else (value,))
        for item in items:
            if isinstance(item, Layer) and item is not model and id(item) not in seen:
                seen.add(id(item))
                out.append(item)
    return out
