"""``text_dataset_from_directory`` (keras.utils): (texts, labels) batches from a folder of
``.txt`` files, one subfolder per class.

Keras's arguments, defaults, checks and messages (keras/src/utils/text_dataset_utils.py and
dataset_utils.index_directory): files are listed in Keras's order and shuffled once with
``np.random.RandomState(seed)`` as Keras does; validation splits take the last
``int(validation_split * n)`` files. Keras returns a ``tf.data.Dataset``; portanet returns a
``PyDataset`` (``TextDataset``) whose batches are ``(NumPy array of str, labels)``, which
``fit``/``evaluate``/``predict`` accept when the model starts with a string layer
(``TextVectorization``, ``StringLookup``), and which ``TextVectorization.adapt`` reads.
Training batches are reshuffled each epoch (seeded), as Keras's ``shuffle`` buffer does
(the order itself differs from tf.data's). ``.map(fn)`` maps ``fn`` over the batches, as
``tf.data.Dataset.map`` (e.g. ``ds.map(lambda x, y: x)`` for ``adapt``); ``class_names``
holds the class names.
"""

import os

from ..backend import host_io as _host_io
from ..backend import host_text as _host
from .dataset_utils import FileDataset, check_validation_split_arg, get_training_or_validation_split, index_directory

__all__ = ["text_dataset_from_directory", "TextDataset"]


class TextDataset(FileDataset):
    """Batches of ``(texts, labels)`` (or texts alone when there are no labels).

    Args:
        file_paths: the files, in order.
        labels: host labels (see ``host_text.label_array``) or None.
        batch_size: files per batch; None yields single samples (batches of one).
        max_length: keep at most this many characters of each text.
        shuffle: reshuffle the order after every epoch.
        seed: the shuffling seed.
        class_names: the class names, or None.
    """

    def __init__(self, file_paths, labels, batch_size, max_length, shuffle, seed, class_names):
        super().__init__(file_paths, labels, batch_size, shuffle, seed, class_names)
        self.max_length = max_length

    def _batch(self, rows):
        texts = _host.text_batch([_host.read_text_file(self.file_paths[i], self.max_length)
                                  for i in rows])
        if self.labels is None:
            return texts
        return texts, self.labels[rows]


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """(texts, labels) batches from ``directory`` (one subfolder of ``.txt`` files a class).

    Args (Keras's):
        directory: the folder.
        labels: "inferred" (from the subfolders, in sorted order or ``class_names``' order),
            None (texts only), or a list of integer labels (one per file, in Keras's file
            order).
        label_mode: "int" (int32), "categorical" (float32 one-hot), "binary" (float32, shape
            (batch, 1); exactly 2 classes), or None (no labels).
        class_names: the subfolders to use, in this order (with labels="inferred").
        batch_size: texts per batch (default 32); None yields one text at a time.
        max_length: keep at most this many characters of each text.
        shuffle: shuffle the files (default True).
        seed: the shuffling seed (needed with validation_split and shuffle).
        validation_split: the fraction of files held out (the last ones after shuffling).
        subset: "training", "validation" or "both" (a list of the two datasets).
        follow_links: follow symbolic links to subfolders.
        format: "tf" (default) or "grain", accepted for Keras compatibility; both give a
            ``TextDataset``.
        verbose: print "Found N files belonging to C classes.".

    Returns:
        A ``TextDataset`` (a ``PyDataset``) with ``class_names``, or a list of two for
        subset="both".
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the "
                             "same size as the number of text files in the target directory. If "
                             "you wish to infer the labels from the subdirectory names in the "
                             'target directory, pass `labels="inferred"`. If you wish to get a '
                             "dataset that only contains text samples (no labels), pass "
                             f"`labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError('You can only pass `class_names` if `labels="inferred"`. Received: '
                             f"labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", '
                         f"or None. Received: label_mode={label_mode}")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"text_dataset_from_directory: batch_size={batch_size!r}; expected a "
                         "positive integer or None")
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        raise ValueError(f"text_dataset_from_directory: directory={directory!r} is not an "
                         "existing directory")
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    check_validation_split_arg(validation_split, subset, shuffle, seed, "text_dataset_from_directory")
    if seed is None:
        seed = _host_io.random_seed()
    directory = os.fspath(directory)
    paths, found, names = index_directory(directory, labels, (".txt",), class_names=class_names,
                                          shuffle=shuffle, seed=seed, follow_links=follow_links,
                                          verbose=verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={names}")
    num_classes = len(names) if names else 0

    def make(subset_name, shuffle_it):
        p, lab = get_training_or_validation_split(paths, found, validation_split, subset_name)
        if not p:
            kind = {"training": "training ", "validation": "validation "}.get(subset_name, "")
            raise ValueError(f"No {kind}text files found in directory {directory}. "
                             "Allowed format: .txt")
        arr = None if lab is None or label_mode is None else \
            _host.label_array(lab, label_mode, num_classes)
        return TextDataset(p, arr, batch_size, max_length, shuffle_it, seed, names)

    if subset == "both":
        return [make("training", shuffle), make("validation", False)]
    return make(subset, shuffle)
