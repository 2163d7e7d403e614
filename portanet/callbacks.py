"""Callbacks (keras/src/callbacks): the base class with every Keras hook, History and the
progress logger. ``logs`` passed to hooks is a lazy mapping: values are read from the
device only when a callback looks at them, so a silent fit never synchronizes per step.
"""

import sys
import time
from collections.abc import Mapping


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
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
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
        self.reads_batch_logs = any(cb.reads_batch_logs for cb in self.callbacks)

    def call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is one float per epoch.

    ``history.history["batch_loss"]`` is not kept here; per-iteration curves are in
    ``history.batch_history`` when fit records them.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.batch_history = {}

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _format_logs(logs):
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
            self._bar.set_postfix_str(_format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        elapsed = time.perf_counter() - self._epoch_start
        steps = self.params.get("steps") or max(self._seen, 1)
        per_step = elapsed / max(steps, 1)
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs), refresh=True)
            self._bar.close()
            self._bar = None
        else:
            unit = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
            line = f"{steps}/{steps} - {elapsed:.0f}s - {unit}"
            if logs:
                line += " - " + _format_logs(logs)
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


# Diagnostics live in their own module (the lecture's lessons); exported here by Keras name.
from .diagnostics import *  # noqa: E402,F401,F403
