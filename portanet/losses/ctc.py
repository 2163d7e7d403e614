"""CTC loss (keras/src/losses/losses.py ``CTC``/``ctc``) over ``pn.ops.ctc_loss``: the
forward-backward recursions in log space and the gradient softmax - occupancy.
"""

import array_api_compat

from ..ops import nn as _nn
from .loss import Loss, _xp


def ctc_values(y_true, y_pred):
    """Per-sequence CTC losses of integer labels (batch, max_label_length), 0 = blank and
    padding, and logits (batch, max_length, num_classes); every sequence uses all steps."""
    xp = _xp(y_pred)
    if y_true.ndim != 2:
        raise ValueError(f"CTC: y_true.shape={tuple(y_true.shape)}; expected (batch_size, max_length) "
                         "integer labels")
    if y_pred.ndim != 3:
        raise ValueError(f"CTC: y_pred.shape={tuple(y_pred.shape)}; expected (batch_size, max_length, "
                         "num_classes) logits")
    labels = y_true if xp.isdtype(y_true.dtype, "integral") else xp.astype(y_true, xp.int64)
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    label_length = xp.sum(xp.astype(labels != 0, xp.int64), axis=-1)
    input_length = xp.full((batch,), steps, dtype=xp.int64, device=array_api_compat.device(y_pred))
    values = _nn._ctc_loss_impl(labels, y_pred, label_length, input_length, mask_index=0)

    def grad(dl):
        return _nn._ctc_loss_vjp(dl, values, labels, y_pred, label_length, input_length,
                                 mask_index=0)[1]
    return values, grad


class CTC(Loss):
    """Connectionist Temporal Classification loss.

    y_true: (batch, max_label_length) integer labels, 0 is the blank and pads the labels;
    y_pred: (batch, max_length, num_classes) logits (not softmaxed).
    """

    # Integer labels that are not class ids of the output (fit checks no shape or range).
    target_kind = "labels"

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _align(self, y_true, y_pred):
        return y_true, y_pred

    def _per_sample(self, y, p):
        return ctc_values(y, p)
