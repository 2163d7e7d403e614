"""Circle loss (Sun et al. 2020; keras/src/losses/losses.py ``Circle``/``circle``) on
integer labels and L2-normalized embeddings, with its exact gradient.
"""

import array_api_compat

from .loss import Loss, _bcast, _same_namespace, _xp

_NEG = -1e30   # stands for Keras's -inf in the masked logsumexp; softplus gives 0 exactly


def _lse_rows(xp, z):
    m = xp.max(z, axis=1, keepdims=True)
    e = xp.exp(z - m)
    s = xp.sum(e, axis=1, keepdims=True)
    return xp.reshape(m + xp.log(s), (z.shape[0],)), e / s


def _softplus(xp, z):
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def _sigmoid(xp, z):
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _circle(xp, labels, emb, ref_labels, ref_emb, remove_diagonal, gamma, margin):
    """(values (N,), grad(dl) -> (d_emb, d_ref_emb)) of Keras's circle loss."""
    labels = xp.reshape(labels, (-1,))
    ref_labels = xp.reshape(ref_labels, (-1,))
    s = xp.matmul(emb, xp.matrix_transpose(ref_emb))
    dist = xp.maximum(1.0 - s, xp.zeros_like(s))
    pos = xp.expand_dims(labels, axis=1) == xp.expand_dims(ref_labels, axis=0)
    neg = ~pos
    if remove_diagonal:
        n, m = pos.shape
        eye = xp.eye(n, m, dtype=xp.bool, device=array_api_compat.device(emb))
        pos = pos & ~eye
    posf, negf = xp.astype(pos, emb.dtype), xp.astype(neg, emb.dtype)
    zero = xp.zeros_like(dist)
    pw_raw = (margin + dist) * posf
    pos_w = xp.maximum(pw_raw, zero)
    nw_raw = (1.0 + margin - dist) * negf
    neg_w = xp.maximum(nw_raw, zero)
    a = -gamma * pos_w * (margin - dist)
    b = gamma * neg_w * (1.0 - margin - dist)
    p_loss, p_soft = _lse_rows(xp, xp.where(pos, a, xp.full_like(a, _NEG)))
    n_loss, n_soft = _lse_rows(xp, xp.where(neg, b, xp.full_like(b, _NEG)))
    z = p_loss + n_loss
    values = _softplus(xp, z)

    def grad(dl):
        dz = _bcast(dl * _sigmoid(xp, z))
        da = dz * p_soft * posf
        db = dz * n_soft * negf
        dpos_w = xp.astype(pw_raw > 0, emb.dtype) * posf
        dneg_w = -xp.astype(nw_raw > 0, emb.dtype) * negf
        ddist = da * (-gamma) * (dpos_w * (margin - dist) - pos_w) + \
            db * gamma * (dneg_w * (1.0 - margin - dist) - neg_w)
        ds = -ddist * xp.astype(1.0 - s > 0, emb.dtype)
        return xp.matmul(ds, ref_emb), xp.matmul(xp.matrix_transpose(ds), emb)
    return values, grad


def circle_values(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
                  gamma=80, margin=0.4):
    """Per-sample circle losses and their gradient w.r.t. y_pred (both uses of it when
    ``ref_embeddings`` is None)."""
    xp = _xp(y_pred)
    y_true = _same_namespace(xp, y_true, y_pred)
    own = ref_embeddings is None
    ref_emb = y_pred if own else _same_namespace(xp, ref_embeddings, y_pred)
    ref_lab = y_true if ref_labels is None else _same_namespace(xp, ref_labels, y_pred)
    values, g = _circle(xp, y_true, y_pred, ref_lab, ref_emb, remove_diagonal, gamma, margin)

    def grad(dl):
        d_emb, d_ref = g(dl)
        return d_emb + d_ref if own else d_emb
    return values, grad


class Circle(Loss):
    """Circle loss between integer labels (batch,) and L2-normalized embeddings (batch, dim).

    Pairs of the batch with the same label are positives (the diagonal removed when
    ``remove_diagonal``), the others negatives; with cosine distances d,
    loss = softplus(logsumexp_pos(-gamma·max(margin + d, 0)·(margin - d)) +
    logsumexp_neg(gamma·max(1 + margin - d, 0)·(1 - margin - d))). As Keras, a sample whose
    loss is 0 (no positive pair) is masked out of the mean: "sum_over_batch_size" divides
    by the number of samples with a positive loss.

    Args:
        gamma: scale (80.0). margin: relaxation (0.4). remove_diagonal: True.
    """

    # Integer labels that are not class ids of the output (fit checks no shape or range).
    target_kind = "labels"

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size",
                 name="circle", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for n, v in (("gamma", gamma), ("margin", margin)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"Circle: {n}={v!r}; expected a float")
        self.gamma, self.margin = gamma, margin
        self.remove_diagonal = bool(remove_diagonal)

    def _align(self, y_true, y_pred):
        return y_true, y_pred

    def _per_sample(self, y, p):
        return circle_values(y, p, remove_diagonal=self.remove_diagonal, gamma=self.gamma,
                             margin=self.margin)

    def forward(self, y_true, y_pred, sample_weight=None, mask=None):
        # Keras masks the zero losses (backend.set_keras_mask(loss, loss > 0)), and-ed with
        # y_pred's own mask, and folds the mask into the sample weights (losses/loss.py
        # apply_mask).
        xp = _xp(y_pred)
        values, _ = self._per_sample(_same_namespace(xp, y_true, y_pred), y_pred)
        keep = values > 0
        if mask is not None:
            keep = keep & xp.reshape(xp.astype(_same_namespace(xp, mask, y_pred), xp.bool),
                                     values.shape)
        mask = xp.astype(keep, values.dtype)
        if self.reduction in ("mean", "sum_over_batch_size"):
            valid = xp.sum(mask)
            total = float(values.shape[0])
            weight = xp.where(valid == 0, xp.zeros_like(valid), total / xp.where(
                valid == 0, xp.ones_like(valid), valid))
            mask = mask * weight
        if sample_weight is not None:
            sw = xp.astype(_same_namespace(xp, sample_weight, y_pred), values.dtype)
            mask = mask * xp.reshape(sw, (-1,))
        return super().forward(y_true, y_pred, sample_weight=mask)

    def get_config(self):
        config = super().get_config()
        config.update({"gamma": self.gamma, "margin": self.margin,
                       "remove_diagonal": self.remove_diagonal})
        return config
