"""Utilities: seeding, session reset, and (with the plot extra) curves."""

from ..backend import host_xp, set_random_seed


def clear_session():
    """Reset layer name counters (as keras.utils.clear_session)."""
    from ..layers.base import reset_names
    reset_names()


def to_categorical(y, num_classes=None):
    """One-hot encode integer labels (host arrays), as keras.utils.to_categorical."""
    np = host_xp()  # NumPy's Array API namespace: host arrays in, a host array out
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative; got {y.min()}")
    n = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if y.size else 0)
    if y.size and y.max() >= n:
        raise ValueError(f"to_categorical: label {int(y.max())} >= num_classes={n}")
    out = np.zeros((y.size, n), dtype="float32")
    out[np.arange(y.size), y] = 1.0
    return out


def plot_history(history, path=None, title=None, dpi=100):
    """Draw loss and metrics per epoch and the loss per iteration to a PNG (the plot extra).

    See ``portanet.utils.plotting.plot_history``; returns the matplotlib Figure.
    """
    from .plotting import plot_history as _plot_history
    return _plot_history(history, path, title=title, dpi=dpi)


from .lr_finder import find_learning_rate  # noqa: E402

__all__ = ["set_random_seed", "clear_session", "to_categorical", "plot_history",
           "find_learning_rate"]
