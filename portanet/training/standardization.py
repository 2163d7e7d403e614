"""fit's one-time check that float inputs are roughly standardized (mean 0, std 1).

Unstandardized inputs saturate sigmoid/tanh units and make the learning rate hard to
choose; ``fit`` warns once per model, in plain words, and says how to fix it.
"""

import warnings

from ..callbacks._layer_probe import _fmt, _leaf_layers
from ..layers.image_preprocessing import Rescaling
from ..layers.preprocessing import Normalization


def _has_normalization(model):
    # A model that scales its own inputs (Normalization, or Rescaling(1/255) for images)
    # has said what scale it wants: no warning.
    return any(isinstance(layer, (Normalization, Rescaling)) for layer in _leaf_layers(model))


MEAN_LIMIT = 3.0
STD_HIGH = 10.0
STD_LOW = 0.01
SPREAD_RATIO = 10.0
SAMPLE_ROWS = 1024


def warn_if_not_standardized(model, xs, names=None, stacklevel=3):
    """Warn (``UserWarning``) when float inputs are far from standardized.

    Called once by ``fit`` before training, on at most 1,024 evenly spaced rows (one device
    read). A feature column is flagged when |mean| > 3, when its standard deviation is
    above 10, or when it lives on a tiny scale (0 < std < 0.01 with every value within 10
    standard deviations of the mean). Constant columns and sparse ones (mostly one value,
    rarely another: a far larger maximum deviation than the standard deviation) are not
    flagged: standardizing does not help them. Nothing is checked
    when the model already has a ``Normalization`` layer.

    Args:
        model: the model (its backend reads the statistics; its layers are searched for
            a Normalization).
        xs: the input arrays (device arrays of the model's backend).
        names: the input names, used in the message when there are several inputs.
        stacklevel: of the warning (3: the caller of the function that calls this one).

    Returns the warning's text, or None.
    """
    if _has_normalization(model):
        return None
    backend = model.backend
    xp = backend.xp
    parts = []
    for i, x in enumerate(xs):
        if not xp.isdtype(x.dtype, "real floating") or x.ndim < 2 or x.shape[0] == 0:
            continue
        n = int(x.shape[0])
        step = max(1, n // SAMPLE_ROWS)
        sample = x[0:n:step, ...]
        flat = xp.reshape(sample, (int(sample.shape[0]), -1))
        flat = xp.astype(flat, xp.float64) if flat.dtype != xp.float64 else flat
        mean = xp.mean(flat, axis=0)
        stats = xp.stack([mean, xp.std(flat, axis=0), xp.max(xp.abs(flat - mean), axis=0)])
        means, stds, maxdevs = backend.to_numpy(stats).tolist()
        rank = x.ndim
        label = (names[i] if names else f"input {i}") if len(xs) > 1 else None
        flagged = []
        for j, (m, s, a) in enumerate(zip(means, stds, maxdevs)):
            reasons = []
            if abs(m) > MEAN_LIMIT:
                reasons.append(f"mean {_fmt(m)}")
            if s > STD_HIGH:
                reasons.append(f"standard deviation {_fmt(s)}")
            elif 0 < s < STD_LOW and a < SPREAD_RATIO * s:
                reasons.append(f"standard deviation {_fmt(s)}")
            if reasons:
                flagged.append(f"{j} ({', '.join(reasons)})")
        if flagged:
            one, many = ("column", "columns") if rank == 2 else ("flattened feature", "flattened features")
            shown = "; ".join(flagged[:8])
            more = f"; and {len(flagged) - 8} more" if len(flagged) > 8 else ""
            where = f"{label}: " if label else ""
            parts.append(f"{where}{many if len(flagged) > 1 else one} {shown}{more}")
    if not parts:
        return None
    message = ("fit: the inputs are far from standardized (mean 0, standard deviation 1): "
               + " | ".join(parts) + ". Unstandardized inputs saturate sigmoid/tanh units and make "
               "the learning rate hard to choose. Standardize them with the training set's "
               "statistics, e.g. put norm = pn.layers.Normalization() first in the model and call "
               "norm.adapt(x_train): the statistics are saved with the model, so new values are "
               "standardized the same way.")
    warnings.warn(message, UserWarning, stacklevel=stacklevel)
    return message
