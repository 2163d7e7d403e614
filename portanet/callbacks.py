"""Callbacks (keras/src/callbacks): the base class with every Keras hook, History, the
progress logger, LambdaCallback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
LearningRateScheduler, CSVLogger and BackupAndRestore (TrainingDiagnostics and
TerminateOnNaN come from ``portanet.diagnostics``). ``logs`` passed to hooks is a lazy
mapping: values are read from the device only when a callback looks at them, so a silent
fit never synchronizes per step.
"""

import csv
import json
import math
import numbers
import os
import shutil
import struct
import sys
import time
import warnings
from collections.abc import Iterable, Mapping


class Callback:
    """Base class: override any hook. ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    # Keras: the train-batch hooks default to the (older) on_batch_* ones.
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Whether a callback reads per-batch logs; the loop skips building them otherwise.
    reads_batch_logs = False
    # Whether the callback writes files (only rank 0 runs these in distributed training).
    writes_files = False


class LazyLogs(Mapping):
    """A read-only mapping whose values are computed (and synchronized) on first access."""

    def __init__(self, producers):
        self._producers = producers
        self._cache = {}

    def __getitem__(self, key):
        if key not in self._cache:
            self._cache[key] = self._producers[key]()
        return self._cache[key]

    def __iter__(self):
        return iter(self._producers)

    def __len__(self):
        return len(self._producers)

    def materialize(self):
        return {k: self[k] for k in self}


class CallbackList:
    """Runs a list of callbacks; fit adds History (and the progress logger) itself."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.reads_batch_logs = any(_wants_batch_logs(cb) for cb in self.callbacks)

    def call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def __iter__(self):
        return iter(self.callbacks)


def _wants_batch_logs(cb):
    """A callback's own ``reads_batch_logs`` when it sets one; otherwise (a user's subclass,
    written for Keras) whether it has a batch-end hook: then it gets logs, as in Keras."""
    if "reads_batch_logs" in vars(cb) or any("reads_batch_logs" in vars(k) for k in type(cb).__mro__
                                             if k is not Callback):
        return bool(cb.reads_batch_logs)
    return any(getattr(type(cb), h, None) is not getattr(Callback, h) or h in vars(cb)
               for h in ("on_train_batch_end", "on_batch_end"))


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is one float per epoch.

    The loss of every iteration (mini-batch) is in ``history.batch_history["loss"]`` when
    fit records it (``record_batch_loss=True``, the default; read back once per epoch), and
    ``history.batch_epoch_ends[i]`` is the number of iterations done by the end of the
    i-th epoch. ``history.plot(path)`` draws both curves (the ``plot`` extra).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.batch_history = {}
        self.batch_epoch_ends = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.batch_epoch_ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        self.batch_epoch_ends.append(len(self.batch_history.get("loss", [])))

    def plot(self, path=None, title=None):
        """Draw loss and metrics against the epoch (training and validation) and the loss
        against the iteration; writes a PNG to ``path`` and returns the matplotlib Figure.
        See ``pn.utils.plot_history``."""
        from .utils.plotting import plot_history
        return plot_history(self, path, title=title)


def format_logs(logs):
    parts = []
    for k in logs:
        v = logs[k]
        if isinstance(v, float):
            parts.append(f"{k}: {v:.4f}")
        else:
            parts.append(f"{k}: {v}")
    return " - ".join(parts)


class ProgbarLogger(Callback):
    """Keras-style progress: verbose=1 a tqdm bar per epoch, verbose=2 one line per epoch.

    The bar redraws at most every ``refresh_seconds``; only then does it read (and so
    synchronize) the running loss and metrics.
    """

    reads_batch_logs = True

    def __init__(self, verbose=1, refresh_seconds=0.2, stream=None):
        super().__init__()
        self.verbose = verbose
        self.refresh_seconds = refresh_seconds
        self.stream = stream
        self._bar = None

    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._last_draw = 0.0
        self._seen = 0
        epochs = self.params.get("epochs", 1)
        print(f"Epoch {epoch + 1}/{epochs}", file=self._out(), flush=True)
        if self.verbose == 1:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.params.get("steps"), file=self._out(), unit="step",
                             bar_format="{n_fmt}/{total_fmt} {bar:20} {elapsed} {rate_inv_fmt}{postfix}",
                             leave=True, mininterval=self.refresh_seconds)

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if logs is not None and now - self._last_draw >= self.refresh_seconds:
            self._last_draw = now
            self._bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        elapsed = time.perf_counter() - self._epoch_start
        steps = self.params.get("steps") or max(self._seen, 1)
        per_step = elapsed / max(steps, 1)
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs), refresh=True)
            self._bar.close()
            self._bar = None
        else:
            unit = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
            line = f"{steps}/{steps} - {elapsed:.0f}s - {unit}"
            if logs:
                line += " - " + format_logs(logs)
            print(line, file=self._out(), flush=True)


class LambdaCallback(Callback):
    """Callback from plain functions: on_epoch_end=lambda epoch, logs: ..., etc."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end,
                     **kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
        if on_train_batch_end is not None or on_train_batch_begin is not None:
            self.reads_batch_logs = True


# --------------------------------------------------------------------------- argument checks
def _check_int(cls, name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{cls}: {name}={value!r}; expected an integer >= {minimum}")
    return value


def _check_number(cls, name, value, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or (
            minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{cls}: {name}={value!r}; expected a number{bound}")
    return float(value)


def _check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        # Keras warns and falls back to "auto"; a typo here silently inverts the rule, so raise.
        raise ValueError(f"{cls}: mode={mode!r}; expected 'auto', 'min' or 'max'")
    return mode


def _check_save_freq(cls, save_freq):
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
        raise ValueError(f"{cls}: save_freq={save_freq!r}; expected 'epoch' or a positive integer "
                         "(a number of batches)")
    return save_freq


# Names of quantities that improve upwards / downwards, for mode="auto" when the metric
# object does not say (Keras metrics carry a ``_direction``).
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "cosine_similarity")
_DOWN_WORDS = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence",
               "kld", "poisson", "logcosh", "log_cosh")


def _metric_direction(model, monitor):
    """"up", "down" or None for the monitored log key (``val_`` prefix ignored)."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "down"
    compiled = getattr(model, "_compiled_outputs", None) or {}
    for entry in compiled.get("metrics") or []:
        key, metric = entry[1], entry[2]
        if name in (key, getattr(metric, "name", None)) and getattr(metric, "_direction", None) in ("up", "down"):
            return metric._direction
    lowered = name.lower()
    if any(w in lowered for w in _UP_WORDS):
        return "up"
    if any(w in lowered for w in _DOWN_WORDS):
        return "down"
    return None


class _MonitorCallback(Callback):
    """Shared by EarlyStopping, ModelCheckpoint: which way is better, and by how much
    (keras/src/callbacks/monitor_callback.py)."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0,
                 baseline_name="baseline"):
        super().__init__()
        cls = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{cls}: monitor={monitor!r}; expected the name of a logged quantity "
                             "such as 'val_loss' or 'accuracy'")
        self.monitor = monitor
        self.mode = _check_mode(cls, mode)
        self.best = _check_number(cls, baseline_name, baseline, allow_none=True)
        self.min_delta = abs(_check_number(cls, "min_delta", min_delta))
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            direction = _metric_direction(self.model, self.monitor)
            if direction is None:
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor!r}, but "
                                 "cannot tell whether that quantity should be maximized or minimized; "
                                 "pass mode='max' or mode='min'")
        self._lower_is_better = direction == "down"
        self.monitor_op = _less if self._lower_is_better else _greater
        if self.best is None:
            self.best = math.inf if self._lower_is_better else -math.inf

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        delta = -self.min_delta if self._lower_is_better else self.min_delta
        return self.monitor_op(value - delta, reference)

    def _monitor_value(self, logs, what):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs or {}))}", stacklevel=3)
            return None
        return float(value)


def _less(a, b):
    return a < b


def _greater(a, b):
    return a > b


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
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


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
        self.filepath = filepath
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
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        current = float(current)
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
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
        _start_recording_lr(self)

    def on_train_end(self, logs=None):
        _stop_recording_lr(self)

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(logs, dict):
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
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
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


def _float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def _start_recording_lr(cb):
    # fit adds the optimizer's learning rate to every epoch's logs while ``_record_lr`` is
    # truthy; a set of the callbacks asking keeps two such callbacks from undoing each other.
    owners = getattr(cb.model, "_record_lr", False)
    if not isinstance(owners, set):
        owners = {"user"} if owners else set()
    owners.add(id(cb))
    cb.model._record_lr = owners


def _stop_recording_lr(cb):
    owners = getattr(cb.model, "_record_lr", False)
    if isinstance(owners, set):
        owners.discard(id(cb))


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

    def on_train_begin(self, logs=None):
        _start_recording_lr(self)

    def on_train_end(self, logs=None):
        _stop_recording_lr(self)

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
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(logs, dict):
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: a header ``epoch,<sorted keys>`` then one row
    per epoch (``NA`` for a key an epoch lacks).

    Args:
        filename: the CSV path. separator: the field delimiter, default ",".
        append: add to an existing file (without repeating a header) instead of overwriting.
    """

    writes_files = True

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        filename = os.fspath(filename) if isinstance(filename, os.PathLike) else filename
        if not isinstance(filename, str) or not filename:
            raise ValueError(f"CSVLogger: filename={filename!r}; expected a non-empty path")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator={separator!r}; expected a one-character string")
        self.filename, self.sep, self.append = filename, separator, bool(append)
        self.csv_file = None
        self.writer = None
        self.keys = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})

        def handle_value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, Iterable):
                return f"\"[{', '.join(map(str, v))}]\""
            return v

        if self.keys is None:
            self.keys = sorted(logs.keys())
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect,
                                         extrasaction="ignore")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, handle_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class BackupAndRestore(Callback):
    """Make an interrupted ``fit`` resumable: back up the training state to ``backup_dir``
    and, when a later ``fit`` starts with a backup present, restore it and continue.

    Each backup holds the model (weights and optimizer state, through ``pn.saving``), the
    number of finished epochs and the host random stream (so shuffles and dropout masks
    after a resume are those of an uninterrupted run; on the numpy and array_api_strict
    backends the resumed run is bit-identical). A backup is written atomically: the model
    goes to a new file, then ``training_metadata.json`` is replaced in one rename to point
    at it, then the previous file is removed; a crash at any point leaves a complete backup.
    List it after callbacks that change the training state at epoch end (ReduceLROnPlateau),
    so that each backup holds the state after their change.

    Args:
        backup_dir: a directory for the backup (created when needed).
        save_freq: "epoch", or a number of batches (as Keras, a resume then restarts the
            interrupted epoch from the weights of the last backup).
        delete_checkpoint: remove the backup when training ends normally. Default True.
    """

    writes_files = True
    _METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        backup_dir = os.fspath(backup_dir) if isinstance(backup_dir, os.PathLike) else backup_dir
        if not isinstance(backup_dir, str) or not backup_dir:
            raise ValueError(f"BackupAndRestore: backup_dir={backup_dir!r}; expected a non-empty directory path")
        self.backup_dir = backup_dir
        self.save_freq = _check_save_freq("BackupAndRestore", save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._saves = 0

    @property
    def reads_batch_logs(self):
        return self.save_freq != "epoch"

    @property
    def _metadata_path(self):
        return os.path.join(self.backup_dir, self._METADATA)

    def _read_metadata(self):
        if not os.path.exists(self._metadata_path):
            return None
        with open(self._metadata_path, "r") as f:
            return json.load(f)

    def on_train_begin(self, logs=None):
        meta = self._read_metadata()
        self._current_epoch = 0
        if meta is None:
            return
        from . import saving
        path = os.path.join(self.backup_dir, meta["checkpoint"])
        restore = getattr(saving, "restore_training_state", None)
        if restore is not None:
            restore(self.model, path)
        else:
            loaded = saving.load_model(path)
            self.model.set_weights(loaded.get_weights())
            if getattr(loaded, "optimizer", None) is not None and self.model.optimizer is not None:
                self.model.optimizer.set_state(loaded.optimizer.get_state(), self.model.trainable_weights)
        opt = self.model.optimizer
        if meta.get("learning_rate") is not None and opt is not None and not callable(opt._learning_rate):
            # A rate changed during training (ReduceLROnPlateau...) is state too, as in Keras
            # where the rate is an optimizer variable saved with the weights.
            opt.learning_rate = meta["learning_rate"]
        rng = getattr(self.model.backend, "_rng", None)
        if meta.get("rng_state") is not None and hasattr(rng, "bit_generator"):
            rng.bit_generator.state = meta["rng_state"]
        self._current_epoch = int(meta["epoch"])
        self._saves = int(meta.get("saves", 0))
        self.model._initial_epoch = self._current_epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        add = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save()

    def _save(self):
        from . import saving
        os.makedirs(self.backup_dir, exist_ok=True)
        previous = self._read_metadata()
        self._saves += 1
        name = f"checkpoint-{self._saves}{_CHECKPOINT_SUFFIX}"
        saving.save_model(self.model, os.path.join(self.backup_dir, name))
        rng = getattr(self.model.backend, "_rng", None)
        opt = self.model.optimizer
        lr = None if opt is None or callable(opt._learning_rate) else float(opt._learning_rate)
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "checkpoint": name,
                "saves": self._saves, "learning_rate": lr,
                "rng_state": rng.bit_generator.state if hasattr(rng, "bit_generator") else None}
        tmp = self._metadata_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._metadata_path)
        if previous is not None and previous.get("checkpoint") != name:
            _remove_path(os.path.join(self.backup_dir, previous["checkpoint"]))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        meta = self._read_metadata()
        if meta is not None:
            _remove_path(os.path.join(self.backup_dir, meta["checkpoint"]))
            _remove_path(self._metadata_path)
        try:
            os.rmdir(self.backup_dir)   # only when empty: never delete files we did not write
        except OSError:
            pass


# What saving.save_model writes for the backup (the saving module picks the format).
_CHECKPOINT_SUFFIX = ".portanet"


def _remove_path(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


# Diagnostics live in their own module (the lecture's lessons); exported here by Keras name.
from .diagnostics import *  # noqa: E402,F401,F403
