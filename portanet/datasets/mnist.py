"""MNIST handwritten digits (as ``keras.datasets.mnist``): 60,000 + 10,000 28x28 images.

Downloaded once (11 MB) from Keras's server into ``~/.portanet/datasets`` and checked
against Keras's published SHA-256. Licence of the data: CC BY-SA 3.0 (Yann LeCun and
Corinna Cortes).
"""

import numpy as np

from .download import get_file, resolve_base_url

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILE_NAME = "mnist.npz"
# keras/src/datasets/mnist.py
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz", base_url=None):
    """Load MNIST: ``(x_train, y_train), (x_test, y_test)``, as Keras.

    Args:
        path: where to cache the file, relative to ``~/.portanet/datasets``
            (``$PORTANET_HOME/datasets``).
        base_url: the server to download from instead of Keras's (also
            ``$PORTANET_DATASETS_BASE_URL``).

    Returns:
        x_train: uint8 array (60000, 28, 28), grey levels 0..255; y_train: uint8 (60000,)
        labels 0..9; x_test: uint8 (10000, 28, 28); y_test: uint8 (10000,).

    Raises:
        DownloadError: offline or the server failed (the message says what to do).
        ChecksumError: the download is corrupted (it is deleted).
    """
    origin = resolve_base_url(DEFAULT_BASE_URL, base_url) + FILE_NAME
    local = get_file(path, origin=origin, file_hash=FILE_HASH)
    with np.load(local, allow_pickle=False) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)
