"""Probabilistic losses (keras/src/losses/losses.py): the cross-entropies (binary, binary
focal, categorical, sparse categorical), KLDivergence and Poisson.
"""

import array_api_compat

from .. import config as _config
from .loss import Loss, _bcast, _xp

class BinaryCrossentropy(Loss):
    """Binary cross-entropy, from probabilities (clipped to [EPS, 1-EPS]) or logits.

    Args:
        from_logits: whether y_pred are logits (the stable form
            max(x, 0) - x·y + log(1 + exp(-|x|)) is used).
        label_smoothing: y <- y·(1 - ls) + 0.5·ls.
        axis: the axis averaged over (-1).
    """

    target_kind = "binary"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"BinaryCrossentropy: label_smoothing={label_smoothing!r}; expected a float in [0, 1]")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _per_sample(self, y, p):
        xp = _xp(p)
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        n = p.shape[-1]
        if self.from_logits:
            x = p
            zero = xp.zeros((), dtype=x.dtype)
            values = xp.maximum(x, zero) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
            e = xp.exp(-xp.abs(x))
            sig = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            return xp.mean(values, axis=-1), lambda dl: _bcast(dl) * ((sig - y) / n)
        eps = _config.epsilon()
        pc = xp.clip(p, eps, 1.0 - eps)
        values = -(y * xp.log(pc) + (1.0 - y) * xp.log(1.0 - pc))
        inside = xp.astype((p > eps) & (p < 1.0 - eps), p.dtype)

        def grad(dl):
            return _bcast(dl) * inside * ((pc - y) / (pc * (1.0 - pc) * n))
        return xp.mean(values, axis=-1), grad

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy on one-hot labels.

    From probabilities (Keras on NumPy/torch/JAX): p is renormalized to sum 1, clipped to
    [EPS, 1-EPS], then -Σ y·log p. From logits: -Σ y·log_softmax(x).

    Args:
        from_logits, label_smoothing (y <- y(1-ls) + ls/C), axis (-1).
    """

    target_kind = "one_hot"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing={label_smoothing!r}; expected a float in [0, 1]")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _smooth(self, y, num_classes):
        if self.label_smoothing:
            return y * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        return y

    def _per_sample(self, y, p):
        return _cce(self.from_logits, self._smooth(y, p.shape[-1]), p)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


def _cce(from_logits, y, p):
    xp = _xp(p)
    if from_logits:
        shifted = p - xp.max(p, axis=-1, keepdims=True)
        e = xp.exp(shifted)
        s = xp.sum(e, axis=-1, keepdims=True)
        logp = shifted - xp.log(s)
        soft = e / s
        ysum = xp.sum(y, axis=-1, keepdims=True)
        return -xp.sum(y * logp, axis=-1), lambda dl: _bcast(dl) * (soft * ysum - y)
    eps = _config.epsilon()
    total = xp.sum(p, axis=-1, keepdims=True)
    q = p / total
    qc = xp.clip(q, eps, 1.0 - eps)
    values = -xp.sum(y * xp.log(qc), axis=-1)

    def grad(dl):
        inside = xp.astype((q > eps) & (q < 1.0 - eps), p.dtype)
        g = -(y / qc) * inside                      # dL/dq
        return _bcast(dl) * (g - xp.sum(g * q, axis=-1, keepdims=True)) / total
    return values, grad


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class ids as labels (shape (N,) or (N, 1)).

    Args:
        from_logits: whether y_pred are logits.
        ignore_class: a label value (e.g. -1 or 255, a segmentation map's "void") whose
            entries are left out, as Keras: their loss is 0 and they are masked, so
            "sum_over_batch_size" averages over the other entries only.
    """

    target_kind = "sparse"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class

    def _align(self, y_true, y_pred):
        return squeeze_sparse_labels(y_true, y_pred)

    def _valid(self, y, p):
        xp = _xp(p)
        labels = y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
        return labels, labels != self.ignore_class

    def _per_sample(self, y, p):
        if self.ignore_class is None:
            return _cce(self.from_logits, sparse_onehot(y, p), p)
        # Keras: ignored labels become 0 before the cross-entropy, their losses 0 after it.
        xp = _xp(p)
        labels, valid = self._valid(y, p)
        labels = xp.where(valid, labels, xp.zeros_like(labels))
        values, grad = _cce(self.from_logits, sparse_onehot(labels, p), p)
        keep = xp.astype(valid, p.dtype)
        return xp.where(valid, values, xp.zeros_like(values)), lambda dl: grad(dl * keep)

    def _loss_mask(self, y, p):
        return None if self.ignore_class is None else self._valid(y, p)[1]

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class})
        return config

class KLDivergence(Loss):
    """Kullback-Leibler divergence Σ y·log(y/p) over the last axis, y and p clipped to [EPS, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        eps = _config.epsilon()
        yc = xp.clip(y, eps, 1.0)
        pc = xp.clip(p, eps, 1.0)
        inside = xp.astype((p >= eps) & (p <= 1.0), p.dtype)
        return xp.sum(yc * xp.log(yc / pc), axis=-1), lambda dl: _bcast(dl) * (-yc / pc) * inside


class Poisson(Loss):
    """mean(y_pred - y_true·log(y_pred + EPS)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _per_sample(self, y, p):
        xp = _xp(p)
        eps = _config.epsilon()
        n = p.shape[-1]
        return xp.mean(p - y * xp.log(p + eps), axis=-1), \
            lambda dl: _bcast(dl) * (1.0 - y / (p + eps)) / n

class BinaryFocalCrossentropy(Loss):
    """Binary focal cross-entropy (Lin et al. 2017), as Keras.

    loss = mean(w·(1 - p_t)^gamma · bce) with p_t = y·p + (1 - y)(1 - p), bce the binary
    cross-entropy of p clipped to [EPS, 1-EPS], and w = y·alpha + (1 - y)(1 - alpha) when
    ``apply_class_balancing`` (else 1).

    Args:
        apply_class_balancing: weight classes by alpha / (1 - alpha).
        alpha: class-balancing weight of the positive class (0.25).
        gamma: focusing parameter >= 0 (2.0); gamma = 0 gives the binary cross-entropy.
        from_logits: whether y_pred are logits (a sigmoid is applied first).
        label_smoothing: y <- y·(1 - ls) + 0.5·ls.
        axis: the axis averaged over (-1).
    """

    target_kind = "binary"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: label_smoothing={label_smoothing!r}; "
                             "expected a float in [0, 1]")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f"BinaryFocalCrossentropy: gamma={gamma!r}; expected a non-negative float")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: alpha={alpha!r}; expected a float in [0, 1]")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _per_sample(self, y, p):
        xp = _xp(p)
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            e = xp.exp(-xp.abs(p))
            s = xp.where(p >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            s = p
        eps = _config.epsilon()
        sc = xp.clip(s, eps, 1.0 - eps)
        bce = -(y * xp.log(sc) + (1.0 - y) * xp.log(1.0 - sc))
        p_t = y * s + (1.0 - y) * (1.0 - s)
        q = 1.0 - p_t
        gamma = self.gamma
        focal = q ** gamma if gamma else xp.ones_like(q)
        weight = (y * self.alpha + (1.0 - y) * (1.0 - self.alpha)) if self.apply_class_balancing else 1.0
        values = weight * focal * bce
        n = p.shape[-1]

        def grad(dl):
            inside = xp.astype((s >= eps) & (s <= 1.0 - eps), p.dtype)
            dbce = inside * (sc - y) / (sc * (1.0 - sc))
            if gamma:
                # d(1 - p_t)^gamma/ds = -gamma·(1 - p_t)^(gamma - 1)·(2y - 1); 0 where 1 - p_t = 0.
                safe_q = xp.where(q > 0, q, xp.ones_like(q))
                dfocal = xp.where(q > 0, -gamma * safe_q ** (gamma - 1.0), xp.zeros_like(q)) * (2.0 * y - 1.0)
            else:
                dfocal = xp.zeros_like(q)
            ds = weight * (dfocal * bce + focal * dbce)
            if self.from_logits:
                ds = ds * s * (1.0 - s)
            return _bcast(dl) * ds / n
        return xp.mean(values, axis=-1), grad

    def get_config(self):
        config = super().get_config()
        config.update({"apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                       "gamma": self.gamma, "from_logits": self.from_logits,
                       "label_smoothing": self.label_smoothing, "axis": self.axis})
        return config


def squeeze_sparse_labels(y_true, y_pred):
    """Integer labels of shape (..., 1) as (...): the sparse losses' label alignment."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = _xp(y_pred).reshape(y_true, y_true.shape[:-1])
    return y_true, y_pred


def sparse_onehot(y, p):
    """The one-hot rows of integer labels ``y`` over ``p``'s classes, in ``p``'s dtype."""
    xp = _xp(p)
    labels = y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
    classes = xp.arange(p.shape[-1], dtype=labels.dtype, device=array_api_compat.device(p))
    return xp.astype(xp.expand_dims(labels, axis=-1) == classes, p.dtype)

