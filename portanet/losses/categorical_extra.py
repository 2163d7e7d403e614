"""CategoricalFocalCrossentropy and CategoricalGeneralizedCrossEntropy
(keras/src/losses/losses.py), each with its exact gradient.
"""

import array_api_compat

from .. import config as _config
from .loss import Loss, _bcast, _xp
from .probabilistic import sparse_onehot, squeeze_sparse_labels


def _softmax(xp, x):
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


class CategoricalFocalCrossentropy(Loss):
    """Alpha-balanced focal cross-entropy on one-hot labels (Lin et al. 2018), as Keras.

    p = softmax(y_pred) when ``from_logits``, then renormalized to sum 1 and clipped to
    [EPS, 1 - EPS]; loss = Σ alpha·(1 - p)^gamma·(-y·log p) over the class axis.

    Args:
        alpha: class-balancing weight, a float or one float per class (0.25).
        gamma: focusing parameter >= 0 (2.0); 0 gives alpha times the cross-entropy.
        from_logits: whether y_pred are logits.
        label_smoothing: y <- y·(1 - ls) + ls/num_classes.
        axis: the class axis (-1).
    """

    target_kind = "one_hot"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CategoricalFocalCrossentropy: label_smoothing={label_smoothing!r}; "
                             "expected a float in [0, 1]")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f"CategoricalFocalCrossentropy: gamma={gamma!r}; expected a non-negative float")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"CategoricalFocalCrossentropy: axis={axis!r}; expected an int")
        alphas = alpha if isinstance(alpha, (list, tuple)) else [alpha]
        if not alphas or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in alphas):
            raise ValueError(f"CategoricalFocalCrossentropy: alpha={alpha!r}; expected a float or a "
                             "list of floats (one per class)")
        self.alpha = list(alpha) if isinstance(alpha, (list, tuple)) else alpha
        self.gamma = gamma
        self.from_logits = bool(from_logits)
        self.label_smoothing = label_smoothing
        self.axis = axis

    def _per_sample(self, y, p):
        return _focal(_xp(p), y, p, self.alpha, self.gamma, self.from_logits, self.label_smoothing,
                      self.axis)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma})
        return config


def _focal(xp, y, p, alpha, gamma, from_logits, label_smoothing, axis):
    moved = axis not in (-1, p.ndim - 1)
    if moved:
        y, p = xp.moveaxis(y, axis, -1), xp.moveaxis(p, axis, -1)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / p.shape[-1]
    if isinstance(alpha, list):
        if len(alpha) != p.shape[-1]:
            raise ValueError(f"CategoricalFocalCrossentropy: alpha has {len(alpha)} values; y_pred has "
                             f"{p.shape[-1]} classes")
        a = xp.asarray(alpha, dtype=p.dtype, device=array_api_compat.device(p))
    else:
        a = float(alpha)
    s = _softmax(xp, p) if from_logits else p
    total = xp.sum(s, axis=-1, keepdims=True)
    q = s / total
    eps = _config.epsilon()
    qc = xp.clip(q, eps, 1.0 - eps)
    one_minus = 1.0 - qc
    ce = -y * xp.log(qc)
    mod = one_minus ** gamma if gamma else xp.ones_like(qc)
    values = xp.sum(a * mod * ce, axis=-1)

    def grad(dl):
        inside = xp.astype((q > eps) & (q < 1.0 - eps), p.dtype)
        dmod = -gamma * one_minus ** (gamma - 1.0) if gamma else xp.zeros_like(qc)
        dq = a * (dmod * ce + mod * (-y / qc)) * inside
        ds = (dq - xp.sum(dq * q, axis=-1, keepdims=True)) / total
        if from_logits:
            ds = s * (ds - xp.sum(ds * s, axis=-1, keepdims=True))
        d = _bcast(dl) * ds
        return xp.moveaxis(d, -1, axis) if moved else d
    return values, grad


class CategoricalGeneralizedCrossEntropy(Loss):
    """Generalized cross-entropy (Zhang & Sabuncu 2018): (1 - p^q)/q with p the predicted
    probability of the true class; integer labels of shape (batch,).

    Args:
        q: the noise parameter in (0, 1) (0.5): towards 0 the cross-entropy, towards 1 the
            mean absolute error.
    """

    target_kind = "sparse"

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q={q!r}; expected a float in the "
                             "interval (0, 1)")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.q = q

    def _align(self, y_true, y_pred):
        return squeeze_sparse_labels(y_true, y_pred)

    def _per_sample(self, y, p):
        xp = _xp(p)
        onehot = sparse_onehot(y, p)
        pt = xp.sum(p * onehot, axis=-1)
        q = self.q
        values = (1.0 - pt ** q) / q
        return values, lambda dl: _bcast(-dl * pt ** (q - 1.0)) * onehot

    def get_config(self):
        config = super().get_config()
        config.update({"q": self.q})
        return config
