"""Layers by their Keras names. Every Layer subclass defined in these modules is
registered, so ``serialize``/``deserialize`` resolve class names through this registry only."""

from .base import Layer, Variable
from .serialization import _registry, deserialize, get, register, serialize
from .core import Activation, Dense, Identity, Input, InputLayer
from .lambda_layer import Lambda
from .reshaping import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .volumetric import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .normalization_extra import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .merging import *  # noqa: F401,F403
from .preprocessing import *  # noqa: F401,F403
from .image_preprocessing import *  # noqa: F401,F403
from .image_augmentation import *  # noqa: F401,F403
from .image_augmentation_extra import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .categorical import *  # noqa: F401,F403
from .text_preprocessing import *  # noqa: F401,F403
from .adaptive_pooling import *  # noqa: F401,F403
from .conv_lstm import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
from .reversible_embedding import *  # noqa: F401,F403
from .audio import *  # noqa: F401,F403
from .input_spec import InputSpec
from . import op_layer as _op_layer  # noqa: F401 - ops on symbolic tensors (registers itself)
from .volumetric import AveragePooling3D as AvgPool3D, MaxPooling3D as MaxPool3D
from .volumetric import GlobalAveragePooling3D as GlobalAvgPool3D
from .volumetric import GlobalMaxPooling3D as GlobalMaxPool3D

def _register_module(namespace):
    for obj in list(namespace.values()):
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            _registry.register(obj)


_register_module(dict(globals()))
_registry.register(GroupedQueryAttention, "GroupQueryAttention")   # Keras writes that name
