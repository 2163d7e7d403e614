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
from ..layers.base import Layer
from ..training import Trainer
from .summary import print_summary


class Model(Trainer, Layer):
    """Base class of models; ``pn.Model(inputs, outputs)`` builds a functional model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            # Functional subclasses Model; portanet.models registers it as "Model".
            return _layers._registry.lookup("Model")(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------------ to implement
    def _forward_graph(self, xs, training=False):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def input_shapes(self):
        """Batch-first input shapes (None for unknown), one per input."""
        raise NotImplementedError

    @property
    def output_names(self):
        return [f"output_{i}" for i in range(self._num_outputs())]

    def _num_outputs(self):
        return 1

    @property
    def layers(self):
        return list(self._layers)

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
        nobody reads, or None (default: unknown)."""
        return None

    def _output_layer(self):
        """The layer whose output is the model's only output and is read by nothing else,
        or None (default: unknown)."""
        return None

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    # ------------------------------------------------------------------ misc
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False):
        """Print Keras's layer table with output shapes and parameter counts."""
        print_summary(self, line_length=line_length, print_fn=print_fn, show_trainable=show_trainable)

    def save(self, filepath, overwrite=True):
        """Save architecture, weights, compile config and optimizer state to one file."""
        _saving.save_model(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs):
        """The architecture as Keras 3's JSON text (see ``portanet.models.json_io``)."""
        return _to_json(self, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights alone (see ``portanet.saving.save_weights``)."""
        _saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights saved by ``save_weights`` or ``save`` (see ``portanet.saving``)."""
        _saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

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
