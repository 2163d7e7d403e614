"""``ProgbarLogger``: Keras-style progress output (keras/src/callbacks/progbar_logger.py),
and ``format_logs``, the ``name: value - ...`` line it and ``evaluate`` print."""

import sys
import time

from .callback import Callback


def format_logs(logs):
    """``"loss: 0.1234 - accuracy: 0.9000"``: floats with 4 decimals, other values as ``str``.

    Args:
        logs: a mapping of log names to values (a dict or ``LazyLogs``; reading a lazy
            value synchronizes the device).

    Returns:
        The one-line text, in the mapping's order.
    """
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
            from tqdm.auto import tqdm  # function-local: tqdm loads only when a bar is shown
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
