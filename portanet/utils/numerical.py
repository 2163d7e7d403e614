"""``to_categorical`` and ``normalize``: Keras 3's ``keras.utils`` numerical helpers.

Host NumPy input gives host NumPy output (this module uses NumPy directly, as the data
ingestion modules do); an array of the active backend stays on its device.
"""

import operator

import numpy as np

from .. import backend as _backend
from .. import config

__all__ = ["to_categorical", "normalize"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels; the class axis is placed last.

    As Keras: a trailing axis of size 1 is dropped first, so labels of shape ``(n,)`` or
    ``(n, 1)`` give ``(n, num_classes)`` and labels ``(a, b)`` give ``(a, b, num_classes)``.
    Float labels are truncated to integers (``np.array(x, dtype="int64")``).

    Args:
        x: array-like of class indices in ``[0, num_classes)`` (host data, or an array of
            the active backend, which stays on its device).
        num_classes: positive int, or None for ``max(x) + 1``.

    Returns:
        The one-hot array in ``pn.config.floatx()`` (Keras's NumPy path returns float64; the
        models' float type avoids a cast at ``fit``).

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not hasattr(num_classes, "__index__")
                                    or operator.index(num_classes) < 1):
        raise ValueError(f"to_categorical: num_classes={num_classes!r}; expected None or a "
                         f"positive integer")
    b = _backend.current()
    on_device = b.is_array(x) and not isinstance(x, np.ndarray)
    labels = b.to_numpy(x) if on_device else x
    try:
        labels = np.array(labels, dtype="int64")
    except (TypeError, ValueError):
        raise ValueError(f"to_categorical: x={x!r}; expected integer class labels") from None
    input_shape = labels.shape
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = input_shape[:-1]
    labels = labels.reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative; got {int(labels.min())}")
    n = operator.index(num_classes) if num_classes is not None else (
        int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.max() >= n:
        raise ValueError(f"to_categorical: label {int(labels.max())} >= num_classes={n}")
    if on_device:
        xp = b.xp
        device_labels = xp.reshape(b.asarray(x, "int64"), input_shape + (1,))
        classes = xp.arange(n, dtype=xp.int64, device=b.device)
        return xp.astype(device_labels == classes, b.floatx())
    out = np.zeros((labels.size, n), dtype=config.floatx())
    out[np.arange(labels.size), labels] = 1.0
    return out.reshape(input_shape + (n,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (a zero norm divides by 1).

    Args:
        x: host NumPy array (a NumPy array is returned) or an array of the active backend
            (an array of it is returned); other array-likes become backend arrays.
        axis: int, the axis to normalize along (-1).
        order: the norm order, as ``numpy.linalg.norm``'s ``ord`` (2: Euclidean).

    Returns:
        A normalized copy of ``x``, of the shape of ``x`` (Keras's NumPy path turns a 1-D
        input into shape ``(1, n)``; portanet keeps ``(n,)``).
    """
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise ValueError(f"normalize: axis={axis!r}; expected an integer")
    if isinstance(x, np.ndarray):
        if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
            raise ValueError(f"normalize: axis={axis} is out of range for x of shape {x.shape}")
        norm = np.linalg.norm(x, order, axis, keepdims=True)
        norm[norm == 0] = 1
        return x / norm
    b = _backend.current()
    x = b.asarray(x)
    if not b.is_float(x):
        x = b.asarray(x, config.floatx())
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"normalize: axis={axis} is out of range for x of shape "
                         f"{tuple(x.shape)}")
    xp = b.xp
    norm = xp.linalg.vector_norm(x, axis=axis, keepdims=True, ord=order)
    return x / xp.where(norm == 0, xp.ones_like(norm), norm)
