"""``ProgbarLogger`` (keras/src/callbacks/progbar_logger.py): the progress output of ``fit``,
``evaluate`` and ``predict``, drawn with ``portanet.progbar.Progbar``; and ``format_logs``, the
``name: value - ...`` text of a logs mapping."""

from ..progbar import Progbar, print_msg
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
    """Prints ``Epoch i/N`` (when N > 1) and a progress bar per epoch, as Keras 3.

    At verbose 1 a bar redrawn as the steps go,
    ``32/32 ━━━━━━━━━━━━━━━━━━━━ 1s 18ms/step - accuracy: 0.9012 - loss: 0.3050``; at verbose 2
    one line per epoch, ``32/32 - 1s - 18ms/step - accuracy: 0.9012 - loss: 0.3050``. Inside
    ``fit`` validation is silent; ``evaluate`` and ``predict`` draw their own bar. The verbosity,
    the number of epochs and of steps come from ``params`` (``verbose`` "auto" means 1).

    The bar reads (and so synchronizes) the running loss and metrics only when it redraws,
    at most every 0.05 s.

    Args:
        verbose: used when ``params`` has no ``verbose`` (a logger run outside ``fit``).
    """

    _accepts_lazy_logs = True  # CallbackList may hand it LazyLogs at batch ends

    def __init__(self, verbose=1):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = 1
        self._called_in_fit = False

    @property
    def reads_batch_logs(self):
        return self.verbose == 1

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", self.verbose)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1) or 1
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # inside fit, validation is silent

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # Keras: predictions are not shown

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step",
                                   stateless_metrics=set())

    def _update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1  # one-indexed
        if self.verbose == 1:
            values = None
            if logs and self.progbar.will_draw(self.seen):
                values = [(k, _to_float(logs[k])) for k in sorted(logs)]
            self.progbar.update(self.seen, values, finalize=False)

    def _finalize_progbar(self, logs):
        logs = logs or {}
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        # Keras's order: the logs as given (fit's are sorted by name, then val_*, then what
        # callbacks added, such as ReduceLROnPlateau's learning_rate).
        self.progbar.update(self.target, [(k, _to_float(v)) for k, v in logs.items()],
                            finalize=True)


def _to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
