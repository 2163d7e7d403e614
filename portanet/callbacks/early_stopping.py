"""``EarlyStopping`` (keras/src/callbacks/early_stopping.py)."""

from ..progbar import print_msg
from ._monitor import _check_int, _check_number, _MonitorCallback


class EarlyStopping(_MonitorCallback):
    """Stop training when a monitored quantity has stopped improving (Keras semantics).

    At each epoch end (from ``start_from_epoch`` on) the counter ``wait`` goes up by one
    and resets to 0 on an improvement over the best value so far by more than
    ``min_delta`` (and, with ``baseline``, only when the value also beats the baseline);
    training stops once ``wait >= patience`` (never at epoch 0).

    Args:
        monitor: the log key to watch. Default "val_loss".
        min_delta: the smallest change that counts as an improvement. Default 0.
        patience: epochs without improvement before stopping. Default 0.
        verbose: 0 or 1 (print when stopping / restoring).
        mode: "auto" (from the name), "min" or "max".
        baseline: a value the quantity must beat for the patience counter to reset.
        restore_best_weights: at the end of training, set the weights of the best epoch
            (among the monitored epochs; the first monitored epoch's when none improved).
        start_from_epoch: warm-up epochs that are not monitored. Default 0.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = _check_int("EarlyStopping", "patience", patience)
        self.verbose = verbose
        self.baseline = _check_number("EarlyStopping", "baseline", baseline, allow_none=True)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _check_int("EarlyStopping", "start_from_epoch", start_from_epoch)
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        # A reused instance starts afresh (Keras keeps the old best; that stops a second
        # fit at once when the first ended at a better value).
        self.monitor_op = None
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self._monitor_value(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
