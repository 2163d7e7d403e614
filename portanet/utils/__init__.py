"""Utilities: seeding, session reset, labels and sequences, the progress bar (``Progbar``), and
(with the plot extra) curves."""

from ..backend import set_random_seed
from ..layers.base import reset_names
from ..plotting import plot_history as _plot_history
from ..progbar import Progbar
from ..training.step_api import pack_x_y_sample_weight, unpack_x_y_sample_weight
from ..data import normalize, pad_sequences, to_categorical
from .py_dataset import PyDataset, Sequence


def clear_session():
    """Reset layer name counters and the global dtype policy (as keras.utils.clear_session)."""
    reset_names()
    _dtype_policies.clear_global_policy()


def plot_history(history, path=None, title=None, dpi=100):
    """Draw loss and metrics per epoch and the loss per iteration to a PNG (the plot extra).

    See ``portanet.plotting.plot_history``; returns the matplotlib Figure.
    """
    return _plot_history(history, path, title=title, dpi=dpi)


from .. import dtype_policies as _dtype_policies  # noqa: E402
from .lr_finder import find_learning_rate  # noqa: E402
from .model_visualization import model_to_dot, plot_model  # noqa: E402
from .text_dataset import text_dataset_from_directory  # noqa: E402
from .image_utils import (array_to_img, image_dataset_from_directory, img_to_array,  # noqa: E402
                          load_img, save_img)

from ..progbar import (disable_interactive_logging, enable_interactive_logging,  # noqa: E402
                       is_interactive_logging_enabled)
from ..saving import (CustomObjectScope, deserialize_keras_object, get_custom_objects,  # noqa: E402
                      get_registered_name, get_registered_object, register_keras_serializable,
                      serialize_keras_object)
from .config import Config  # noqa: E402
from .dataset_utils import split_dataset, timeseries_dataset_from_array  # noqa: E402
from .file_utils import get_file  # noqa: E402
from .general_utils import get_source_inputs, is_keras_tensor, standardize_dtype  # noqa: E402
from . import bounding_boxes  # noqa: E402  (keras.utils.bounding_boxes, a module)

custom_object_scope = CustomObjectScope  # Keras: keras.utils.custom_object_scope is the class

__all__ = ["set_random_seed", "clear_session", "to_categorical", "plot_history",
           "find_learning_rate", "normalize", "pad_sequences", "pack_x_y_sample_weight",
           "unpack_x_y_sample_weight", "Progbar", "PyDataset", "Sequence", "plot_model", "model_to_dot"]
__all__ += ["Config", "CustomObjectScope", "custom_object_scope", "get_custom_objects",
            "get_registered_name", "get_registered_object", "register_keras_serializable",
            "serialize_keras_object", "deserialize_keras_object", "get_source_inputs",
            "is_keras_tensor", "standardize_dtype", "enable_interactive_logging",
            "disable_interactive_logging", "is_interactive_logging_enabled",
            "timeseries_dataset_from_array", "split_dataset", "get_file"]
__all__ += ["text_dataset_from_directory", "array_to_img", "image_dataset_from_directory", "img_to_array",
            "load_img", "save_img"]
from .feature_space import FeatureSpace  # noqa: E402
from .audio_dataset import audio_dataset_from_directory  # noqa: E402

__all__ += ["FeatureSpace", "audio_dataset_from_directory"]
