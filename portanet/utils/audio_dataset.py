"""``audio_dataset_from_directory`` (keras.utils): (audio, labels) batches from a folder of
``.wav`` files, one subfolder per class.

Keras 3.15.1's arguments, defaults, checks and messages (keras/src/utils/
audio_dataset_utils.py and dataset_utils.index_directory): files are listed in Keras's
order and shuffled once with ``np.random.RandomState(seed)`` as Keras does; validation
splits take the last ``int(validation_split * n)`` files. WAV files are decoded on the host
(``portanet/backend/host_audio.py``, Python's ``wave`` module) as ``tf.audio.decode_wav``
does: float32 ``int16 / 32768`` of shape ``(samples, channels)``, cropped or zero-padded to
``output_sequence_length`` when it is set, otherwise each batch zero-padded to its longest
file (``padded_batch``). Only 16-bit PCM WAV files are read (as TensorFlow); others raise a
``ValueError`` naming the file.

Keras returns a ``tf.data.Dataset``; portanet returns a ``PyDataset`` (``AudioDataset``)
that ``fit``/``evaluate``/``predict`` accept, with ``class_names``. Training batches are
reshuffled each epoch (seeded), as Keras's shuffle buffer does (the order itself differs
from tf.data's). ``.map(fn)`` maps ``fn`` over the batches.

Differences from Keras: ``ragged=True`` is refused (portanet has no ragged tensors);
``sampling_rate`` resamples files of another rate on the host with an FFT resampler where
Keras needs ``tensorflow_io`` (whose resampled values differ).
"""

import os

from ..backend import host_audio as _audio
from ..backend import host_io as _host_io
from ..backend import host_text as _host
from .dataset_utils import FileDataset, check_validation_split_arg, get_training_or_validation_split, index_directory

__all__ = ["audio_dataset_from_directory", "AudioDataset"]

ALLOWED_FORMATS = (".wav",)


class AudioDataset(FileDataset):
    """Batches of ``(audio, labels)`` (audio alone when there are no labels): ``audio`` is
    float32 of shape ``(batch, samples, channels)`` (``(samples, channels)`` when
    ``batch_size`` is None).

    Args:
        file_paths: the files, in order.
        labels: host labels (``host_text.label_array``) or None.
        batch_size: files per batch; None yields single samples without a batch axis.
        sampling_rate: resample every file to this rate (None: keep each file's rate).
        output_sequence_length: crop or pad every file to this many samples (None: pad
            each batch to its longest file).
        shuffle: reshuffle the order after every epoch.
        seed: the shuffling seed.
        class_names: the class names, or None.
    """

    def __init__(self, file_paths, labels, batch_size, sampling_rate, output_sequence_length,
                 shuffle, seed, class_names):
        super().__init__(file_paths, labels, batch_size, shuffle, seed, class_names)
        self.sampling_rate = sampling_rate
        self.output_sequence_length = output_sequence_length

    def _read(self, path):
        audio, rate = _audio.read_wav(path, self.output_sequence_length or -1)
        if self.sampling_rate is not None:
            audio = _audio.resample(audio, rate, self.sampling_rate)
        return audio

    def _batch(self, rows):
        clips = [self._read(self.file_paths[i]) for i in rows]
        if self.batch_size is None:
            audio = clips[0]
            return audio if self.labels is None else (audio, self.labels[rows[0]])
        audio = _audio.pad_batch(clips)
        return audio if self.labels is None else (audio, self.labels[rows])


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 batch_size=32, sampling_rate=None, output_sequence_length=None,
                                 ragged=False, shuffle=True, seed=None, validation_split=None,
                                 subset=None, follow_links=False, verbose=True):
    """(audio, labels) batches from ``directory`` (one subfolder of ``.wav`` files a class).

    Args (Keras's):
        directory: the folder.
        labels: "inferred" (from the subfolders, in sorted order or ``class_names``' order),
            None (audio only), or a list of integer labels (one per file, in Keras's file
            order).
        label_mode: "int" (int32), "categorical" (float32 one-hot), "binary" (float32, shape
            (batch, 1); exactly 2 classes), or None (no labels).
        class_names: the subfolders to use, in this order (with labels="inferred").
        batch_size: files per batch (default 32); None yields one file at a time.
        sampling_rate: an int > 0: resample every file to this rate (see the module notes).
        output_sequence_length: crop or zero-pad every file to this many samples; None pads
            each batch to its longest file.
        ragged: must be False (portanet has no ragged tensors).
        shuffle: shuffle the files (default True).
        seed: the shuffling seed (needed with validation_split and shuffle).
        validation_split: the fraction of files held out (the last ones after shuffling).
        subset: "training", "validation" or "both" (a tuple of the two datasets).
        follow_links: follow symbolic links to subfolders.
        verbose: print "Found N files belonging to C classes.".

    Returns:
        An ``AudioDataset`` (a ``PyDataset``) with ``class_names``, or a tuple of two for
        subset="both". Audio batches are float32 ``(batch, samples, channels)``.
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("The `labels` argument should be a list/tuple of integer labels, of "
                             "the same size as the number of audio files in the target "
                             "directory. If you wish to infer the labels from the subdirectory "
                             'names in the target directory, pass `labels="inferred"`. If you '
                             "wish to get a dataset that only contains audio samples (no "
                             f"labels), pass `labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError('You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", '
                         f"or None. Received: label_mode={label_mode}")
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise ValueError(f"audio_dataset_from_directory: ragged={ragged!r}; portanet has no "
                         "ragged tensors; expected False (batches are zero-padded to their "
                         "longest file, or set output_sequence_length)")
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int):
            raise ValueError("`sampling_rate` should have an integer value. Received: "
                             f"sampling_rate={sampling_rate}")
        if sampling_rate <= 0:
            raise ValueError("`sampling_rate` should be higher than 0. Received: "
                             f"sampling_rate={sampling_rate}")
    if output_sequence_length is not None and (
            isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, int)
            or output_sequence_length <= 0):
        raise ValueError("audio_dataset_from_directory: output_sequence_length="
                         f"{output_sequence_length!r}; expected a positive integer or None")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"audio_dataset_from_directory: batch_size={batch_size!r}; expected a "
                         "positive integer or None")
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        raise ValueError(f"audio_dataset_from_directory: directory={directory!r} is not an "
                         "existing directory")
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    check_validation_split_arg(validation_split, subset, shuffle, seed,
                               "audio_dataset_from_directory")
    if seed is None:
        seed = _host_io.random_seed()
    directory = os.fspath(directory)
    paths, found, names = index_directory(directory, labels, ALLOWED_FORMATS,
                                          class_names=class_names, shuffle=shuffle, seed=seed,
                                          follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={names}")
    num_classes = len(names) if names else 0

    def make(subset_name, shuffle_it):
        p, lab = get_training_or_validation_split(paths, found, validation_split, subset_name)
        if not p:
            kind = {"training": "training ", "validation": "validation "}.get(subset_name, "")
            if subset != "both":
                kind = ""
            raise ValueError(f"No {kind}audio files found in directory {directory}. "
                             f"Allowed format(s): {ALLOWED_FORMATS}")
        arr = None if lab is None or label_mode is None else \
            _host.label_array(lab, label_mode, num_classes)
        return AudioDataset(p, arr, batch_size, sampling_rate, output_sequence_length,
                            shuffle_it, seed, names)

    if subset == "both":
        return make("training", shuffle), make("validation", False)
    return make(subset, shuffle)
