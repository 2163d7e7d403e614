"""``ReduceLROnPlateau`` (keras/src/callbacks/reduce_lr_on_plateau.py)."""

import math
import struct
import warnings

from ..progbar import print_msg
from ._monitor import _check_int, _check_mode, _check_number
from .callback import Callback


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a quantity stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta`` the rate
    becomes ``max(lr·factor, min_lr)`` (only while lr > min_lr), then ``cooldown`` epochs
    pass before counting again. ``learning_rate`` is recorded in the logs and History.

    Args:
        monitor: default "val_loss". factor: default 0.1, in (0, 1). patience: 10.
        verbose: 0 or 1. mode: "auto" ("max" when the name contains "acc", else "min"),
        "min" or "max". min_delta: 1e-4. cooldown: 0. min_lr: 0.0.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        cls = "ReduceLROnPlateau"
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {sorted(kwargs)}")
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{cls}: monitor={monitor!r}; expected the name of a logged quantity")
        factor = _check_number(cls, "factor", factor)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"{cls}: factor={factor!r}; expected a float in (0, 1) (the rate is "
                             "multiplied by it)")
        self.monitor = monitor
        self.factor = factor
        self.patience = _check_int(cls, "patience", patience)
        self.verbose = verbose
        self.mode = _check_mode(cls, mode)
        self.min_delta = _check_number(cls, "min_delta", min_delta, minimum=0.0)
        self.cooldown = _check_int(cls, "cooldown", cooldown)
        self.min_lr = _check_number(cls, "min_lr", min_lr, minimum=0.0)
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(logs, dict):
            # Keras reads its float32 variable: 1e-3 logs as 0.0010000000474974513.
            logs["learning_rate"] = _float32(float(self.model.optimizer.learning_rate))
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which "
                          f"is not available. Available metrics are: {','.join(list(logs or {}))}.",
                          stacklevel=2)
            return
        current = float(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                # Keras compares in float32, so a rate already at min_lr is left alone.
                if _float32(old_lr) > _float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


def _float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]
