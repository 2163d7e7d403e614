"""``LearningRateScheduler`` (keras/src/callbacks/learning_rate_scheduler.py)."""

import numbers
import struct

from ..progbar import print_msg
from .callback import Callback


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (``schedule(epoch)`` is accepted too); ``learning_rate`` is recorded in History.

    Args:
        schedule: a function (epoch index from 0, current rate as a float) -> new rate.
        verbose: 0 or 1.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule={schedule!r}; expected a function "
                            "schedule(epoch, lr) -> float")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # the one-argument form schedule(epoch)
            new_lr = self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real):
            try:
                new_lr = float(new_lr)   # a 0-d array
            except (TypeError, ValueError):
                raise ValueError(f"The output of the `schedule` function should be a float. Got: {new_lr!r}") from None
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(logs, dict):
            # Keras reads its float32 variable: 1e-3 logs as 0.0010000000474974513.
            lr = float(self.model.optimizer.learning_rate)
            logs["learning_rate"] = struct.unpack("f", struct.pack("f", lr))[0]
