"""portanet: a Keras-style deep-learning trainer written once against the Array API standard.

    import portanet as pn
    pn.set_backend("cupy")          # or "numpy", "array_api_strict"; or $PORTANET_BACKEND
    model = pn.Sequential([pn.Input((64,)), pn.layers.Dense(10, activation="softmax")])
"""

from .version import __version__

from . import (activations, backend, callbacks, config, constraints, datasets, initializers,
               layers, losses, metrics, optimizers, regularizers, saving, utils)
from . import diagnostics, distributed
from . import ops, preprocessing, random
from . import applications
from . import dtype_policies, mixed_precision
from .dtype_policies import DTypePolicy, FloatDTypePolicy
from .ops import GradientTape
from .backend import set_backend, use_backend
from .layers import Input, InputSpec, Layer
from .layers.base import Variable
from .layers.symbolic import KerasTensor
from .losses import Loss
from .metrics import Metric
from .optimizers import Optimizer
from .regularizers import Regularizer
from .initializers import Initializer
from .models import Model, Sequential
from .saving import load_model

__all__ = ["__version__", "set_backend", "use_backend", "Input", "InputSpec", "Model", "Sequential", "load_model", "ops", "GradientTape",
           "activations", "backend", "callbacks", "config", "constraints", "initializers",
           "layers", "losses", "metrics", "optimizers", "regularizers", "utils", "applications", "diagnostics", "distributed", "random",
           "preprocessing", "dtype_policies", "mixed_precision", "DTypePolicy", "FloatDTypePolicy",
           # Keras 3's top-level classes (keras.Variable, keras.Layer, ...)
           "Variable", "Layer", "KerasTensor", "Loss", "Metric", "Optimizer",
           "Regularizer", "Initializer"]
