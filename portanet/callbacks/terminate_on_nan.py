"""``TerminateOnNaN`` (keras/src/callbacks/terminate_on_nan.py), which also names the layer
that first produced a non-finite value."""

import math

from ..progbar import print_msg
from ._layer_probe import _capture_outputs, _leaf_layers
from .callback import Callback


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or Inf, and says where it came from.

    As Keras, it checks the loss after every batch (one device read per step, the price of
    catching the first bad batch). On a non-finite loss it re-runs that batch, layer by
    layer, with the weights the step started from, and reports the first layer whose output
    was not finite (in ``self.report`` and ``self.layer_name``; None when every layer's
    output was finite and the loss itself overflowed).
    """

    # The loss comes from the step itself (the step hook), not from the running logs.
    reads_batch_logs = False

    def __init__(self):
        super().__init__()
        self.report = None
        self.layer_name = None
        self._pending = None

    def on_train_begin(self, logs=None):
        self.report = None
        self.layer_name = None
        self._epoch = 0
        self.model.add_train_step_hook(self._hook)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_end(self, logs=None):
        self.model.remove_train_step_hook(self._hook)

    def _hook(self, xs, ys, sws, n):
        model = self.model
        before = [(v, v.value) for v in model.weights]
        total = yield
        if total is None:
            return
        loss = model.backend.to_float(total)
        if not math.isfinite(loss):
            self._pending = (loss, xs, before)

    def on_train_batch_end(self, batch, logs=None):
        if self._pending is None:
            return
        loss, xs, before = self._pending
        self._pending = None
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.report = self._locate(batch, loss, xs, before)
        print_msg(self.report)
        self.model.stop_training = True

    def _locate(self, batch, loss, xs, before):
        model = self.model
        xp = model.backend.xp
        current = [(v, v.value) for v, _ in before]
        # Weights replaced by the step still have their old arrays; in-place ones cannot be undone.
        restored = all(old is not v.value for v, old in before if v.trainable)
        for v, old in before:
            v.value = old
        try:
            layers = _leaf_layers(model)
            records, _ = _capture_outputs(model, layers, xs, training=False)
            flags = []
            for layer, inp, y in records:
                ins = inp if isinstance(inp, (list, tuple)) else [inp]
                outs = y if isinstance(y, (list, tuple)) else [y]
                flags.append(xp.all(xp.stack([xp.all(xp.isfinite(a)) for a in outs])))
                flags.append(xp.all(xp.stack([xp.all(xp.isfinite(a)) for a in ins
                                              if hasattr(a, "dtype") and xp.isdtype(a.dtype, "real floating")]
                                             or [xp.asarray(True)])))
                weights = [v.value for v in layer.weights]
                flags.append(xp.all(xp.stack([xp.all(xp.isfinite(w)) for w in weights]))
                             if weights else xp.asarray(True))
            ok = model.backend.to_numpy(xp.stack(flags)).tolist() if flags else []
        finally:
            for v, value in current:
                v.value = value
        when = f"Epoch {self._epoch + 1}, batch {batch}: the loss is {loss}."
        which = ("with the weights this step started from" if restored
                 else "with the current weights (the optimizer updated them in place)")
        for k, (layer, _, _) in enumerate(records):
            out_ok, in_ok, w_ok = ok[3 * k:3 * k + 3]
            if not out_ok:
                self.layer_name = layer.name
                cause = ("its weights are already non-finite" if not w_ok else
                         "its input was not finite" if not in_ok else
                         "its input and weights were finite, so the values overflowed in this layer")
                return (f"TerminateOnNaN: {when} Re-running the batch layer by layer {which}: layer "
                        f"{layer.name!r} ({type(layer).__name__}) is the first to produce a non-finite "
                        f"value; {cause}. The weights grew too large: lower the learning rate, clip the "
                        "gradients (clipnorm=1.0) and standardize the inputs.")
        return (f"TerminateOnNaN: {when} Re-running the batch layer by layer {which}, every layer's "
                "output is finite: the loss itself overflowed (e.g. the log of a probability of 0 or "
                "an enormous error). Check the targets, lower the learning rate or clip the gradients.")
