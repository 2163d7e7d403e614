"""Fashion-MNIST (as ``keras.datasets.fashion_mnist``): 60,000 + 10,000 28x28 images of
10 kinds of clothing, a drop-in replacement for MNIST.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot. Downloaded once (four gzip files, 30 MB) into
``~/.portanet/datasets/fashion-mnist`` and checked against Keras's published SHA-256.
Copyright Zalando SE, MIT licence.
"""

import gzip

import numpy as np

from .download import get_file, resolve_base_url

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CACHE_SUBDIR = "fashion-mnist"
# keras/src/datasets/fashion_mnist.py
FILE_HASHES = {
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]


def _read(path, offset):
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), np.uint8, offset=offset)


def load_data(base_url=None):
    """Load Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``, as Keras.

    Args:
        base_url: the server to download from instead of Keras's (also
            ``$PORTANET_DATASETS_BASE_URL``).

    Returns:
        x_train: uint8 (60000, 28, 28); y_train: uint8 (60000,) labels 0..9;
        x_test: uint8 (10000, 28, 28); y_test: uint8 (10000,).

    Raises:
        DownloadError: offline or the server failed (the message says what to do).
        ChecksumError: a download is corrupted (it is deleted).
    """
    root = resolve_base_url(DEFAULT_BASE_URL, base_url)
    paths = {name: get_file(name, origin=root + name, file_hash=digest, cache_subdir=CACHE_SUBDIR)
             for name, digest in FILE_HASHES.items()}
    y_train = _read(paths["train-labels-idx1-ubyte.gz"], 8)
    x_train = _read(paths["train-images-idx3-ubyte.gz"], 16).reshape(len(y_train), 28, 28)
    y_test = _read(paths["t10k-labels-idx1-ubyte.gz"], 8)
    x_test = _read(paths["t10k-images-idx3-ubyte.gz"], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
