"""``Model``: the layer container and graph; the training loop comes from ``Trainer``.

A concrete model (Sequential, Functional) implements ``_forward_graph(xs, training)``
returning ``(outputs, backward, extra_losses)`` where ``xs`` and ``outputs`` are lists of
device arrays and ``backward(d_outputs)`` runs every layer's closure in reverse.
``Trainer`` (portanet/training/) adds compile, fit, evaluate, predict and the step
methods on top of that, as Keras's ``Model(Trainer, Layer)``.
"""

from .. import backend as _backend
from .json_io import to_json as _to_json  # (placed here to keep merges with main conflict-free)
from .. import layers as _layers
from .. import saving as _saving
from ..layers import traced as _traced
from ..layers.base import Layer
from ..layers.symbolic import is_symbolic
from ..ops import tape as _tape
from ..training import Trainer
from . import subclassed as _subclassed
from .subclassed import SubclassedGraph
from .summary import print_summary


class Model(SubclassedGraph, Trainer, Layer):
    """Base class of models; ``pn.Model(inputs, outputs)`` builds a functional model.

    Subclassing it the Keras way (layers as attributes in ``__init__``, the forward pass
    in ``call(self, inputs, training=None)``) gives a model that ``fit``/``evaluate``/
    ``predict`` build on their first data by running ``call`` (see
    ``portanet.models.subclassed``). A subclass called with ``(inputs, outputs)`` is a
    functional model with the subclass's methods (a custom ``train_step``, say), as Keras.
    """

    def __new__(cls, *args, **kwargs):
        functional_args = bool(args) or "inputs" in kwargs or "outputs" in kwargs
        if cls is Model and functional_args:
            # Functional subclasses Model; portanet.models registers it as "Model".
            return _layers._registry.lookup("Model")(*args, **kwargs)
        if functional_args and _is_functional_call(args, kwargs):
            functional = _layers._registry.lookup("Model")
            if not issubclass(cls, functional):
                # class CustomModel(pn.Model) called with (inputs, outputs): Keras makes it
                # a functional model keeping the subclass's methods; so does this.
                return super().__new__(_functional_subclass(cls, functional))
        return super().__new__(cls)

    def __init__(self, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        if self._subclassed():
            # A subclass may mark itself built in __init__ (Keras's GAN example): it lives
            # on the backend active when it is made.
            self.backend = _backend.current()

    # ------------------------------------------------------------------ to implement
    # A subclassed model (call()) gets all of these from SubclassedGraph.
    @property
    def output_names(self):
        return [f"output_{i}" for i in range(self._num_outputs())]

    def _adopt_layer_backend(self, layer):
        """Put a layer without a backend on the model's; one on another backend is an error."""
        if layer.backend is None:
            layer.backend = self.backend
        elif layer.backend is not self.backend:
            raise ValueError(f"layer {layer.name!r} lives on backend {layer.backend.name!r}, but "
                             f"model {self.name!r} is on {self.backend.name!r}")

    def get_layer(self, name=None, index=None):
        """A layer by name or by index."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index={index} out of range; the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; layers are "
                         f"{[layer.name for layer in self.layers]}")

    # ------------------------------------------------------------------ as a layer
    @staticmethod
    def _collect_extra(layer, extra, extras):
        """Add one layer run's activity-regularization penalty to ``extras``, and those a
        nested model left on the layer (``_pending_extra``, taken once)."""
        if extra is not None:
            extras.append(extra)
        nested = getattr(layer, "_pending_extra", None)
        if nested:
            extras.extend(nested)
            layer._pending_extra = None

    def forward(self, inputs, training=False):
        multi = isinstance(inputs, (list, tuple))
        xs = list(inputs) if multi else [inputs]
        outs, backward, extras = self._forward_graph(xs, training=training)
        self._pending_extra = extras
        self._last_extras = extras
        single_out = len(outs) == 1

        def back(dy):
            dxs = backward([dy] if single_out else list(dy))
            return dxs if multi else dxs[0]
        return (outs[0] if single_out else outs), back

    @property
    def input_names(self):
        return [f"input_{i}" for i in range(len(self.input_shapes))]

    # Graph queries for the training step's shortcuts (portanet/training/fast_paths.py).
    def _input_fed_layer(self):
        """The one layer that reads the model's input directly and whose input gradient
        nobody reads, or None (default: unknown). A subclassed model's own call() reads
        its input: the traced forward then treats the input as a constant."""
        return self if _traced.uses_call(self) else None

    def _output_layer(self):
        """The layer whose output is the model's only output and is read by nothing else,
        or None (default: unknown)."""
        return None

    def __call__(self, *args, **kwargs):
        if _subclassed.call_depth[0] == 0 and _tape.current_tape() is not None:
            # Keras: ``losses`` holds those of the last top-level call (inside a
            # GradientTape the layers' losses would otherwise pile up, step after step).
            _traced.clear_losses(self)
            self._last_extras = None
        with _subclassed.nested_call():
            # Arguments bind as Layer.__call__ binds them (to call()'s parameters, as
            # Keras: the further tensors of a call(self, a, b), inputs given by name).
            return super().__call__(*args, **kwargs)

    # ------------------------------------------------------------------ misc
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's layer table with output shapes and parameter counts
        (``portanet.models.summary.print_summary``)."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save architecture, weights, compile config and optimizer state to one file; the
        extension picks the format as in Keras: ``.keras`` (Keras 3), ``.h5`` (legacy),
        ``.portanet`` (portanet's own). See ``portanet.saving.save_model``."""
        _saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def to_json(self, **kwargs):
        """The architecture as Keras 3's JSON text (see ``portanet.models.json_io``)."""
        return _to_json(self, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights alone: ``.weights.h5`` (Keras 3's layout) or ``.portanet`` (see
        ``portanet.saving.save_weights``)."""
        _saving.save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Load weights from ``.weights.h5``, ``.keras``, legacy ``.h5`` or ``.portanet``
        (see ``portanet.saving.load_weights``)."""
        _saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """``pn.Model.from_config(functional_config)`` rebuilds a functional model, as Keras."""
        if cls is Model and isinstance(config, dict) and "input_layers" in config:
            return _layers._registry.lookup("Model").from_config(config, custom_objects=custom_objects)
        return super().from_config(config)

    def to(self, backend_name, device=None):
        """Move the model to another backend: ``model.to("cupy")``, ``model.to("numpy")``.

        Every weight and the optimizer's state (moments, accumulators, iterations) are
        copied through the host to the new backend, and every layer is rebound to it;
        metric states and running sums restart. Training continues exactly where it
        stopped. Returns the model. Fails before changing anything when the backend cannot
        start (e.g. ``"cupy"`` without a GPU).

        Args:
            backend_name: "numpy", "array_api_strict" or "cupy".
            device: the device of the new backend (a GPU index for "cupy").
        """
        target = _backend.get(backend_name, device)
        source = self.backend
        if source is None:
            raise ValueError(f"Model.to: model {self.name!r} is not built yet; build it (or fit it) "
                             "first, or call pn.set_backend(...) before creating it")
        if target is source:
            return self
        moved = {}

        def move(a):
            if not source.is_array(a):
                return a
            key = id(a)
            if key not in moved:
                moved[key] = target.from_numpy(source.to_numpy(a))
            return moved[key]

        # Copy everything first so a failure leaves the model untouched.
        weights = self.weights
        new_values = [move(v.value) for v in weights]
        opt = self.optimizer
        new_slots = None
        if opt is not None and getattr(opt, "_slots", None):
            new_slots = [{k: move(a) for k, a in slots.items()} for slots in opt._slots]
        for v, value in zip(weights, new_values):
            v.value = value
            v.grad = None
            v.backend = target
        stack = [self]
        while stack:
            layer = stack.pop()
            layer.backend = target
            stack.extend(getattr(layer, "_layers", ()))
            inp = getattr(layer, "_input_layer", None)
            if inp is not None:
                inp.backend = target
        if new_slots is not None:
            opt._slots = new_slots
        if opt is not None:
            # Fast paths cache per-backend buffers; they rebuild on the next step.
            for key in [k for k in vars(opt) if k.startswith("_fused_")]:
                delattr(opt, key)
        if self._compiled_outputs is not None:
            self._compiled_outputs.metrics = None  # rebuilt on the next data, on the new backend
        self._trackers = None
        self._fused_ce = None
        target.activate()
        return self


def _is_functional_call(args, kwargs):
    """Whether Model-subclass arguments are Keras's functional ``(inputs, outputs)``."""
    first = args[0] if args else kwargs.get("inputs")
    # Both are needed: ``Sequential([pn.Input(...)])`` also starts with symbolic tensors.
    outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
    return first is not None and outputs is not None and (is_symbolic(first) or
                                  (isinstance(first, dict) and any(is_symbolic(v) for v in first.values())))


_functional_subclasses = {}


def _functional_subclass(cls, functional):
    """``cls`` with Functional's graph under it (cached), as Keras's functional subclass."""
    made = _functional_subclasses.get(cls)
    if made is None:
        made = type(cls.__name__, (cls, functional), {"__module__": cls.__module__,
                                                      "__qualname__": cls.__qualname__})
        _functional_subclasses[cls] = made
    return made
