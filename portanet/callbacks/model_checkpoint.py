"""``ModelCheckpoint`` (keras/src/callbacks/model_checkpoint.py): saves through the model's
own ``save`` / ``save_weights``; this module imports nothing of saving."""

import math
import os
import warnings

from ..progbar import print_msg
from ._monitor import _check_save_freq, _MonitorCallback


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or only its weights) after every epoch or every ``save_freq`` batches.

    ``filepath`` is formatted with ``epoch`` (1-based) and the epoch's logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.2f}.portanet"``; a missing key raises KeyError naming it.

    Args:
        filepath: where to save (str or path-like), a format string.
        monitor: the quantity for ``save_best_only``. Default "val_loss".
        verbose: 0 or 1.
        save_best_only: save only when the monitored quantity improves on the best so far
            (or on ``initial_value_threshold``).
        save_weights_only: ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: "auto", "min" or "max".
        save_freq: "epoch" or a number of batches.
        initial_value_threshold: the best value to beat at the start.
    """

    writes_files = True

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, baseline=initial_value_threshold,
                         baseline_name="initial_value_threshold")
        filepath = os.fspath(filepath) if isinstance(filepath, os.PathLike) else filepath
        if not isinstance(filepath, str) or not filepath:
            raise ValueError(f"ModelCheckpoint: filepath={filepath!r}; expected a non-empty path")
        # Keras's rule, checked before training starts (portanet's own format is accepted too).
        if save_weights_only and not filepath.endswith((".weights.h5", ".portanet")):
            raise ValueError("ModelCheckpoint: when using `save_weights_only=True`, the filepath provided must "
                             "end in `.weights.h5` (Keras weights format) or `.portanet`. Received: "
                             f"filepath={filepath}")
        if not save_weights_only and not filepath.endswith((".keras", ".h5", ".portanet")):
            raise ValueError("ModelCheckpoint: the filepath provided must end in `.keras` (Keras model format), "
                             f"`.h5` or `.portanet`. Received: filepath={filepath}")
        self.filepath = filepath
        self._threshold = initial_value_threshold
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = _check_save_freq("ModelCheckpoint", save_freq)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    @property
    def reads_batch_logs(self):
        return self.save_freq != "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        # The direction is needed only to compare (Keras resolves it anyway and so rejects an
        # unknown monitor even when every epoch is saved).
        if self.save_best_only and self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        add = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}; '
                           f"available keys are epoch, batch and {sorted(logs)}") from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        current = float(current)
        # Keras starts from best=None, so its first message reads "improved from None to ...".
        unset = self.best is None or (self._threshold is None and math.isinf(self.best))
        best_str = "None" if unset else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: filepath {filepath!r} is an existing directory; "
                                    "expected a file path")
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")
