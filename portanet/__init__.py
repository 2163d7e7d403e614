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
from . import dtype_policies, mixed_precision
from .dtype_policies import DTypePolicy, FloatDTypePolicy
from .ops import GradientTape
from .backend import set_backend, use_backend
from .layers import Input, InputSpec
from .layers.base import Variable
from .models import Model, Sequential
from .saving import load_model

__all__ = ["__version__", "set_backend", "use_backend", "Input", "InputSpec", "Model", "Sequential", "load_model", "ops", "GradientTape",
           "activations", "backend", "callbacks", "config", "constraints", "initializers",
           "layers", "losses", "metrics", "optimizers", "regularizers", "utils", "diagnostics", "distributed", "random",
           "preprocessing", "dtype_policies", "mixed_precision", "DTypePolicy", "FloatDTypePolicy",
           "Variable"]
