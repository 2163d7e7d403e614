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
    """Reset layer name counters (as keras.utils.clear_session)."""
    reset_names()


def plot_history(history, path=None, title=None, dpi=100):
    """Draw loss and metrics per epoch and the loss per iteration to a PNG (the plot extra).

    See ``portanet.plotting.plot_history``; returns the matplotlib Figure.
    """
    return _plot_history(history, path, title=title, dpi=dpi)


from .lr_finder import find_learning_rate  # noqa: E402
from .model_visualization import model_to_dot, plot_model  # noqa: E402
from .text_dataset import text_dataset_from_directory  # noqa: E402
from .image_utils import (array_to_img, image_dataset_from_directory, img_to_array,  # noqa: E402
                          load_img, save_img)

__all__ = ["set_random_seed", "clear_session", "to_categorical", "plot_history",
           "find_learning_rate", "normalize", "pad_sequences", "pack_x_y_sample_weight",
           "unpack_x_y_sample_weight", "Progbar", "PyDataset", "Sequence", "plot_model", "model_to_dot",
           "text_dataset_from_directory", "array_to_img", "image_dataset_from_directory", "img_to_array",
           "load_img", "save_img"]
