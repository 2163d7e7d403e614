"""Layers that hold other layers, as Keras 3: ``Wrapper`` (keras/src/layers/core/wrapper.py),
``SpectralNormalization`` (keras/src/layers/normalization/spectral_normalization.py) and
``Pipeline`` (keras/src/layers/preprocessing/pipeline.py).

They run the held layers' own ``forward`` closures, so they cost what those layers cost and
their backward passes are the held layers' (docs/ARCHITECTURE.md, section 3).
"""

from .. import initializers as _initializers
from ..validation import check_positive_int
from . import traced as _traced
from .base import Layer
from .input_spec import InputSpec
from .recurrent._helpers import run_inner, serialize_layer
from .serialization import deserialize

__all__ = ["Wrapper", "SpectralNormalization", "Pipeline"]


class Wrapper(Layer):
    """Base class of the layers that wrap one layer (Keras's ``keras.layers.Wrapper``).

    Holds ``self.layer`` (its weights are the wrapper's), builds it with the wrapper's input
    shape, and serializes it in the config under "layer". A subclass changes the call
    (``forward`` with closures, or ``call()`` with ``pn.ops``); on its own a Wrapper runs the
    wrapped layer unchanged.

    Args:
        layer: the layer to wrap.

    Example:
        >>> class Doubled(pn.layers.Wrapper):
        ...     def call(self, x):
        ...         return 2 * self.layer(x)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__}: layer={layer!r} is not a supported layer "
                             "type; expected a layer instance")
        super().__init__(**kwargs)
        self.layer = layer
        self._layers = [layer]

    def build(self, input_shape=None):
        if not self.layer.built:
            if self.layer.backend is None:
                self.layer.backend = self.backend
            self.layer._maybe_build(input_shape)
        self.built = True

    def forward(self, x, training=False, mask=None):
        if _traced.uses_call(self):     # a subclass written with call()
            return Layer.forward(self, x, training=training, mask=mask)
        return run_inner(self.layer, x, training, mask)

    def compute_output_shape(self, input_shape):
        if _traced.uses_call(self):
            return Layer.compute_output_shape(self, input_shape)
        return self.layer.compute_output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    def get_config(self):
        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = deserialize(config.pop("layer"))
        return cls(layer, **config)


class SpectralNormalization(Wrapper):
    """Spectral normalization of a layer's kernel (Miyato et al., 2018), as Keras 3.

    In training (``training=True``) each call first runs ``power_iterations`` steps of
    power iteration from the stored vector ``u`` (shape (1, units)) on the kernel reshaped
    to W (N, units): ``v = normalize(u·Wᵀ)``, ``u = normalize(v·W)``; then
    ``σ = v·W·uᵀ`` and the kernel is *assigned* ``W/σ`` and ``u`` is stored (both skipped
    when the kernel is all zeros). The wrapped layer then runs with that kernel, and the
    gradient reaches the kernel as the layer's own (σ is not differentiated: Keras assigns
    the normalized kernel before the call). At inference the stored kernel is used as is.
    ``normalize`` is Keras's: ``x·min(1/‖x‖, 1e7)``.

    Args:
        layer: a layer with a ``kernel`` (Dense, Conv*) or ``embeddings`` (Embedding) weight.
        power_iterations: int >= 1 (default 1).

    Weights (Keras order): the wrapped kernel, ``vector_u`` (1, units) (not trainable,
    TruncatedNormal(stddev=0.02)), then the wrapped layer's other weights.

    Example:
        >>> layer = pn.layers.SpectralNormalization(pn.layers.Dense(16))
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        check_positive_int(power_iterations, "power_iterations", "SpectralNormalization")
        super().__init__(layer, **kwargs)
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        if hasattr(self.layer, "kernel") and self.layer.kernel is not None:
            kernel = self.layer.kernel
        elif hasattr(self.layer, "embeddings"):
            kernel = self.layer.embeddings
        else:
            raise ValueError(f"SpectralNormalization {self.name!r}: {type(self.layer).__name__} "
                             "object has no attribute 'kernel' nor 'embeddings'")
        self.kernel = kernel
        self.kernel_shape = kernel.shape
        # Keras tracks the wrapped kernel as the wrapper's own trainable variable, so it
        # comes first in the weights: [kernel, vector_u, <the layer's other weights>].
        self._weights.append(kernel)
        self.vector_u = self.add_weight(shape=(1, self.kernel_shape[-1]),
                                        initializer=_initializers.TruncatedNormal(stddev=0.02),
                                        trainable=False, name="vector_u")
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        self.built = True

    def _normalize(self, x):
        xp = self.xp
        inv = 1.0 / xp.sqrt(xp.sum(x * x))
        return x * xp.minimum(inv, xp.asarray(1e7, dtype=x.dtype))

    def normalized_weights(self):
        """(new vector_u, spectrally normalized kernel) from the current values (Keras's
        method of the same name)."""
        xp = self.xp
        kernel = self.kernel.value
        w = xp.reshape(kernel, (-1, self.kernel_shape[-1]))
        u = self.vector_u.value
        for _ in range(self.power_iterations):
            v = self._normalize(u @ xp.matrix_transpose(w))
            u = self._normalize(v @ w)
        sigma = (v @ w) @ xp.matrix_transpose(u)
        return u, xp.reshape(w / sigma, self.kernel_shape)

    def forward(self, x, training=False, mask=None):
        if training:
            xp = self.xp
            kernel = self.kernel.value
            u, new_kernel = self.normalized_weights()
            all_zero = xp.all(kernel == 0)
            self.vector_u.assign(xp.where(all_zero, self.vector_u.value, u))
            self.kernel.assign(xp.where(all_zero, kernel, new_kernel))
        return run_inner(self.layer, x, training, mask)

    def get_config(self):
        config = super().get_config()
        config["power_iterations"] = self.power_iterations
        return config


class Pipeline(Layer):
    """Applies a sequence of layers in order (Keras's ``keras.layers.Pipeline``), for
    preprocessing and augmentation chains: ``Pipeline([RandomFlip(), RandomRotation(0.2)])``.

    Unlike ``Sequential`` it is a layer, not a model: no ``fit``, no input layer. Each layer
    gets the ``training`` flag and the mask the previous layer produced. Called directly,
    ``training`` defaults to True, as Keras's ``Pipeline.call(inputs, training=True)``
    (augmentation layers act); inside a model the model's flag is passed.

    Args:
        layers: list of layer instances.
        name: the layer's name.

    Weights: the layers' weights, in order. Config: {"layers": [...], "name": ...} (Keras's).

    Example:
        >>> aug = pn.layers.Pipeline([pn.layers.RandomFlip(seed=1), pn.layers.RandomZoom(0.1, seed=2)])
    """

    supports_masking = True

    def __init__(self, layers, name=None, **kwargs):
        if not isinstance(layers, (list, tuple)) or not all(isinstance(l, Layer) for l in layers):
            raise TypeError(f"Pipeline: layers={layers!r}; expected a list of layer instances")
        super().__init__(name=name, **kwargs)
        self._pipeline_layers = list(layers)
        self._layers = list(layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def build(self, input_shape):
        shape = input_shape
        for layer in self._pipeline_layers:
            if layer.backend is None:
                layer.backend = self.backend
            layer._maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def __call__(self, inputs, training=True, mask=None, **kwargs):
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def forward(self, x, training=False, mask=None):
        backs = []
        for layer in self._pipeline_layers:
            y, back, out_mask, _ = layer.run(x, training=training, mask=mask)
            backs.append(back)
            x, mask = y, out_mask
        self._last_mask = mask

        def backward(dy):
            for back in reversed(backs):
                dy = back(dy)
                if dy is None:
                    return None
            return dy
        return x, backward

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._pipeline_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def compute_mask(self, inputs, mask=None):
        # Layer.run asks right after forward, which kept the last layer's output mask.
        return self.__dict__.pop("_last_mask", mask)

    def get_config(self):
        return {"layers": [serialize_layer(layer) for layer in self._pipeline_layers],
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("Pipeline config must contain a 'layers' key mapping to a list of "
                             f"serialized layers; got layers={layers!r}")
        config = dict(config)
        config["layers"] = [deserialize(x) for x in layers]
        return cls(**config)
