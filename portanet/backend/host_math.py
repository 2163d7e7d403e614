"""Host (NumPy) math the Array API standard lacks: bit-level views, ``nextafter`` and the
general eigendecomposition. ``portanet.ops`` calls these on host copies of device arrays and
moves the result back (these ops are not on any training hot path)."""

import numpy as np


def nextafter(a, b):
    """numpy.nextafter on host arrays."""
    return np.nextafter(np.asarray(a), np.asarray(b))


def view(a, dtype_name):
    """The bytes of a host array read as ``dtype_name``."""
    return np.ascontiguousarray(a).view(np.dtype(dtype_name))


def eig(a):
    """(eigenvalues, eigenvectors) of square host matrices (complex in general)."""
    return np.linalg.eig(np.asarray(a))
