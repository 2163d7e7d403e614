"""The VGG family as Keras builds it (keras/src/applications/vgg16.py, vgg19.py): blocks of
3x3 "same" ReLU convolutions named ``block{b}_conv{i}``, each block ending in a 2x2
``block{b}_pool``; with ``include_top`` the ``flatten``, ``fc1``, ``fc2`` and
``predictions`` layers."""

import warnings

from .. import activations as _activations
from .. import config as _config
from .. import layers
from ..models import Model
from ..utils import get_file, get_source_inputs, is_keras_tensor

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/"


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """Keras's ``imagenet_utils.obtain_input_shape``: the model's input shape, checked."""
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if data_format == "channels_first" else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was "
                          f"passed an input_shape with {channels} input channels.", stacklevel=3)
        default_shape = ((input_shape[0], default_size, default_size)
                         if data_format == "channels_first"
                         else (default_size, default_size, input_shape[-1]))
    else:
        default_shape = ((3, default_size, default_size) if data_format == "channels_first"
                         else (default_size, default_size, 3))
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, "
                             f"`input_shape` should be {default_shape}.  Received: "
                             f"input_shape={input_shape}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels, spatial = ((input_shape[0], input_shape[1:]) if data_format == "channels_first"
                             else (input_shape[-1], input_shape[:2]))
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if any(s is not None and s < min_size for s in spatial):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if data_format == "channels_first" else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. "
                         f"Received: input_shape={input_shape}")
    return input_shape


def build_vgg(convs_per_block, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name, file_names, file_hashes):
    """A VGG model with ``convs_per_block`` convolutions in each of its five blocks."""
    if not (weights in {"imagenet", None} or isinstance(weights, str)):
        raise ValueError("The `weights` argument should be either `None` (random "
                         "initialization), 'imagenet' (pre-training on ImageNet), or the path "
                         f"to the weights file to be loaded.  Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` "
                         f"should be 1000.  Received classes={classes}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{name}: pooling={pooling!r}; expected None, 'avg' or 'max'")
    input_shape = obtain_input_shape(input_shape, default_size=224, min_size=32,
                                     data_format=_config.image_data_format(),
                                     require_flatten=include_top, weights=weights)
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif is_keras_tensor(input_tensor):
        img_input = input_tensor
    else:
        raise TypeError(f"{name}: input_tensor={input_tensor!r}; expected a symbolic tensor "
                        "(the output of pn.Input or of a layer called on one)")
    x = img_input
    for block, count in enumerate(convs_per_block, start=1):
        filters = min(64 * 2 ** (block - 1), 512)
        for i in range(1, count + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        if weights is not None and _activations.get(classifier_activation) not in {
                _activations.get("softmax"), _activations.get(None)}:
            raise ValueError("Only `None` and `softmax` activations are allowed for the "
                             "`classifier_activation` argument when using pretrained weights, "
                             f"with `include_top=True`; Received: "
                             f"classifier_activation={classifier_activation}")
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights == "imagenet":
        top = 0 if include_top else 1
        path = get_file(file_names[top], _WEIGHTS_ROOT + f"{name}/{file_names[top]}",
                        cache_subdir="models", file_hash=file_hashes[top])
        model.load_weights(path)
    elif weights is not None:
        model.load_weights(weights)
    return model
