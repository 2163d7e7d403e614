"""SwapEMAWeights (keras/src/callbacks/swap_ema_weights.py): evaluate, predict and save
with the optimizer's exponential moving average of the weights (``use_ema=True``)."""

from .callback import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's moving averages around evaluation and
    prediction, so they run with the averaged weights; training continues on the raw ones.

    Args:
        swap_on_epoch: also swap at the end of each epoch (and back at the start of the
            next), so that callbacks running at epoch end (ModelCheckpoint, after this
            callback in the list) see the averaged weights. After the last epoch the
            averages are kept in the model, as fit's own finalize step would leave them.

    The optimizer (or, for a MultiOptimizer, at least one inner optimizer) must have
    ``use_ema=True``. Note: portanet's fit runs its validation without the test hooks, so
    with ``swap_on_epoch=False`` only ``model.evaluate``/``predict`` (and the epoch-end
    callbacks with ``swap_on_epoch=True``) see the averages.
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_weights_in_model = False

    def _ema_optimizers(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)   # LossScaleOptimizer
        if hasattr(optimizer, "optimizers"):
            ema = [o for o in optimizer.optimizers if getattr(o, "use_ema", False)]
            if not ema:
                raise ValueError("SwapEMAWeights must be used when at least one inner optimizer has "
                                 "`use_ema=True` set; received a MultiOptimizer whose inner optimizers "
                                 "all have `use_ema=False`")
            return ema
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer; "
                             f"received use_ema={getattr(optimizer, 'use_ema', None)}")
        return [optimizer]

    def _swap_variables(self):
        for opt in self._ema_optimizers():
            opt._swap_variables_with_average()

    def _finalize_ema_values(self):
        for opt in self._ema_optimizers():
            opt._set_average_from_variables()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            # fit ends by copying the averages into the weights: after the last epoch the
            # averages must equal the (already swapped-in) weights.
            if epoch == self.params.get("epochs", 0) - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15.1 tests `not self._ema_weights_in_model` here, which never swaps back;
        # portanet swaps back, as on_test_end does.
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
