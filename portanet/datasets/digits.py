"""The bundled 8x8 handwritten digits (1,797 images, 10 classes), no download needed.

Source and licence: data/NOTICE.txt (UCI Optical Recognition of Handwritten Digits,
CC BY 4.0, as distributed with scikit-learn).
"""

import gzip
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")


def load_raw():
    """(images (1797, 8, 8) float32 in 0..16, labels (1797,) int64)."""
    with gzip.open(_PATH, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def load_data(test_split=0.2, seed=113, normalize=True):
    """Keras-style ``(x_train, y_train), (x_test, y_test)``, a seeded shuffled split.

    Args:
        test_split: fraction of the 1,797 images held out for testing.
        seed: seed of the split's shuffle (the same split on every machine).
        normalize: scale pixels from 0..16 to [0, 1].
    Returns images of shape (N, 8, 8) float32 and integer labels (N,).
    """
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"load_data: test_split={test_split!r}; expected a float in (0, 1)")
    x, y = load_raw()
    if normalize:
        x = x / np.float32(16.0)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(round(len(x) * (1.0 - test_split)))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
